#!/usr/bin/env bash
# bench/profile.sh — where a raftnode client's write waits, measured on the leader with perf
# (apt-get install linux-perf). Not part of `make bench`; run by hand as root:
#     bash bench/profile.sh
# Starts its own 3-member cluster on 127.0.0.1 (free ports, temp dir), then:
#   1. the API floor: `status` one at a time (loop wake-up, msgpack, TCP; no raft);
#   2. sequential writes, untraced (the reference latency);
#   3. sequential writes with syscall tracepoints on the leader (perf data on /dev/shm so the
#      tracer does not compete for the disk), cut into stages by bench/profile_stages.py;
#   4. 64 clients with uprobes on store_apply (SQLite apply of one entry), scheduler_tick,
#      store_snapshot and SQLite's WAL checkpoint, plus event-loop busy time (each function
#      split by thread: the event loop's, or the thread pool's, where the checkpoints run);
#      and, from the same trace, where one request waits under 64 clients: handler -> entry
#      handed to raft (flush_cb) -> its entry's SQLite apply -> reply (api_write_wait_done).
# Tracing adds some overhead: compare step 3's total with step 2. (perf names a return
# probe X__return itself.)
# Everything started here is stopped by PID on exit; the probes are deleted.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
RAFTNODE=${RAFTNODE_BIN:-$ROOT/$B/bin/raftnode}
LOADGEN=${LOADGEN_BIN:-$ROOT/$B/bench/loadgen}
PY=/usr/bin/python3
N=${PROFILE_N:-2000}
command -v perf >/dev/null || { echo "profile: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
for f in "$RAFTNODE" "$LOADGEN"; do [ -x "$f" ] || { echo "profile: $f missing (make bench-quick)" >&2; exit 1; }; done

WORK=$(mktemp -d /tmp/raftnode-profile.XXXXXX)
SHM=$(mktemp -d /dev/shm/raftnode-profile.XXXXXX)
cp "$RAFTNODE" "$WORK/raftnode"
RAFTNODE=$WORK/raftnode
PIDS=()
PROBES=0
. "$ROOT/bench/cluster3.sh"
cleanup() {
    cluster3_kill "${PIDS[@]}"
    [ "$PROBES" = 1 ] && perf probe -q -d 'probe_raftnode_prof:*' -d 'probe_sqlite_prof:*' >/dev/null 2>&1
    rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster3_start "$RAFTNODE" "$WORK"
EPS=$C3_EPS
PIDS+=("${C3_PIDS[@]}")
"$LOADGEN" --mode ready --endpoints "$EPS" --deadline-s 30 --quiet >/dev/null || { echo "profile: cluster not ready" >&2; exit 1; }
LI=$("$LOADGEN" --mode status --endpoints "$EPS" | grep -n 'state=leader' | cut -d: -f1)
[ -n "$LI" ] || { echo "profile: no leader" >&2; exit 1; }
LEADER=${PIDS[$((LI - 1))]}
echo "leader: member $LI, pid $LEADER; $N requests per step"
res() { grep -E "_(p50|p99|mean|writes_per_s) " | awk '{ printf "  %-40s %s %s\n", $2, $3, $4 }'; }

echo "1. API floor (status, no raft):"
"$LOADGEN" --mode seq --op status --endpoints "$EPS" --requests "$N" --label status --quiet | res
echo "2. sequential writes, untraced:"
"$LOADGEN" --mode seq --endpoints "$EPS" --requests "$N" --prefix p_ref --label write --quiet | res

echo "3. sequential writes, syscalls traced on the leader:"
perf record -q -o "$SHM/sys.data" -p "$LEADER" -e syscalls:sys_enter_read,syscalls:sys_exit_read \
    -e syscalls:sys_enter_io_submit,syscalls:sys_enter_writev,syscalls:sys_enter_pwrite64,syscalls:sys_enter_write \
    -- sleep $(( N / 500 + 4 )) >/dev/null 2>&1 &
PERF=$!
sleep 1
"$LOADGEN" --mode seq --endpoints "$EPS" --requests "$N" --prefix p_sys --label write_traced --quiet | res
wait "$PERF"
perf script -i "$SHM/sys.data" >"$SHM/sys.txt" 2>/dev/null
"$PY" "$ROOT/bench/profile_stages.py" syscalls "$SHM/sys.txt"

echo "4. 64 clients for 5 s, uprobes on the leader:"
SQLITE=$(ldd "$RAFTNODE" | awk '/libsqlite3/ { print $3 }')
if perf probe -q -x "$RAFTNODE" -a probe_raftnode_prof:store_apply=store_apply \
        -a 'probe_raftnode_prof:store_apply=store_apply%return' \
        -a probe_raftnode_prof:scheduler_tick=scheduler_tick \
        -a 'probe_raftnode_prof:scheduler_tick=scheduler_tick%return' \
        -a probe_raftnode_prof:store_snapshot=store_snapshot \
        -a 'probe_raftnode_prof:store_snapshot=store_snapshot%return' \
        -a probe_raftnode_prof:project_add=handle_project_add -a probe_raftnode_prof:flush=flush_cb \
        -a 'probe_raftnode_prof:entry=store_apply index' \
        -a 'probe_raftnode_prof:reply=api_write_wait_done index' >/dev/null 2>&1 &&
    perf probe -q -x "$SQLITE" -a probe_sqlite_prof:wal_checkpoint=sqlite3_wal_checkpoint_v2 \
        -a 'probe_sqlite_prof:wal_checkpoint=sqlite3_wal_checkpoint_v2%return' >/dev/null 2>&1; then
    PROBES=1
    perf record -q -o "$SHM/probes.data" -p "$LEADER" -e 'probe_raftnode_prof:*' -e 'probe_sqlite_prof:*' \
        -e syscalls:sys_enter_epoll_wait,syscalls:sys_exit_epoll_wait -- sleep 6 >/dev/null 2>&1 &
    PERF=$!
    sleep 0.5
    "$LOADGEN" --mode throughput --clients 64 --duration 5 --endpoints "$EPS" --prefix p_c64 --label c64 --quiet | res
    wait "$PERF"
    perf script -i "$SHM/probes.data" >"$SHM/probes.txt" 2>/dev/null
    "$PY" "$ROOT/bench/profile_stages.py" probes "$SHM/probes.txt" 6
    "$PY" "$ROOT/bench/profile_stages.py" requests "$SHM/probes.txt"
else
    echo "  perf probe failed (uprobes unavailable?): step skipped"
    PROBES=1
fi
