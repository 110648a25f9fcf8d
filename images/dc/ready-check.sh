#!/bin/sh
# The DC is ready when it answers SMB.
exec smbclient -N -L 127.0.0.1
