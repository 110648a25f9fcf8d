#!/bin/sh
# Ready when RT answers its own login page.
exec curl -sf -o /dev/null --max-time 2 http://127.0.0.1/
