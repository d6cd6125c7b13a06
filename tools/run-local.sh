#!/usr/bin/env bash
# `make run`: a local 3-node quorum on 127.0.0.1 under ./var/, with demo projects.
# First screen: waits for an elected leader and for every engine, adds the demo projects,
# waits until each has an owner, then shows status, engines and projects and what to try.
# Stays up until Ctrl-C, then stops every node it started (by PID) and says where things are.
# RUN_EXIT_WHEN_READY=1 stops after the first screen (tools/fresh-machine-check.sh uses it).
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
CTL="$BIN/raftctl --timeout 1000"
export RAFTCTL_ENDPOINTS=127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203
DEMO_PROJECTS=(sales_cube marketing finance_daily iot_events supply_chain web_logs)
mkdir -p var
pids=()
stop_all() {
  local rc=${1:-0}
  trap - INT TERM
  echo
  echo "stopping nodes: ${pids[*]}"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  echo "data:  $(pwd)/var/node1 var/node2 var/node3 (delete var/ to start from scratch)"
  echo "logs:  $(pwd)/var/node1.log var/node2.log var/node3.log"
  exit "$rc"
}
trap 'stop_all 0' INT TERM
check_nodes() {
  local p
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "raftnode pid $p exited; its log:"; tail -5 var/node*.log; stop_all 1; }
  done
}
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    check_nodes
    sleep 0.2
  done
  echo "no $what after $secs s; see var/node*.log"
  stop_all 1
}
has_leader()    { $CTL -w json status 2>/dev/null | grep -q '"leader_id":[0-9]'; }
engines_alive() { [ "$($CTL -w json engine list 2>/dev/null | grep -o '"alive":true' | wc -l)" -ge 3 ]; }
all_placed() {
  local out
  out=$($CTL -w json project list 2>/dev/null) || return 1
  [ -n "$out" ] && ! grep -q '"owner":null' <<<"$out"
}
add_projects() {
  local p out
  for p in "${DEMO_PROJECTS[@]}"; do
    out=$($CTL project add "$p" 2>&1) && continue
    grep -qi 'exists' <<<"$out" || return 1 # a restart over var/ keeps them
  done
}

for i in 1 2 3; do
  "$BIN/raftnode" -c "conf/local-$i.properties" >>"var/node$i.log" 2>&1 &
  pids+=($!)
done
echo "started raftnode 1 2 3 (pids ${pids[*]}); logs in var/node{1,2,3}.log"
wait_for 30 "elected leader" has_leader
wait_for 30 "heartbeats from all 3 engines" engines_alive
wait_for 30 "demo projects (raftctl project add failed)" add_projects
wait_for 30 "owner for every demo project" all_placed

echo
echo "== raftctl status"; $CTL status
echo
echo "== raftctl engine list"; $CTL engine list
echo
echo "== raftctl project list"; $CTL project list
victim=$($CTL -w json status | grep -o '"leader_id":[0-9]*' | grep -o '[0-9]*$')
echo
echo "Plaintext on 127.0.0.1 only (a local demo): no TLS on the raft or API ports, so any local"
echo "process may change anything; see docs/security.md for raft.peer.* and raft.api.* TLS."
echo "Things to try, in another shell:"
try() { printf '  %-52s # %s\n' "$1" "$2"; }
try "export RAFTCTL_ENDPOINTS=$RAFTCTL_ENDPOINTS" "then raftctl needs no --endpoints"
try "kill ${pids[$((victim - 1))]}" "stop member $victim (the leader) and its engine"
try "watch -n 1 $BIN/raftctl project list" "its projects move within ~3 s (heart-beat-timeout)"
try "$BIN/raftnode -c conf/local-$victim.properties >>var/node$victim.log 2>&1 &" "bring it back"
try "$BIN/raftctl rebalance --dry-run" "the fewest moves that even the load"
try "$BIN/raftctl project move sales_cube 3" "hand a project over now"
try "$BIN/raftctl history --project sales_cube" "every ownership change, with its epoch"
try "$BIN/raftctl audit" "every admin write, with who made it"
try "$BIN/raftctl drain 2; $BIN/raftctl undrain 2" "empty an engine for maintenance"
try "curl -s 127.0.0.1:7281/metrics | grep ^raftnode_" "Prometheus metrics (ports 7281-7283)"
try "curl -s 127.0.0.1:7282/v1/projects/sales_cube" "a project's owner as JSON; /ready, /health"
echo "Ctrl-C stops the quorum."
[ "${RUN_EXIT_WHEN_READY:-0}" = 1 ] && stop_all 0
declare -A gone=()
while :; do
  for p in "${pids[@]}"; do
    if [ -z "${gone[$p]:-}" ] && ! kill -0 "$p" 2>/dev/null; then
      gone[$p]=1; echo "note: raftnode pid $p is no longer running"
    fi
  done
  sleep 1
done
