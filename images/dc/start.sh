#!/bin/sh
# At start: a different realm re-provisions; then the domain's start-time
# edits (admin password, staff accounts, sysvol ACLs: see accounts.py).
set -eu
realm=${PLATEAU_REALM:-$(cat /etc/plateau/realm)}
if [ "$realm" != "$(cat /etc/plateau/realm)" ]; then
  PLATEAU_KEEP_DNS=1 plateau-dc-provision "$realm" "${PLATEAU_DOMAIN:-${realm%%.*}}" "${PLATEAU_ADMIN_PASSWORD:-Plateau-Admin1}"
  # Provisioning set it: a restart must not set it again.
  mkdir -p /var/lib/plateau && touch /var/lib/plateau/admin-password-set
fi
plateau-dc-accounts
# A DC resolves through its own DNS (samba registers its addresses there at
# start, and checks them through resolv.conf). The engine bind-mounts the
# file: write it in place.
printf 'search %s\nnameserver 127.0.0.1\n' "$(echo "$realm" | tr 'A-Z' 'a-z')" > /etc/resolv.conf
