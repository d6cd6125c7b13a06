#!/bin/bash
# bench/placement_backlog.sh BIN [N] — placement throughput (issue 13; by hand, not in make bench):
# a 3-member cluster as in bench/cluster3.sh, N projects (default 20000) added by 64 clients under
# `raftctl maintenance on` (nothing is placed), then `maintenance off`; prints how long until
# `raftctl engine list` counts every project placed (polled every 20 ms, at most ~60 s).
set -u
BIN=$1
N=${2:-20000}
R=$(cd "$(dirname "$0")/.." && pwd)
source "$R/bench/cluster3.sh"
D=$(mktemp -d /tmp/raftnode-placement.XXXXXX)
cluster3_start "$BIN" "$D"
trap 'cluster3_kill "${C3_PIDS[@]}"; rm -rf "$D"' EXIT
"$R/build/bench/loadgen" --endpoints "$C3_EPS" --mode ready --deadline-s 30 >/dev/null 2>&1 ||
    { echo "no leader within 30 s (logs in $D)" >&2; exit 1; }
CTL=("$R/build/bin/raftctl" --endpoints "$C3_EPS")
placed() {
    "${CTL[@]}" -w json engine list 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(e.get("projects", 0) for e in (d if isinstance(d, list) else d.get("engines", []))))'
}
for i in $(seq 1 100); do # every member's engine registered (heartbeat every 1 s)
    [ "$("${CTL[@]}" -w json engine list 2>/dev/null | grep -o '"id"' | wc -l)" -ge 3 ] && break
    sleep 0.1
done
"${CTL[@]}" maintenance on --reason placement-bench >/dev/null || exit 1
"$R/build/bench/loadgen" --endpoints "$C3_EPS" --mode throughput --clients 64 --requests "$N" \
    --prefix placement --quiet >/dev/null 2>&1 || { echo "loadgen failed" >&2; exit 1; }
t0=$(date +%s.%N)
"${CTL[@]}" maintenance off >/dev/null || exit 1
p=0
for i in $(seq 1 3000); do
    p=$(placed)
    [ "${p:-0}" -ge "$N" ] && break
    sleep 0.02
done
t1=$(date +%s.%N)
echo "$BIN: $p of $N projects placed in $(echo "$t1 - $t0" | bc) s"
