#!/bin/sh
# Interfaces the scenario puts on DHCP come up with a parking address from the
# engine (listed in PLATEAU_DHCP_ADDRESSES). Drop it and ask the candidate's own
# DHCP server; dhclient keeps asking in the background until one answers.
for parked in ${PLATEAU_DHCP_ADDRESSES:-}; do
  iface=$(ip -o -4 addr show | awk -v a="$parked" 'index($4, a "/") == 1 { print $2; exit }')
  [ -n "$iface" ] || continue
  ip -4 addr flush dev "$iface"
  dhclient -nw "$iface"
done
