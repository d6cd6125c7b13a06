#!/usr/bin/env bash
# bench/rebalance_turn.sh BIN N — how long a rebalance plan holds the members' event loops (by
# hand, not part of `make bench`): a fresh 3-member cluster (bench/cluster3.sh, /metrics on),
# N projects added by 64 clients and placed, engine 3 drained and undrained (so that a plan
# has moves), then `raftctl rebalance --dry-run` three times. For each: how long raftctl
# waited, and per member the highest bucket of raftnode_loop_busy_seconds that gained turns
# while it ran (index into the bucket bounds printed first: 4 = a turn of 10-20 ms).
# Every member started is stopped by PID; the data directory is removed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:?usage: rebalance_turn.sh BIN N}; N=${2:?usage: rebalance_turn.sh BIN N}
. "$ROOT/bench/cluster3.sh"
d=$(mktemp -d /tmp/rebalance_turn.XXXXXX)
H=(0 $(cluster3_free_ports 3)) # /metrics ports, H[1..3]
P=()
trap 'cluster3_kill "${P[@]}"; rm -rf "$d"' EXIT
# cluster3_start writes the configs; the members are started again with /metrics on
cluster3_start "$BIN" "$d" ""
cluster3_kill "${C3_PIDS[@]}"; rm -rf "$d/n1" "$d/n2" "$d/n3"
for i in 1 2 3; do
    echo "raft.http.address=127.0.0.1:${H[$i]}" >>"$d/n$i.properties"
    "$BIN" -c "$d/n$i.properties" >"$d/n$i.log" 2>&1 &
    P+=($!)
done
CTL="$ROOT/build/bin/raftctl --endpoints $C3_EPS"
"$ROOT/build/bench/loadgen" --mode ready --endpoints "$C3_EPS" --deadline-s 30 --quiet >/dev/null 2>&1
"$ROOT/build/bench/loadgen" --mode throughput --endpoints "$C3_EPS" --clients 64 --requests $N --deadline-s 600 --prefix q --label load --quiet >/dev/null 2>&1
for _ in $(seq 1 200); do u=$($CTL -w json project list 2>/dev/null | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); ps=d if isinstance(d,list) else d.get("projects",d); print(sum(1 for p in ps if not p.get("owner")))' 2>/dev/null); [ "$u" = 0 ] && break; sleep 0.5; done
$CTL drain 3 >/dev/null; $CTL undrain 3 >/dev/null
sleep 1 # the undrain applied everywhere before the first measurement (a settle interval)
busy() { for i in 1 2 3; do curl -s 127.0.0.1:${H[$i]}/metrics | awk '/^raftnode_loop_busy_seconds_bucket/{printf "%s ", $2}'; echo -n "| "; done; }
hist() { /usr/bin/python3 -c '
import sys
b, a = sys.argv[1].split("|"), sys.argv[2].split("|")
out = []
for x, y in zip(b, a):
    xs, ys = x.split(), y.split()
    if not xs: continue
    d = [int(float(j)) - int(float(i)) for i, j in zip(xs, ys)]
    # cumulative buckets: new turns per bucket = diff of diffs
    per = [d[0]] + [d[k] - d[k-1] for k in range(1, len(d))]
    hi = max([k for k, v in enumerate(per) if v > 0], default=-1)
    out.append(str(hi))
print(" ".join(out))' "$1" "$2"; }
BOUNDS=$(curl -s 127.0.0.1:${H[1]}/metrics | grep -o 'raftnode_loop_busy_seconds_bucket{le="[^"]*"' | sed 's/.*le="//; s/"//' | tr '\n' ' ')
echo "bucket bounds (s): $BOUNDS"
for r in 1 2 3; do
  b=$(busy); t0=$(date +%s%N); $CTL rebalance --dry-run > /dev/null; t1=$(date +%s%N); a=$(busy)
  echo "round $r: raftctl $(( (t1 - t0) / 1000000 )) ms; highest loop-turn bucket (index) that gained turns, per member: $(hist "$b" "$a")"
done
