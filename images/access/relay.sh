#!/bin/sh
# Relay port 2222 to $PLATEAU_TARGET (host:port), one connection per client.
set -eu
exec socat TCP-LISTEN:2222,fork,reuseaddr "TCP:${PLATEAU_TARGET:?PLATEAU_TARGET=host:port}"
