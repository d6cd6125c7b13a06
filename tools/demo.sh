#!/usr/bin/env bash
# `make demo`: the quorum and Kylin's metastore side by side. Starts a private PostgreSQL 15
# (var/demo/pg, 127.0.0.1 on a free port) and 3 raftnode members that mirror every decision
# into its kylin_metadata_epoch table (Kylin's own table and format, docs/metastore.md), adds
# projects, and shows the quorum's view next to the table's. Then it kills (-9) the member
# that owns the most projects and shows them move, in the quorum and in the table.
# Ctrl-C stops everything it started (by PID). DEMO_EXIT_WHEN_DONE=1 stops after the show.
# Emulated Kylin nodes claiming their projects themselves come with the Kylin integration
# (docs/kylin.md once it lands); this demo shows the decisions and their mirror.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
PGBIN=/usr/lib/postgresql/15/bin
DIR=$(pwd)/var/demo
PREFIX=kylin_metadata
PROJECTS=(sales_cube marketing finance_daily iot_events supply_chain web_logs ad_clicks churn)
pids=(); pg_started=0

say() { printf '\n== %s\n' "$*"; }
stop_all() {
  local rc=${1:-0} p
  trap - INT TERM EXIT
  echo; echo "stopping raftnode ${pids[*]}"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  if [ "$pg_started" = 1 ]; then
    echo "stopping PostgreSQL"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1
  fi
  echo "logs: $DIR/node{1,2,3}.log $DIR/pg/server.log (delete $DIR to start from scratch)"
  exit "$rc"
}
trap 'stop_all 0' INT TERM
trap 'stop_all 1' EXIT
die() { echo "demo: $*" >&2; stop_all 1; }
# wait_for SECONDS WHAT COMMAND...: polls every 0.2 s.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do "$@" && return 0; sleep 0.2; done
  die "no $what after $secs s (logs in $DIR)"
}
free_port() { # a TCP port nobody listens on, from $1 up
  local p=$1
  while ss -Hltn "sport = :$p" | grep -q .; do p=$((p + 1)); done
  echo "$p"
}

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it starts a private PostgreSQL as user postgres)" >&2; exit 1; }
[ -x "$PGBIN/initdb" ] || { echo "demo: $PGBIN/initdb missing (run make deps)" >&2; exit 1; }
mkdir -p "$DIR/pg"
chown postgres:postgres "$DIR/pg"
pg_port=$(free_port 15432)
if [ ! -d "$DIR/pg/data" ]; then
  runuser -u postgres -- "$PGBIN/initdb" -D "$DIR/pg/data" -U postgres -E UTF8 --auth-local=trust \
    --auth-host=scram-sha-256 --no-sync >"$DIR/pg/initdb.log" 2>&1 || die "initdb failed: $DIR/pg/initdb.log"
  fresh=1
else
  fresh=0
fi
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/server.log" -w -t 60 \
  -o "-p $pg_port -k $DIR/pg -c listen_addresses=127.0.0.1" start >/dev/null || die "PostgreSQL did not start: $DIR/pg/server.log"
pg_started=1
psql_do() { runuser -u postgres -- psql -X -q -h "$DIR/pg" -p "$pg_port" "$@"; }
if [ "$fresh" = 1 ]; then
  psql_do -d postgres -c "CREATE ROLE kylin LOGIN PASSWORD 'kylin'" -c "CREATE DATABASE kylin OWNER kylin" \
    || die "cannot create the kylin database"
fi
echo "PostgreSQL 15 on 127.0.0.1:$pg_port (data $DIR/pg/data), database kylin, table ${PREFIX}_epoch"

api_eps=""
for i in 1 2 3; do
  cat >"$DIR/node$i.properties" <<PROPS
raft.node.id=$i
raft.node.address=127.0.0.1:$((7300 + i))
raft.api.address=127.0.0.1:$((7400 + i))
raft.data-dir=$DIR/node$i
raft.initial-cluster=1=127.0.0.1:7301,2=127.0.0.1:7302,3=127.0.0.1:7303
raft.metastore.url=postgresql://kylin:kylin@127.0.0.1:$pg_port/kylin?prefix=$PREFIX
kylin.server.identity=127.0.0.1:$((7070 + i))
kylin.server.leader-race.heart-beat-interval=1
kylin.server.leader-race.heart-beat-timeout=3
PROPS
  api_eps+="${api_eps:+,}127.0.0.1:$((7400 + i))"
done
export RAFTCTL_ENDPOINTS=$api_eps
CTL="$BIN/raftctl --timeout 1000"
start_member() { "$BIN/raftnode" -c "$DIR/node$1.properties" >>"$DIR/node$1.log" 2>&1 & pids[$(($1 - 1))]=$!; disown $!; }
for i in 1 2 3; do start_member "$i"; done
echo "raftnode members 1 2 3 (pids ${pids[*]}), API $api_eps"

has_leader() { $CTL -w json status 2>/dev/null | grep -q '"leader_id":[0-9]'; }
engines_alive() { [ "$($CTL -w json engine list 2>/dev/null | grep -o '"alive":true' | wc -l)" -ge "$1" ]; }
add_projects() {
  local p out
  for p in "${PROJECTS[@]}"; do
    out=$($CTL project add "$p" 2>&1) || grep -qi exists <<<"$out" || return 1
  done
}
# "name owner_identity epoch" per project: the quorum's view, then the table's.
quorum_rows() {
  $CTL -w json project list 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for p in json.load(sys.stdin):
    print(p["name"], p["owner_identity"] or "-", p["epoch"])' | sort
}
table_rows() {
  psql_do -d kylin -At -F ' ' -c "SELECT epoch_target, COALESCE(NULLIF(current_epoch_owner, ''), '-'), epoch_id
    FROM ${PREFIX}_epoch ORDER BY 1" 2>/dev/null | sort
}
in_step() { local q t; q=$(quorum_rows) && t=$(table_rows) && [ -n "$q" ] && [ "$q" = "$t" ]; }
all_placed() { local q; q=$(quorum_rows) && [ -n "$q" ] && ! grep -q ' - ' <<<"$q"; }
show() {
  local q t
  q=$(quorum_rows); t=$(table_rows)
  printf '%-52s | %s\n' "quorum (raftctl project list)" "PostgreSQL ${PREFIX}_epoch"
  printf '%-52s | %s\n' "PROJECT OWNER_IDENTITY EPOCH" "EPOCH_TARGET CURRENT_EPOCH_OWNER EPOCH_ID"
  paste -d '\n' <(printf '%s\n' "$q") <(printf '%s\n' "$t") | paste - - | while IFS=$'\t' read -r a b; do
    printf '%-52s | %s\n' "$a" "$b"
  done
  if [ "$q" = "$t" ]; then echo "(the table equals the quorum's decisions)"; else echo "(the mirror is catching up)"; fi
}

wait_for 30 "elected leader" has_leader
wait_for 30 "heartbeats from 3 engines" engines_alive 3
wait_for 30 "demo projects" add_projects
wait_for 30 "owner for every project" all_placed
wait_for 30 "mirror in step with the quorum" in_step
say "raftctl engine list"; $CTL engine list
say "the quorum's decisions and Kylin's epoch table"; show

victim=$($CTL -w json engine list | /usr/bin/python3 -c '
import json, sys
print(max(json.load(sys.stdin), key=lambda e: e["projects"])["id"])')
say "kill -9 member $victim (pid ${pids[$((victim - 1))]}): its engine stops heart-beating"
t0=$(date +%s.%N)
kill -KILL "${pids[$((victim - 1))]}"
moved() { local q; q=$(quorum_rows) && [ -n "$q" ] && ! grep -q "127.0.0.1:$((7070 + victim))|" <<<"$q" && ! grep -q ' - ' <<<"$q"; }
wait_for 60 "failover of member $victim's projects" moved
wait_for 30 "mirror in step after the failover" in_step
echo "every project of engine $victim has a new owner, in the quorum and in the table," \
  "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after the kill"
show
say "raftctl history --limit 8"; $CTL history --limit 8

say "restart member $victim"
start_member "$victim"
wait_for 30 "engine $victim back" engines_alive 3
echo "engine $victim is alive again and owns nothing until you run: $BIN/raftctl rebalance"
cat <<TXT

Try, in another shell (as root):
  export RAFTCTL_ENDPOINTS=$api_eps
  $BIN/raftctl rebalance --dry-run; $BIN/raftctl rebalance
  runuser -u postgres -- psql -h $DIR/pg -p $pg_port -d kylin -c 'SELECT * FROM ${PREFIX}_epoch'
Ctrl-C stops the members and PostgreSQL.
TXT
[ "${DEMO_EXIT_WHEN_DONE:-0}" = 1 ] && stop_all 0
while :; do sleep 1; done
