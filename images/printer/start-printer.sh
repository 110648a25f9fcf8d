#!/bin/sh
# The network printer: an IPP Everywhere printer that keeps every job it
# receives in /var/spool/plateau-printer, so a check can see that a job arrived.
for _ in $(seq 1 50); do
  [ -S /run/avahi-daemon/socket ] && break
  sleep 0.1
done
exec /usr/sbin/ippeveprinter -k -d /var/spool/plateau-printer -p 631 \
  -f application/pdf,image/pwg-raster,text/plain \
  -l "Agence" -m "Plateau IPP Everywhere" Imprimante
