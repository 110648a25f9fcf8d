#!/bin/sh
# plateau-dc-provision REALM DOMAIN ADMIN_PASSWORD
# Provision a fresh Samba AD domain. xattr_tdb keeps NT ACLs in a database, so
# no CAP_SYS_ADMIN is needed (the engine may refuse it). One worker per service
# (prefork children = 1): a lab domain serves one candidate, and a room boots
# sixteen DCs at once.
set -eu
realm=$1 domain=$2 password=$3
rm -rf /etc/samba/smb.conf /var/lib/samba/private/* /var/lib/samba/sysvol/* /var/lib/samba/*.tdb /var/lib/samba/*.ldb
samba-tool domain provision --realm="$realm" --domain="$domain" --server-role=dc \
  --dns-backend=SAMBA_INTERNAL --adminpass="$password" --use-rfc2307 --host-name=dc \
  --option="vfs objects = dfs_samba4 acl_xattr xattr_tdb" \
  --option="netbios name = DC" --option="dns forwarder = 203.0.113.10" \
  --option="prefork children = 1" >/var/log/plateau-provision.log 2>&1
lower=$(echo "$realm" | tr 'A-Z' 'a-z')
cat > /etc/krb5.conf <<KRB
[libdefaults]
  default_realm = $realm
  dns_lookup_kdc = false
  dns_lookup_realm = false
[realms]
  $realm = {
    kdc = 127.0.0.1
    admin_server = 127.0.0.1
  }
[domain_realm]
  .$lower = $realm
  $lower = $realm
KRB
echo "$realm" > /etc/plateau/realm

# The provisioning host's addresses were written into DNS; they are stale in
# every container started later (at build time). Remove them: at its next start
# samba adds the addresses it then has (samba_dnsupdate). A provisioning done at
# container start keeps them: they are the container's own.
[ -n "${PLATEAU_KEEP_DNS:-}" ] && exit 0
# (its own DNS updater is off here: it would add them back.)
samba --interactive --debug-stdout --option="dns update command = /bin/true" >/var/log/plateau-provision-dns.log 2>&1 &
samba_pid=$!
for _ in $(seq 1 100); do
  samba-tool dns query 127.0.0.1 "$lower" dc A -U "administrator%$password" >/dev/null 2>&1 && break
  sleep 0.2
done
for ip in $(hostname -I); do
  samba-tool dns delete 127.0.0.1 "$lower" dc A "$ip" -U "administrator%$password" >/dev/null 2>&1 || true
  samba-tool dns delete 127.0.0.1 "$lower" @ A "$ip" -U "administrator%$password" >/dev/null 2>&1 || true
done
kill "$samba_pid"
wait "$samba_pid" 2>/dev/null || true
