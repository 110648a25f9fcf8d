#!/bin/sh
# At start: a different realm re-provisions; a given admin password is set.
set -eu
realm=${PLATEAU_REALM:-$(cat /etc/plateau/realm)}
if [ "$realm" != "$(cat /etc/plateau/realm)" ]; then
  PLATEAU_KEEP_DNS=1 plateau-dc-provision "$realm" "${PLATEAU_DOMAIN:-${realm%%.*}}" "${PLATEAU_ADMIN_PASSWORD:-Plateau-Admin1}"
elif [ -n "${PLATEAU_ADMIN_PASSWORD:-}" ]; then
  samba-tool user setpassword administrator --newpassword="$PLATEAU_ADMIN_PASSWORD" >/dev/null
fi
