#!/bin/sh
# plateau-dc-provision REALM DOMAIN ADMIN_PASSWORD
# Provision a fresh Samba AD domain. xattr_tdb keeps NT ACLs in a database, so
# no CAP_SYS_ADMIN is needed (the engine may refuse it).
set -eu
realm=$1 domain=$2 password=$3
rm -rf /etc/samba/smb.conf /var/lib/samba/private/* /var/lib/samba/sysvol/* /var/lib/samba/*.tdb /var/lib/samba/*.ldb
samba-tool domain provision --realm="$realm" --domain="$domain" --server-role=dc \
  --dns-backend=SAMBA_INTERNAL --adminpass="$password" --use-rfc2307 --host-name=dc \
  --option="vfs objects = dfs_samba4 acl_xattr xattr_tdb" \
  --option="netbios name = DC" --option="dns forwarder = 203.0.113.10" >/var/log/plateau-provision.log 2>&1
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
