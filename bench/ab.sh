#!/usr/bin/env bash
# bench/ab.sh — back-to-back comparison of raftnode binaries on the 64-client project.add
# workload of `make bench` (not part of it; run by hand on a release build):
#     bash bench/ab.sh ROUNDS BIN_A [BIN_B ...]
# Each round runs every binary in turn (interleaved, so a noisy neighbour hurts all alike) on
# a fresh 3-member cluster on 127.0.0.1 (same settings as bench/run.sh: heartbeat 100 ms,
# election 1000 ms, data under /tmp): sequential writes (AB_SEQ_N, default 2000), then
# AB_CLIENTS (default 64) closed-loop clients for AB_DUR s (default 10, AB_WARM=2 s excluded),
# with the CPU time the three members used in that window per write (utime + stime from
# /proc: steadier than the rate on a shared machine, where the rate is what CPU is left).
# Prints one line per binary and round, then the median of each figure per binary.
# AB_PERF=S (run as root, perf installed): instead, in each run, `perf record --call-graph
# dwarf` of the three members for S seconds after the warm-up, and the share of CPU samples
# per component (bench/profile_stages.py cpu; the rates of such runs carry perf's overhead).
# AB_PERF_HZ: the sampling rate (default 299 a second).
# Every member started is stopped by PID; the data directories are removed.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=${LOADGEN_BIN:-$ROOT/build/bench/loadgen}
PY=/usr/bin/python3
ROUNDS=${1:?usage: ab.sh ROUNDS BIN_A [BIN_B ...]}
shift
[ $# -ge 1 ] || { echo "ab: no binary given" >&2; exit 2; }
for b in "$@" "$LOADGEN"; do [ -x "$b" ] || { echo "ab: $b is not an executable (make)" >&2; exit 2; }; done
SEQ_N=${AB_SEQ_N:-2000}
CLIENTS=${AB_CLIENTS:-64}
DUR=${AB_DUR:-10}
WARM=${AB_WARM:-2}
WORK=$(mktemp -d /tmp/raftnode-ab.XXXXXX)
SHM=$(mktemp -d /dev/shm/raftnode-ab.XXXXXX) # perf's data off the disk being measured
PIDS=()
. "$ROOT/bench/cluster3.sh"
cleanup() {
    cluster3_kill "${PIDS[@]}"
    PIDS=()
}
trap 'cleanup; rm -rf "$WORK" "$SHM"' EXIT
trap 'exit 130' INT TERM

TICK=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of the PIDs, in clock ticks
    local p s=0 v
    for p in "$@"; do
        v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || v=0
        s=$((s + ${v:-0}))
    done
    echo "$s"
}

one() { # one BIN ROUND K: prints "seq_p50 seq_p99 rate p50 p99 errors cpu_us_per_write"
    local bin=$1 d=$WORK/r$2 eps
    rm -rf "$d"; mkdir -p "$d"
    cluster3_start "$bin" "$d" "${AB_EXTRA_CONF:-}"
    eps=$C3_EPS
    PIDS+=("${C3_PIDS[@]}")
    "$LOADGEN" --mode ready --endpoints "$eps" --deadline-s 30 --quiet >/dev/null 2>&1 ||
        { echo "ab: cluster of $bin not ready (logs in $d)" >&2; cleanup; return 1; }
    local s t
    s=$("$LOADGEN" --mode seq --endpoints "$eps" --requests "$SEQ_N" --prefix s --label s --quiet 2>&1)
    local members=("${PIDS[@]}") c0 c1 lg
    "$LOADGEN" --mode throughput --endpoints "$eps" --clients "$CLIENTS" --duration "$DUR" --warmup "$WARM" \
        --prefix t --label t --quiet >"$d/t.out" 2>&1 &
    lg=$!
    sleep "$WARM"
    c0=$(cpu_ticks "${members[@]}")
    if [ -n "${AB_PERF:-}" ]; then
        local li roles=() k=0 m
        li=$("$LOADGEN" --mode status --endpoints "$eps" | grep -n 'state=leader' | cut -d: -f1)
        for m in "${members[@]}"; do
            k=$((k + 1))
            roles+=("$m=$([ "$k" = "$li" ] && echo leader || echo follower)")
        done
        perf record -q -p "$(IFS=,; echo "${members[*]}")" -F "${AB_PERF_HZ:-299}" --call-graph dwarf,16384 \
            -o "$SHM/perf.data" -- sleep "$AB_PERF" >/dev/null 2>&1
        perf script -i "$SHM/perf.data" -F pid,tid,comm,ip,sym,dso 2>/dev/null >"$SHM/perf.txt"
        "$PY" "$ROOT/bench/profile_stages.py" cpu "$SHM/perf.txt" "${roles[@]}" >"$WORK/perf-$3-$2.txt"
        rm -f "$SHM/perf.data" "$SHM/perf.txt"
    fi
    wait "$lg"
    c1=$(cpu_ticks "${members[@]}")
    t=$(cat "$d/t.out")
    cleanup
    rm -rf "$d"
    # CPU of the three members over the measured window (after the warm-up) per write
    printf '%s\n%s\n' "$s" "$t" | awk -v cpu=$((c1 - c0)) -v tick="$TICK" '
        $1 == "RESULT" { v[$2] = $3 }
        END { printf "%s %s %s %s %s %s %.0f\n", v["s_p50"], v["s_p99"], v["t_writes_per_s"], v["t_p50"], v["t_p99"],
              v["t_errors"], (v["t_samples"] > 0 ? cpu / tick * 1e6 / v["t_samples"] : 0) }'
}

OUT=$WORK/out.txt
: >"$OUT"
echo "binary round seq_p50_ms seq_p99_ms c${CLIENTS}_writes_per_s c${CLIENTS}_p50_ms c${CLIENTS}_p99_ms errors members_cpu_us_per_write"
for r in $(seq 1 "$ROUNDS"); do
    k=0
    for b in "$@"; do
        k=$((k + 1))
        line=$(one "$b" "$r" "$k") || continue
        echo "$k $r $line" | tee -a "$OUT"
        [ -n "${AB_PERF:-}" ] && cat "$WORK/perf-$k-$r.txt" 2>/dev/null
    done
done
echo "median per binary (seq_p50 seq_p99 rate p50 p99 errors cpu_us_per_write):"
k=0
for b in "$@"; do
    k=$((k + 1))
    "$PY" - "$OUT" "$k" "$b" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.split()[0] == sys.argv[2]]
cols = [statistics.median(float(r[i]) for r in rows) for i in range(2, 9)] if rows else []
print("  %s (%s, %d rounds): %s" % (sys.argv[2], sys.argv[3], len(rows), " ".join("%.3f" % c for c in cols)))
EOF
done
