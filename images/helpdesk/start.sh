#!/bin/sh
# At the node's first start, in one RT load (initialdata.pl): the grader's own
# account (a password only root on this node can read), the candidate's
# technician accounts, the queues, and the administrator's (root's) password
# when the scenario gives one; then, once RT answers, the scenario's opening requests.
# A restart (or a platform restored from a snapshot) keeps what was done since.
set -eu
state=/var/lib/plateau/helpdesk
mkdir -p "$state" && chmod 0700 "$state"
[ -f "$state/seeded" ] && exit 0
[ -f "$state/grader" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$state/grader")
PLATEAU_GRADER_SECRET=$(cat "$state/grader") rt-setup-database-5 --action insert --skip-create \
  --datafile /etc/plateau/helpdesk/initialdata.pl >"$state/seed.log" 2>&1 \
  || { echo "helpdesk: seeding failed, see $state/seed.log" >&2; tail -5 "$state/seed.log" >&2; exit 1; }
# The loader logs a refused value and goes on (exit 0): its log says.
if grep -E '\[(error|critical)\]' "$state/seed.log" >&2; then
  echo "helpdesk: seeding failed, see $state/seed.log" >&2; exit 1
fi
touch "$state/seeded"
# The opening requests go through the API as the users who make them, once RT runs.
if [ -n "${PLATEAU_HELPDESK_TICKETS:-}" ]; then
  printf '%s\n' "$PLATEAU_HELPDESK_TICKETS" > "$state/opening-requests"
  ( until /etc/plateau/ready-check; do sleep 1; done
    plateau-request --file "$state/opening-requests" >>"$state/seed.log" 2>&1 ) &
fi
