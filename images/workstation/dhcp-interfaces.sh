#!/bin/sh
# Interfaces the scenario puts on DHCP come up with a parking address from the
# engine (listed in PLATEAU_DHCP_ADDRESSES). Drop it and ask the candidate's own
# DHCP server; dhclient keeps asking in the background until one answers.
# A node re-created from a snapshot runs its DHCP client only where one ran
# at the deadline (plateau-init does, from its runtime plan).
head -n 1 /var/lib/plateau/snapshot/runtime 2>/dev/null \
  | grep -qx '# Plateau: the node as it stood at the deadline' && exit 0
for parked in ${PLATEAU_DHCP_ADDRESSES:-}; do
  iface=$(ip -o -4 addr show | awk -v a="$parked" 'index($4, a "/") == 1 { print $2; exit }')
  [ -n "$iface" ] || continue
  ip -4 addr flush dev "$iface"
  dhclient -nw "$iface"
done
