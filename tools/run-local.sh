#!/usr/bin/env bash
# `make run`: a local 3-node quorum on 127.0.0.1 under ./var/, with demo projects.
# Stays up until Ctrl-C, then stops every node it started (by PID) and says where things are.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
export RAFTCTL_ENDPOINTS=127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203
mkdir -p var
pids=()
stop_all() {
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
  exit 0
}
trap stop_all INT TERM
for i in 1 2 3; do
  "$BIN/raftnode" -c "conf/local-$i.properties" >>"var/node$i.log" 2>&1 &
  pids+=($!)
done
echo "started raftnode 1 2 3 (pids ${pids[*]}); logs in var/node{1,2,3}.log"
ok=0
for _ in $(seq 1 100); do   # up to 10 s for a leader
  if "$BIN/raftctl" --timeout 500 project list >/dev/null 2>&1 && "$BIN/raftctl" --timeout 1000 status 2>/dev/null | grep -q leader; then ok=1; break; fi
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a node exited; see var/node*.log"; tail -5 var/node*.log; stop_all; }; done
  sleep 0.1
done
[ $ok = 1 ] || { echo "no leader after 10 s; see var/node*.log"; stop_all; }
for p in sales_cube marketing finance_daily iot_events supply_chain; do
  "$BIN/raftctl" project add "$p" >/dev/null 2>&1 || true
done
echo
"$BIN/raftctl" status
echo
"$BIN/raftctl" project list
echo
echo "try: RAFTCTL_ENDPOINTS=$RAFTCTL_ENDPOINTS $BIN/raftctl project add my_project"
echo "Ctrl-C stops the quorum."
while :; do
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "node pid $p exited; see var/"; stop_all; }; done
  sleep 1
done
