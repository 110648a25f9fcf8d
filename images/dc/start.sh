#!/bin/sh
# At start: a different realm re-provisions; a given admin password is set.
set -eu
realm=${PLATEAU_REALM:-$(cat /etc/plateau/realm)}
if [ "$realm" != "$(cat /etc/plateau/realm)" ]; then
  PLATEAU_KEEP_DNS=1 plateau-dc-provision "$realm" "${PLATEAU_DOMAIN:-${realm%%.*}}" "${PLATEAU_ADMIN_PASSWORD:-Plateau-Admin1}"
elif [ -n "${PLATEAU_ADMIN_PASSWORD:-}" ] && [ ! -f /var/lib/plateau/admin-password-set ]; then
  # Once: a restart must not set it again (the domain's password history would refuse it).
  samba-tool user setpassword administrator --newpassword="$PLATEAU_ADMIN_PASSWORD" >/dev/null
  mkdir -p /var/lib/plateau && touch /var/lib/plateau/admin-password-set
fi
# The domain as the company runs it: existing staff accounts (`login`, or
# `login!` for a disabled one), created once; a later start (e.g. a platform
# restored from a snapshot) keeps what the candidate did to them.
if [ -n "${PLATEAU_SEED_USERS:-}" ] && [ ! -f /var/lib/plateau/seeded-users ]; then
  for entry in $PLATEAU_SEED_USERS; do
    login=${entry%!}
    samba-tool user create "$login" "${PLATEAU_SEED_PASSWORD:-Plateau-Staff1}" >/dev/null
    [ "$login" = "$entry" ] || samba-tool user disable "$login" >/dev/null
  done
  mkdir -p /var/lib/plateau && touch /var/lib/plateau/seeded-users
fi
# A DC resolves through its own DNS (samba registers its addresses there at
# start, and checks them through resolv.conf). The engine bind-mounts the
# file: write it in place.
printf 'search %s\nnameserver 127.0.0.1\n' "$(echo "$realm" | tr 'A-Z' 'a-z')" > /etc/resolv.conf
# sysvol's NT ACLs live in xattr_tdb, keyed by inode: a new container (or one
# restored from a snapshot) sees other inodes, and domain users would be
# refused netlogon. Set them again at every start (under a second).
samba-tool ntacl sysvolreset >/dev/null 2>&1 || echo "plateau: sysvol ACLs not reset" >&2
