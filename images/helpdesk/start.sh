#!/bin/sh
# At start: the administrator's (root's) password, once, when the scenario
# gives one; a restart (or a platform restored from a snapshot) keeps what
# was done since.
set -eu
if [ -n "${PLATEAU_ADMIN_PASSWORD:-}" ] && [ ! -f /var/lib/plateau/admin-password-set ]; then
  printf '%s\n%s\n' "$PLATEAU_ADMIN_PASSWORD" "$PLATEAU_ADMIN_PASSWORD" | rt-passwd-5 root >/dev/null
  mkdir -p /var/lib/plateau && touch /var/lib/plateau/admin-password-set
fi
