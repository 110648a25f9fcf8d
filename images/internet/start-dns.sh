#!/bin/sh
# Every public-looking name answers with this host's own address, whatever
# subnet the scenario gave the internet network.
self=$(hostname -I | awk '{ print $1 }')
sed "s/@SELF@/$self/g" /etc/plateau/dnsmasq.conf.in > /etc/plateau/dnsmasq.conf
