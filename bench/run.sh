#!/usr/bin/env bash
# bench/run.sh quick|full — raftnode and etcd 3.4 side by side on this machine, in one run
# (called by `make bench-quick` / `make bench`).
#
# Starts a 3-node raftnode cluster and a 3-member etcd cluster on 127.0.0.1 (free ports,
# data in one temporary directory, so on one filesystem; both with heartbeat 100 ms and
# election timeout 1000 ms) and measures against both:
#   1. sequential write latency from one client (p50, p99)
#   2. closed-loop write throughput at 1, 4, 16, 64 and 256 clients on persistent connections
#      (the client sweep: p50/p99 against the write rate, plotted by gnuplot into
#      docs/benchmarks-latency.png); the drivers' ceilings at 64 and 256 clients
#   3. leader failover: SIGKILL the leader, time to the next successful write; R times,
#      the killed member restarted (and caught up) in between
#   4. on fresh clusters: RSS of every member idle and after N projects / keys, then
#      restart-to-ready of the whole cluster (SIGKILL all, start all, time until every
#      member has applied everything it had and a write succeeds)
#   5. burst (fresh raftnode cluster, members serving /metrics): 10,000 pipelined project.add
#      on one connection to the leader (bench/burst.py): all acknowledged? a new term or
#      leader on any member? and the loop's longest stall in the window (the
#      raftnode_loop_busy_* metrics, the longest event-loop turn), aim < 20% of the heartbeat
#      interval; again during snapshots (a low raft.snapshot-threshold, 10,000 projects loaded
#      first) and during a rebalance of 10,000 projects (drain + undrain, then raftctl rebalance)
#   6. members: 5- and 7-member clusters of both, sequential p50 and 64-client throughput
#   7. where the time goes (raftnode, 64 clients): the members' own histograms over a run
#      (bench/where_time.py): request, entry proposed -> applied, disk append, batching,
#      the leader's loop busy share and CPU
# then, on one private PostgreSQL 15: Kylin's leader race (bench/kylin_race.py) and, on the
# same server, raftnode's metastore mirror (build/bench/metastore_bench: commit-to-visible
# lag at 1,000 decisions/s, and the writes of an idle cluster of 10,000 projects); and
# build/bench/bench_planner when it exists (its RESULT lines are passed through).
#
# raftnode is driven by build/bench/loadgen (C, common/client.h), etcd by build/bench/etcd-go
# (bench/etcd-go: etcd's own Go client, clientv3 3.4 from Debian's golang-etcd-server-dev; its
# N clients share clientv3.Client connections, one per 10 clients as in etcd's performance
# guide (1,000 clients over 100 connections); ET_CONNS=K forces K). The ceiling rows: each driver against a target
# that answers without consensus (raftnode: its `status` request; etcd-go: an in-process gRPC
# KV server answering every put at once), so no client limits either system (aim: 3x the
# 64-client write rate it measures).
# B=DIR takes the programs from DIR/ instead of build/ (e.g. B=build-mb). For work on one
# part, BENCH_PHASES=compare,failover,where,members,burst,scale,metastore,planner (comma-separated, default all) runs
# only those phases (and kylin: bench/kylin_bench.py, 3 members paired with 3 emulated
# Kylin nodes on their own PostgreSQL 15); the skipped rows read n/a. BENCH_KEEP=1 keeps the work directories;
# BENCH_FO_QUIET=1 waits before each raftnode kill until the leader's commit index stood still
# for 1 s (by default the kill follows the rejoin at once, while the leader may still be
# placing projects and registering the restarted member's engine; etcd's cluster is idle).
# BENCH_RN_LOG_LEVEL=info sets the members' raft.log-level (default warn; info logs every state change).
# BENCH_PG_OPTS adds server options to the private PostgreSQL (e.g. "-c log_min_duration_statement=0").
# Output: progress on stderr; a table, `RESULT <name> <value> <unit>` and
# `RATIO <name> <raftnode/etcd>` lines on stdout. `full` also rewrites docs/benchmarks.md.
#
# Every process started here is stopped by its PID when the script exits (trap EXIT);
# every wait polls with a deadline.
set -u -o pipefail

MODE=${1:-quick}
case "$MODE" in
quick)
    SEQ_N=2000; TP_DUR=4; TP_WARM=1; FO_REPS=3; MEM_N=10000; PG_ROUNDS=3; PLANNER_TIMEOUT=120
    CEIL_DUR=3; SCALE_SEQ_N=1000; SCALE_TP_DUR=4; LAG_DUR=10; LAG_WARM=2; IDLE_S=20; KY_KILLS=5
    SWEEP_DUR=3; MEMB_SEQ_N=500; MEMB_TP_DUR=3; BURST_PROJECTS=${BURST_PROJECTS:-2000} ;;
full)
    SEQ_N=10000; TP_DUR=15; TP_WARM=2; FO_REPS=7; MEM_N=100000; PG_ROUNDS=5; PLANNER_TIMEOUT=300
    CEIL_DUR=5; SCALE_SEQ_N=3000; SCALE_TP_DUR=8; LAG_DUR=27; LAG_WARM=2; IDLE_S=60; KY_KILLS=7
    SWEEP_DUR=6; MEMB_SEQ_N=2000; MEMB_TP_DUR=6; BURST_PROJECTS=${BURST_PROJECTS:-10000} ;;
*)
    echo "usage: bench/run.sh quick|full" >&2; exit 2 ;;
esac
FO_REPS=${BENCH_FO_REPS:-$FO_REPS} # kills in the failover part
PG_ROWS=10000
# The client sweep (latency against throughput, plotted): 64 clients for TP_DUR s (the headline
# row), the other points for SWEEP_DUR s each; the ceiling rows at 64 and 256.
SWEEP_CLIENTS="1 4 16 64 256"
MEMB_SIZES="5 7" # the members phase: 5- and 7-member clusters
# burst phase: the snapshot variant's raft.snapshot-threshold (entries between snapshots; the
# burst writes a few hundred entries, its adds batched several to an entry)
BURST_SNAP_THRESHOLD=${BURST_SNAP_THRESHOLD:-20}
MS_PROJECTS=${MS_PROJECTS:-10000} # projects in the mirror's cluster (lag and idle)
# Projects in the kylin phase's (b) and (c): issue 10's 10,000 (the emulator serves its project
# lookups from memory, as Kylin's NProjectManager does, and answers on up to 200 threads, as
# Kylin's Tomcat does). The phase took 3.5 min in quick mode and 5 min with full's settings
# (7 kills, 60 s idle) on this machine with a load average of 7-10 from other jobs.
KY_PROJECTS=${KY_PROJECTS:-10000}
MS_RATE=${MS_RATE:-1000}         # decisions/s for the lag measurement
MS_PREFIX=raftbench # the mirror's table prefix (Kylin's race uses kylin_metadata_epoch)
# A backend publishes its table counters up to 10 s (PGSTAT_IDLE_INTERVAL) after its last
# transaction: the idle window starts only after the mirror has been quiet this long.
MS_SETTLE_S=11
phase() { [ "${BENCH_PHASES:-all}" = all ] || [[ ",$BENCH_PHASES," == *",$1,"* ]]; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
RAFTNODE=${RAFTNODE_BIN:-$ROOT/$B/bin/raftnode}
LOADGEN=${LOADGEN_BIN:-$ROOT/$B/bench/loadgen}
PLANNER=${PLANNER_BIN:-$ROOT/$B/bench/bench_planner}
MSBENCH=${METASTORE_BENCH_BIN:-$ROOT/$B/bench/metastore_bench}
PY=/usr/bin/python3
ETCDGO=${ETCDGO_BIN:-$ROOT/$B/bench/etcd-go}
ET_CONNS=${ET_CONNS:-0} # 0: one connection per 10 clients (etcd-go's default)
BURST_N=${BURST_N:-10000}
ETCD=${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}
ETCDCTL=${ETCDCTL_BIN:-$(command -v etcdctl || echo /usr/bin/etcdctl)}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

for f in "$RAFTNODE" "$LOADGEN" "$ETCD" "$ETCDGO"; do
    if [ ! -x "$f" ]; then
        echo "bench: $f is missing (run 'make' and build the bench programs first: make bench-quick)" >&2
        exit 1
    fi
done

WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/raftnode-bench.XXXXXX")
RES=$WORK/results.txt
: >"$RES"
# Private copies: a rebuild during the run (make in another shell) cannot swap binaries
# between the members of one cluster.
mkdir -p "$WORK/bin"
cp "$RAFTNODE" "$WORK/bin/raftnode" && cp "$LOADGEN" "$WORK/bin/loadgen" && cp "$ETCDGO" "$WORK/bin/etcd-go" ||
    { echo "bench: cannot copy binaries" >&2; rm -rf "$WORK"; exit 1; }
RAFTCTL=${RAFTCTL_BIN:-$ROOT/$B/bin/raftctl} # the burst phase's drain and rebalance
if [ -x "$RAFTCTL" ]; then
    cp "$RAFTCTL" "$WORK/bin/raftctl" && RAFTCTL=$WORK/bin/raftctl
fi
if [ -x "$MSBENCH" ]; then
    cp "$MSBENCH" "$WORK/bin/metastore_bench" && MSBENCH=$WORK/bin/metastore_bench
fi
RAFTNODE_SRC=$RAFTNODE
RAFTNODE=$WORK/bin/raftnode
LOADGEN=$WORK/bin/loadgen
ETCDGO=$WORK/bin/etcd-go
PIDS=()        # every long-running process we started
PG_DIR=""
PG_DATA=""

log() { printf '[bench %4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }

pid_alive() { # not gone and not a zombie
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_gone PID SECONDS: polls until PID exited; 0 if it did within the deadline.
wait_gone() {
    local pid=$1 deadline=$(( $(date +%s%N) + $2 * 1000000000 ))
    while pid_alive "$pid"; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.02
    done
    return 0
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
    local pid=$1
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone "$pid" 10; then
        log "pid $pid ignored SIGTERM for 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        wait_gone "$pid" 10 || log "pid $pid still alive after SIGKILL"
    fi
}

as_pg() { # runs a PostgreSQL program as the postgres user (CI runs as root)
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_stop() {
    [ -n "$PG_DATA" ] || return 0
    if [ -f "$PG_DATA/postmaster.pid" ]; then
        local ppid
        ppid=$(head -1 "$PG_DATA/postmaster.pid")
        as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
        if [ -n "$ppid" ] && pid_alive "$ppid"; then
            kill -KILL "$ppid" 2>/dev/null
            wait_gone "$ppid" 10
        fi
    fi
    PG_DATA=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do
        [ -n "$p" ] && stop_pid "$p"
    done
    pg_stop
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "kept $WORK ${PG_DIR}"
    else
        rm -rf "$WORK"
        [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { # removes $1 from PIDS
    local i
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[$i]}" = "$1" ] && unset 'PIDS[i]'
    done
}

# ---- free ports: below the ephemeral range, checked by binding them -------------------
# Up to NM_MAX members per system (the members phase runs 5 and 7): per member a raftnode
# raft, API and /metrics port, an etcd client and peer port; and PostgreSQL's.
NM_MAX=7
N_PORTS=$((5 * NM_MAX + 1))
PORTS=($("$PY" - "$N_PORTS" <<'EOF'
import random, socket, sys
got, socks = [], []
rng = random.Random()
lo, hi = 20000, 32000
while len(got) < int(sys.argv[1]):
    p = rng.randrange(lo, hi)
    if p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    socks.append(s)
    got.append(p)
print(" ".join(map(str, got)))
EOF
))
if [ "${#PORTS[@]}" -ne "$N_PORTS" ]; then
    echo "bench: could not pick $N_PORTS free ports" >&2
    exit 1
fi
RN_RAFT=("") RN_API=("") RN_HTTP=("") ET_CLIENT=("") ET_PEER=("") RN_PID=("") ET_PID=("")
for i in $(seq 1 "$NM_MAX"); do
    RN_RAFT[$i]=${PORTS[i - 1]}
    RN_API[$i]=${PORTS[NM_MAX + i - 1]}
    RN_HTTP[$i]=${PORTS[2 * NM_MAX + i - 1]} # /metrics, burst phase only
    ET_CLIENT[$i]=${PORTS[3 * NM_MAX + i - 1]}
    ET_PEER[$i]=${PORTS[4 * NM_MAX + i - 1]}
    RN_PID[$i]=""
    ET_PID[$i]=""
done
PG_PORT=${PORTS[5 * NM_MAX]}
RN_HTTP_ON=0
# set_members N: the clusters started from now on have members 1..N (NM); their endpoint lists.
set_members() {
    local i
    NM=$1
    RN_EPS="" ET_EPS="" RN_INITIAL="" ET_INITIAL="" RN_METRICS=""
    for i in $(seq 1 "$NM"); do
        RN_EPS+=${RN_EPS:+,}127.0.0.1:${RN_API[$i]}
        ET_EPS+=${ET_EPS:+,}127.0.0.1:${ET_CLIENT[$i]}
        RN_METRICS+=${RN_METRICS:+,}127.0.0.1:${RN_HTTP[$i]}
        RN_INITIAL+=${RN_INITIAL:+,}$i=127.0.0.1:${RN_RAFT[$i]}
        ET_INITIAL+=${ET_INITIAL:+,}e$i=http://127.0.0.1:${ET_PEER[$i]}
    done
}
set_members 3
RUN_ID=$$
# 256 clients hold 256 connections (and the 7-member clusters their peers'): the soft limit
# of open files up to the hard one.
ulimit -n "$(ulimit -H -n)" 2>/dev/null || true

# ---- results ---------------------------------------------------------------------------
# Tool output: RESULT/RATIO/INFO lines are kept, everything else goes to stderr.
collect() {
    local line
    while IFS= read -r line; do
        case "$line" in
        RESULT\ * | RATIO\ *) echo "$line" >>"$RES"; echo "  $line" >&2 ;;
        *) echo "  $line" >&2 ;;
        esac
    done
}
emit() { echo "RESULT $*" >>"$RES"; echo "  RESULT $*" >&2; }
val() { awk -v n="$1" '$1 == "RESULT" && $2 == n { v = $3 } END { if (v != "") print v }' "$RES"; }
ratio() { # ratio A B: A/B with 3 significant decimals, or n/a
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "" || b == "" || a !~ /^[0-9.eE+-]+$/ || b !~ /^[0-9.eE+-]+$/ || b + 0 == 0) print "n/a";
        else printf "%.3f\n", a / b }'
}
emit_ratio() { # emit_ratio NAME RAFTNODE_RESULT ETCD_RESULT
    local r
    r=$(ratio "$(val "$2")" "$(val "$3")")
    echo "RATIO $1 $r" >>"$RES"
    echo "  RATIO $1 $r" >&2
}
stats() { # stats NAME UNIT VALUES...: NAME_median, NAME_max (and the list as INFO)
    local name=$1 unit=$2
    shift 2
    if [ $# -eq 0 ]; then
        emit "${name}_median fail $unit"
        emit "${name}_max fail $unit"
        return
    fi
    printf '%s\n' "$@" | sort -g | awk -v n="$name" -v u="$unit" '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s_median %.1f %s\n%s_max %.1f %s\n", n, m, u, n, v[NR], u }' |
        while read -r a b c; do emit "$a $b $c"; done
    emit "${name}_samples $(echo "$@" | tr ' ' ',') $unit"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
now_ms() { date +%s%3N; }

# ---- raftnode cluster ------------------------------------------------------------------
rn_write_conf() { # rn_write_conf DIR
    local i
    for i in $(seq 1 "$NM"); do
        cat >"$1/rn$i.properties" <<EOF
raft.node.id=$i
raft.node.address=127.0.0.1:${RN_RAFT[$i]}
raft.api.address=127.0.0.1:${RN_API[$i]}
raft.data-dir=$1/rn$i
raft.initial-cluster=$RN_INITIAL
raft.election-timeout-ms=1000
raft.heartbeat-timeout-ms=100
raft.log-level=${BENCH_RN_LOG_LEVEL:-warn}
$([ "$RN_HTTP_ON" = 1 ] && echo "raft.http.address=127.0.0.1:${RN_HTTP[$i]}")
${RN_EXTRA_CONF:-}
EOF
    done
}
rn_start() { # rn_start DIR I
    "$RAFTNODE" -c "$1/rn$2.properties" >>"$1/rn$2.log" 2>&1 &
    RN_PID[$2]=$!
    disown "${RN_PID[$2]}"
    PIDS+=("${RN_PID[$2]}")
}
rn_kill_all() {
    local i
    for i in $(seq 1 "$NM_MAX"); do
        [ -n "${RN_PID[$i]}" ] && kill -KILL "${RN_PID[$i]}" 2>/dev/null
    done
    for i in $(seq 1 "$NM_MAX"); do
        [ -n "${RN_PID[$i]}" ] && { wait_gone "${RN_PID[$i]}" 10; forget_pid "${RN_PID[$i]}"; RN_PID[$i]=""; }
    done
}
rn_status() { "$LOADGEN" --mode status --endpoints "$RN_EPS" --timeout-ms 1000 2>/dev/null; }
# endpoint_index EPS: reads status lines (`ENDPOINT state=...`); prints the position (1..) in
# the comma-separated EPS of the one that says it is the leader, or nothing.
endpoint_index() {
    awk -v eps="$1" 'BEGIN { n = split(eps, e, ",") }
        /state=leader/ { for (i = 1; i <= n; i++) if ($2 == e[i]) print i; exit }'
}
rn_leader_index() { rn_status | endpoint_index "$RN_EPS"; } # 1..NM of the leader, or nothing
rn_commit() { rn_status | awk '/state=leader/ { for (i = 1; i <= NF; i++) if ($i ~ /^commit=/) { sub("commit=", "", $i); print $i } }'; }
# wait_commit_stable SECONDS_STABLE DEADLINE_S: polls the leader's commit index until it
# has not moved for SECONDS_STABLE (the scheduler's placement writes are done).
wait_commit_stable() {
    local last="" c since deadline=$(( $(date +%s) + $2 ))
    since=$(date +%s)
    while [ "$(date +%s)" -lt "$deadline" ]; do
        c=$(rn_commit)
        if [ -n "$c" ] && [ "$c" = "$last" ]; then
            [ $(( $(date +%s) - since )) -ge "$1" ] && return 0
        else
            last=$c
            since=$(date +%s)
        fi
        sleep 0.2
    done
    return 1
}
rn_ready() { # rn_ready LABEL T0_MS MIN_APPLIED DEADLINE_S: prints through collect
    "$LOADGEN" --mode ready --endpoints "$RN_EPS" --t0-ms "$2" --min-applied "$3" --deadline-s "$4" \
        --prefix "r${RUN_ID}_$1" --label "$1" --quiet 2>&1 | collect
    [ "$(val "$1_ms")" != "" ] && [ "$(val "$1_ms")" != fail ]
}

# ---- etcd cluster ----------------------------------------------------------------------
et_start() { # et_start DIR I
    local i=$2
    "$ETCD" --name "e$i" --data-dir "$1/etcd$i" \
        --listen-client-urls "http://127.0.0.1:${ET_CLIENT[$i]}" \
        --advertise-client-urls "http://127.0.0.1:${ET_CLIENT[$i]}" \
        --listen-peer-urls "http://127.0.0.1:${ET_PEER[$i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${ET_PEER[$i]}" \
        --initial-cluster "$ET_INITIAL" --initial-cluster-state new \
        --initial-cluster-token "bench-$RUN_ID-$(basename "$1")" \
        --heartbeat-interval 100 --election-timeout 1000 \
        --logger zap --log-level warn --log-outputs stderr >>"$1/etcd$i.log" 2>&1 &
    ET_PID[$i]=$!
    disown "${ET_PID[$i]}"
    PIDS+=("${ET_PID[$i]}")
}
et_kill_all() {
    local i
    for i in $(seq 1 "$NM_MAX"); do
        [ -n "${ET_PID[$i]}" ] && kill -KILL "${ET_PID[$i]}" 2>/dev/null
    done
    for i in $(seq 1 "$NM_MAX"); do
        [ -n "${ET_PID[$i]}" ] && { wait_gone "${ET_PID[$i]}" 10; forget_pid "${ET_PID[$i]}"; ET_PID[$i]=""; }
    done
}
et_status() { "$ETCDGO" --mode status --endpoints "$ET_EPS" --timeout-ms 1000 2>/dev/null; }
et_leader_index() { et_status | endpoint_index "$ET_EPS"; }
et_put() { ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ET_EPS" --command-timeout=5s put "$1" "$2" >/dev/null 2>&1; }
et_ready() { # et_ready LABEL T0_MS CHECK_KEY DEADLINE_S
    local ck=()
    [ -n "$3" ] && ck=(--check-key "$3")
    "$ETCDGO" --mode ready --endpoints "$ET_EPS" --t0-ms "$2" "${ck[@]}" --deadline-s "$4" \
        --prefix "r${RUN_ID}_$1" --label "$1" --quiet 2>&1 | collect
    [ "$(val "$1_ms")" != "" ] && [ "$(val "$1_ms")" != fail ]
}

fatal() { log "FATAL: $*"; exit 1; }

# ---- machine ---------------------------------------------------------------------------
ETCD_VERSION=$("$ETCD" --version 2>/dev/null | awk '/etcd Version/ { print $3 }')
RAFT_VERSION=$(dpkg-query -W -f='${Version}' libraft0 2>/dev/null || pkg-config --modversion raft 2>/dev/null || echo unknown)
LIBUV_VERSION=$(pkg-config --modversion libuv 2>/dev/null || echo unknown)
SQLITE_VERSION=$(pkg-config --modversion sqlite3 2>/dev/null || echo unknown)
PG_VERSION=$("$PGBIN/postgres" --version 2>/dev/null | awk '{ print $3 }')
ETCD_CLIENT_VERSION="clientv3 $(dpkg-query -W -f='${Version}' golang-etcd-server-dev 2>/dev/null || echo '?') (golang-etcd-server-dev), $(go version 2>/dev/null | awk '{ print $3 }')"
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_TOTAL=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
FS_TYPE=$(stat -f -c %T "$WORK" 2>/dev/null)
log "mode $MODE; work dir $WORK ($FS_TYPE); raftnode $RAFTNODE_SRC; etcd $ETCD_VERSION; libraft $RAFT_VERSION"

# =========================================================================================
# Phase 1: latency, throughput, failover. Every workload gets fresh clusters, one system at
# a time (the other is stopped meanwhile), so each starts from the same state: empty. (The
# raftnode members' engines register right after the first election, so the leader's
# scheduler places each new project on an engine, one batched `assign` entry per project,
# during every workload: that is part of what a project.add costs.)
# =========================================================================================
SEQ_RUN=0
rn_fresh() { # rn_fresh NAME: a new raftnode cluster in $WORK/NAME, ready
    local d=$WORK/$1 t0
    mkdir -p "$d"
    rn_write_conf "$d"
    RN_DIR=$d
    t0=$(now_ms)
    for i in $(seq 1 "$NM"); do rn_start "$d" $i; done
    rn_ready "raftnode_start_$1" "$t0" 0 30 || fatal "raftnode cluster $1 did not become ready (logs: $d/rn*.log)"
}
et_fresh() {
    local d=$WORK/$1 t0
    mkdir -p "$d"
    ET_DIR=$d
    t0=$(now_ms)
    for i in $(seq 1 "$NM"); do et_start "$d" $i; done
    et_ready "etcd_start_$1" "$t0" "" 30 || fatal "etcd cluster $1 did not become ready (logs: $d/etcd*.log)"
}
# Teardown between workloads: SIGKILL (the data is thrown away; stopping is not measured).
rn_done() { rn_kill_all; [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$RN_DIR"; }
et_done() { et_kill_all; [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$ET_DIR"; }

if phase compare; then # (the phase's body is not indented)
log "sequential writes: $SEQ_N from one client"
rn_fresh seq
"$LOADGEN" --mode seq --endpoints "$RN_EPS" --requests "$SEQ_N" --prefix "b${RUN_ID}_seq" \
    --label raftnode_seq_latency --deadline-s 300 2>&1 | collect
rn_done
et_fresh seq
"$ETCDGO" --mode seq --endpoints "$ET_EPS" --requests "$SEQ_N" --prefix "b${RUN_ID}_seq" \
    --label etcd_seq_latency --deadline-s 300 2>&1 | collect
et_done
emit "raftnode_cold_start_ms $(val raftnode_start_seq_ms) ms"
emit "etcd_cold_start_ms $(val etcd_start_seq_ms) ms"
emit_ratio seq_latency_p50 raftnode_seq_latency_p50 etcd_seq_latency_p50
emit_ratio seq_latency_p99 raftnode_seq_latency_p99 etcd_seq_latency_p99

for c in $SWEEP_CLIENTS; do
    dur=$SWEEP_DUR
    [ "$c" = 64 ] && dur=$TP_DUR
    log "closed-loop throughput: $c clients, ${dur}s (${TP_WARM}s warm-up excluded)"
    rn_fresh "c$c"
    "$LOADGEN" --mode throughput --endpoints "$RN_EPS" --clients "$c" --duration "$dur" --warmup "$TP_WARM" \
        --prefix "b${RUN_ID}_c$c" --label "raftnode_throughput_c$c" 2>&1 | collect
    if [ "$c" = 64 ] || [ "$c" = 256 ]; then
        # Context: the client + RPC rate without consensus (raftnode `status`), c clients.
        "$LOADGEN" --mode throughput --op status --endpoints "$RN_EPS" --clients "$c" --duration "$CEIL_DUR" \
            --warmup 1 --label "raftnode_read_ceiling_c$c" --quiet 2>&1 | collect
    fi
    rn_done
    et_fresh "c$c"
    "$ETCDGO" --mode throughput --endpoints "$ET_EPS" --clients "$c" --conns "$ET_CONNS" \
        --duration "$dur" --warmup "$TP_WARM" --prefix "b${RUN_ID}_c$c" --label "etcd_throughput_c$c" 2>&1 | collect
    if [ "$c" = 64 ] || [ "$c" = 256 ]; then
        # The same for etcd's driver: its puts against an in-process gRPC KV server that
        # answers at once (no raft, no disk; the server's own CPU counts against the
        # client's, so this is a lower bound of the client's ceiling).
        "$ETCDGO" --mode ceiling --clients "$c" --conns "$ET_CONNS" --duration "$CEIL_DUR" --warmup 1 \
            --label "etcd_client_ceiling_c$c" --quiet 2>&1 | collect
    fi
    et_done
    emit_ratio "throughput_c$c" "raftnode_throughput_c${c}_writes_per_s" "etcd_throughput_c${c}_writes_per_s"
done
emit_ratio throughput_c64_p50 raftnode_throughput_c64_p50 etcd_throughput_c64_p50
emit_ratio throughput_c64_p99 raftnode_throughput_c64_p99 etcd_throughput_c64_p99
# Each driver's headroom: its ceiling over the write rate it measured at as many clients (aim >= 3).
for c in 64 256; do
    emit "raftnode_client_headroom_c$c $(ratio "$(val raftnode_read_ceiling_c${c}_writes_per_s)" "$(val raftnode_throughput_c${c}_writes_per_s)") x"
    emit "etcd_client_headroom_c$c $(ratio "$(val etcd_client_ceiling_c${c}_writes_per_s)" "$(val etcd_throughput_c${c}_writes_per_s)") x"
done

fi # phase compare

# Failover: kill -9 the leader, time to the next successful write; restart it, wait until
# it has caught up, repeat. Part of compare; BENCH_PHASES=failover runs it alone.
if phase compare || phase failover; then # (the phase's body is not indented)
rn_fresh failover
rn_fo=()
for r in $(seq 1 "$FO_REPS"); do
    if [ "${BENCH_FO_QUIET:-0}" = 1 ]; then # the leader's commit index still for 1 s first
        wait_commit_stable 1 15 || log "raftnode: commit index still moving before failover round $r"
    fi
    li=$(rn_leader_index)
    [ -n "$li" ] || fatal "raftnode: no leader before failover round $r"
    surv=$(for i in $(seq 1 "$NM"); do [ "$i" != "$li" ] && printf '127.0.0.1:%s,' "${RN_API[$i]}"; done)
    log "raftnode failover $r/$FO_REPS: SIGKILL leader member $li (pid ${RN_PID[$li]})"
    "$LOADGEN" --mode failover-probe --endpoints "${surv%,}" --kill-pid "${RN_PID[$li]}" --deadline-s 60 \
        --prefix "b${RUN_ID}_fo$r" --label "raftnode_failover_$r" 2>&1 | collect
    wait_gone "${RN_PID[$li]}" 10 || fatal "killed raftnode $li did not exit"
    forget_pid "${RN_PID[$li]}"
    v=$(val "raftnode_failover_${r}_ms")
    [ -n "$v" ] && [ "$v" != fail ] && rn_fo+=("$v")
    commit=$(rn_commit)
    rn_start "$RN_DIR" "$li"
    rn_ready "raftnode_rejoin_$r" "$(now_ms)" "${commit:-0}" 60 || fatal "raftnode member $li did not catch up"
done
rn_done
stats raftnode_leader_failover ms "${rn_fo[@]}"

et_fresh failover
et_fo=()
for r in $(seq 1 "$FO_REPS"); do
    li=$(et_leader_index)
    [ -n "$li" ] || fatal "etcd: no leader before failover round $r"
    surv=$(for i in $(seq 1 "$NM"); do [ "$i" != "$li" ] && printf '127.0.0.1:%s,' "${ET_CLIENT[$i]}"; done)
    log "etcd failover $r/$FO_REPS: SIGKILL leader member e$li (pid ${ET_PID[$li]})"
    "$ETCDGO" --mode failover-probe --endpoints "${surv%,}" --kill-pid "${ET_PID[$li]}" --deadline-s 60 \
        --timeout-ms 2000 --prefix "b${RUN_ID}_fo$r" --label "etcd_failover_$r" 2>&1 | collect
    wait_gone "${ET_PID[$li]}" 10 || fatal "killed etcd e$li did not exit"
    forget_pid "${ET_PID[$li]}"
    v=$(val "etcd_failover_${r}_ms")
    [ -n "$v" ] && [ "$v" != fail ] && et_fo+=("$v")
    et_put "/bench/marker/fo$r" x || log "etcd: marker put after failover $r failed"
    et_start "$ET_DIR" "$li"
    et_ready "etcd_rejoin_$r" "$(now_ms)" "/bench/marker/fo$r" 60 || fatal "etcd member e$li did not catch up"
done
et_done
stats etcd_leader_failover ms "${et_fo[@]}"
emit_ratio leader_failover_median raftnode_leader_failover_median etcd_leader_failover_median
emit_ratio leader_failover_max raftnode_leader_failover_max etcd_leader_failover_max
fi # phase compare or failover

# =========================================================================================
# Where the time goes (issue 13): a fresh raftnode cluster serving /metrics, 64 clients for
# SWEEP_DUR s through bench/where_time.py, which reads the members' own histograms over the
# run: request -> reply, entry proposed -> applied, disk append, commands per entry, the
# leader's loop busy share and the members' CPU. (bench/profile.sh, with perf, by hand: finer.)
# =========================================================================================
if phase where; then
log "where the time goes: 64 clients for ${SWEEP_DUR}s, the members' /metrics before and after"
RN_HTTP_ON=1 rn_fresh where
"$PY" "$ROOT/bench/where_time.py" --metrics "$RN_METRICS" --label raftnode_where \
    --pids "$(for i in $(seq 1 "$NM"); do printf '%s,' "${RN_PID[$i]}"; done)" -- \
    "$LOADGEN" --mode throughput --endpoints "$RN_EPS" --clients 64 --duration "$SWEEP_DUR" --warmup "$TP_WARM" \
    --prefix "b${RUN_ID}_where" --label raftnode_where_c64 --quiet 2>&1 | collect ||
    log "where_time.py failed (see above)"
rn_done
fi # phase where

# =========================================================================================
# Members (issue 13): 5- and 7-member clusters of both systems, fresh, on the same machine:
# sequential write latency (MEMB_SEQ_N writes) and 64-client throughput (MEMB_TP_DUR s).
# =========================================================================================
if phase members; then
for n in $MEMB_SIZES; do
    set_members "$n"
    log "$n members: $MEMB_SEQ_N sequential writes, then 64 clients for ${MEMB_TP_DUR}s"
    rn_fresh "m$n"
    "$LOADGEN" --mode seq --endpoints "$RN_EPS" --requests "$MEMB_SEQ_N" --prefix "b${RUN_ID}_m${n}_seq" \
        --label "raftnode_seq_latency_m$n" --quiet --deadline-s 300 2>&1 | collect
    "$LOADGEN" --mode throughput --endpoints "$RN_EPS" --clients 64 --duration "$MEMB_TP_DUR" --warmup "$TP_WARM" \
        --prefix "b${RUN_ID}_m${n}_c64" --label "raftnode_throughput_c64_m$n" --quiet 2>&1 | collect
    rn_done
    et_fresh "m$n"
    "$ETCDGO" --mode seq --endpoints "$ET_EPS" --requests "$MEMB_SEQ_N" --prefix "b${RUN_ID}_m${n}_seq" \
        --label "etcd_seq_latency_m$n" --quiet --deadline-s 300 2>&1 | collect
    "$ETCDGO" --mode throughput --endpoints "$ET_EPS" --clients 64 --conns "$ET_CONNS" --duration "$MEMB_TP_DUR" \
        --warmup "$TP_WARM" --prefix "b${RUN_ID}_m${n}_c64" --label "etcd_throughput_c64_m$n" --quiet 2>&1 | collect
    et_done
    emit_ratio "seq_latency_p50_m$n" "raftnode_seq_latency_m${n}_p50" "etcd_seq_latency_m${n}_p50"
    emit_ratio "throughput_c64_m$n" "raftnode_throughput_c64_m${n}_writes_per_s" "etcd_throughput_c64_m${n}_writes_per_s"
done
set_members 3
fi # phase members

# =========================================================================================
# Burst (issue 13, "load held"): a fresh raftnode cluster whose members serve /metrics, its
# engines registered (so the scheduler places the new projects meanwhile); BURST_N pipelined
# project.add on one connection to the leader. Every add must be acknowledged and no member
# may see a new term or leader; the loop's longest stall (raftnode_loop_busy_max_seconds,
# exact: loop_busy.c) is reported, aim < 20% of the heartbeat interval (20 ms).
# Then the same burst twice more, each on a fresh cluster first loaded with BURST_PROJECTS
# projects (64 clients) and left to place them all:
#   snapshot:  raft.snapshot-threshold=BURST_SNAP_THRESHOLD, so that every member takes
#              snapshots (of a state of 10,000+ projects) while the burst runs;
#   rebalance: engine 3 drained (its third of the projects moved away) and undrained, then
#              `raftctl rebalance` (about a third of the projects moved back, in slices of
#              256 moves) started just before the burst, the window lasting until both ended.
# Per run: the window's longest loop turn (exact, or the histogram bucket bounding it) and its
# turns over the aim, from every member's /metrics (bench/burst.py).
# =========================================================================================
burst_run() { # burst_run LABEL [COMMAND...]: the burst against the running cluster's leader
    local label=$1 li during=()
    shift
    [ $# -gt 0 ] && during=(--during "$@")
    li=$(rn_leader_index)
    [ -n "$li" ] || fatal "raftnode: no leader for the burst $label"
    "$PY" "$ROOT/bench/burst.py" --api "127.0.0.1:${RN_API[$li]}" --n "$BURST_N" --prefix "b${RUN_ID}_$label" \
        --metrics "$RN_METRICS" --raft-dirs "$(for i in $(seq 1 "$NM"); do printf '%s,' "$RN_DIR/rn$i/raft"; done)" \
        --label "$label" "${during[@]}" 2>&1 | collect ||
        log "burst $label: adds failed, the leader changed or the command beside it failed (see above)"
}
burst_preload() { # burst_preload: BURST_PROJECTS projects added, then placed (the log quiet)
    log "burst: loading $BURST_PROJECTS projects first"
    "$LOADGEN" --mode throughput --endpoints "$RN_EPS" --clients 64 --requests "$BURST_PROJECTS" --deadline-s 300 \
        --prefix "p${RUN_ID}_$1" --label raftnode_burst_preload --quiet 2>&1 | sed 's/^/  /' >&2
    wait_commit_stable 3 180 || log "raftnode: the commit index kept moving for 180 s"
}
if phase burst; then
log "burst: $BURST_N pipelined project.add on one connection to the leader"
RN_HTTP_ON=1 rn_fresh burst
burst_run raftnode_burst
rn_done

log "burst during snapshots: raft.snapshot-threshold=$BURST_SNAP_THRESHOLD"
RN_HTTP_ON=1 RN_EXTRA_CONF="raft.snapshot-threshold=$BURST_SNAP_THRESHOLD" rn_fresh burst_snap
burst_preload snap
burst_run raftnode_burst_snapshot
rn_done

if [ -x "$RAFTCTL" ]; then
    log "burst during a rebalance of $BURST_PROJECTS projects"
    RN_HTTP_ON=1 rn_fresh burst_rebal
    burst_preload rebal
    # (a failed drain or undrain skips this run, its rows read n/a; the rest of the bench goes on)
    if ! "$RAFTCTL" --endpoints "$RN_EPS" --timeout 60000 drain 3 >&2; then
        log "raftctl drain 3 failed (logs: $RN_DIR/rn*.log): the burst during a rebalance is skipped"
    else
        wait_commit_stable 3 180 || log "raftnode: the commit index kept moving for 180 s after the drain"
        if "$RAFTCTL" --endpoints "$RN_EPS" --timeout 60000 undrain 3 >&2; then
            burst_run raftnode_burst_rebalance "$RAFTCTL" --endpoints "$RN_EPS" --timeout 300000 -w json rebalance
        else
            log "raftctl undrain 3 failed (logs: $RN_DIR/rn*.log): the burst during a rebalance is skipped"
        fi
    fi
    rn_done
else
    log "no $RAFTCTL: the burst during a rebalance is skipped"
fi
fi # phase burst

# =========================================================================================
# Phase 2: at scale. Fresh clusters: RSS idle, load N projects / keys, then (raftnode) let
# the cluster reach steady state — every project placed on an engine, the log quiet — and
# measure RSS, sequential latency and 64-client throughput with that data, then
# restart-to-ready of the whole cluster.
# =========================================================================================
MEM_TAG=$(( MEM_N / 1000 ))k
rss_report() { # rss_report SYSTEM PHASE PID1 PID2 PID3
    local sys=$1 phase=$2 max=0 sum=0 k i=1
    shift 2
    for p in "$@"; do
        k=$(rss_kib "$p")
        emit "${sys}_rss_${phase}_member$i $(awk -v k="$k" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
        [ "$k" -gt "$max" ] && max=$k
        sum=$((sum + k))
        i=$((i + 1))
    done
    emit "${sys}_rss_${phase}_max $(awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
    emit "${sys}_rss_${phase}_total $(awk -v k="$sum" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
}

if phase scale; then # (the phase's body is not indented)
log "at scale: raftnode with $MEM_N projects"
rn_fresh scale
sleep 2 # idle: a fixed interval after start (a measurement window, not a readiness check)
rss_report raftnode idle "${RN_PID[1]}" "${RN_PID[2]}" "${RN_PID[3]}"
"$LOADGEN" --mode throughput --endpoints "$RN_EPS" --clients 64 --requests "$MEM_N" --deadline-s 600 \
    --prefix "m${RUN_ID}" --label raftnode_load --quiet 2>&1 | collect
# Steady state: the scheduler places every project (assign entries): wait until the log
# is quiet.
wait_commit_stable 3 180 || log "raftnode: the commit index kept moving for 180 s"
c=$(rn_commit)
rn_ready raftnode_loaded_sync "$(now_ms)" "${c:-0}" 60 || fatal "raftnode members did not catch up"
rss_report raftnode "loaded_$MEM_TAG" "${RN_PID[1]}" "${RN_PID[2]}" "${RN_PID[3]}"
emit "raftnode_data_dir_$MEM_TAG $(du -sm "$RN_DIR/rn1" | cut -f1) MiB"
"$LOADGEN" --mode seq --endpoints "$RN_EPS" --requests "$SCALE_SEQ_N" --prefix "s${RUN_ID}_seq" \
    --label "raftnode_seq_latency_at_$MEM_TAG" --quiet --deadline-s 300 2>&1 | collect
"$LOADGEN" --mode throughput --endpoints "$RN_EPS" --clients 64 --duration "$SCALE_TP_DUR" --warmup 1 \
    --prefix "s${RUN_ID}_c64" --label "raftnode_throughput_c64_at_$MEM_TAG" --quiet 2>&1 | collect
log "restart-to-ready: SIGKILL all raftnode members, start all"
c=$(rn_commit)
rn_kill_all
T0=$(now_ms)
for i in $(seq 1 "$NM"); do rn_start "$RN_DIR" $i; done
rn_ready "raftnode_restart_ready_$MEM_TAG" "$T0" "${c:-0}" 120 || fatal "raftnode did not restart"
rn_done

log "at scale: etcd with $MEM_N keys"
et_fresh scale
sleep 2
rss_report etcd idle "${ET_PID[1]}" "${ET_PID[2]}" "${ET_PID[3]}"
"$ETCDGO" --mode throughput --endpoints "$ET_EPS" --clients 64 --conns "$ET_CONNS" --requests "$MEM_N" \
    --deadline-s 600 --prefix "m${RUN_ID}" --label etcd_load --quiet 2>&1 | collect
et_put /bench/marker/loaded x || fatal "etcd: marker put failed"
et_ready etcd_loaded_sync "$(now_ms)" /bench/marker/loaded 60 || fatal "etcd members did not catch up"
sleep 2
rss_report etcd "loaded_$MEM_TAG" "${ET_PID[1]}" "${ET_PID[2]}" "${ET_PID[3]}"
emit "etcd_data_dir_$MEM_TAG $(du -sm "$ET_DIR/etcd1" | cut -f1) MiB"
"$ETCDGO" --mode seq --endpoints "$ET_EPS" --requests "$SCALE_SEQ_N" --prefix "s${RUN_ID}_seq" \
    --label "etcd_seq_latency_at_$MEM_TAG" --quiet --deadline-s 300 2>&1 | collect
"$ETCDGO" --mode throughput --endpoints "$ET_EPS" --clients 64 --conns "$ET_CONNS" --duration "$SCALE_TP_DUR" \
    --warmup 1 --prefix "s${RUN_ID}_c64" --label "etcd_throughput_c64_at_$MEM_TAG" --quiet 2>&1 | collect
et_put /bench/marker/final x || fatal "etcd: marker put failed"
log "restart-to-ready: SIGKILL all etcd members, start all"
et_kill_all
T0=$(now_ms)
for i in $(seq 1 "$NM"); do et_start "$ET_DIR" $i; done
et_ready "etcd_restart_ready_$MEM_TAG" "$T0" /bench/marker/final 120 || fatal "etcd did not restart"
et_done

emit_ratio rss_idle_max raftnode_rss_idle_max etcd_rss_idle_max
emit_ratio "rss_loaded_${MEM_TAG}_max" "raftnode_rss_loaded_${MEM_TAG}_max" "etcd_rss_loaded_${MEM_TAG}_max"
emit_ratio "seq_latency_p50_at_$MEM_TAG" "raftnode_seq_latency_at_${MEM_TAG}_p50" "etcd_seq_latency_at_${MEM_TAG}_p50"
emit_ratio "throughput_c64_at_$MEM_TAG" "raftnode_throughput_c64_at_${MEM_TAG}_writes_per_s" \
    "etcd_throughput_c64_at_${MEM_TAG}_writes_per_s"
emit_ratio "restart_ready_$MEM_TAG" "raftnode_restart_ready_${MEM_TAG}_ms" "etcd_restart_ready_${MEM_TAG}_ms"
fi # phase scale

# =========================================================================================
# Phase 3: the metastore, on one private PostgreSQL 15 server (default settings: fsync and
# synchronous_commit on). First Kylin's leader race (bench/kylin_race.py, its own table
# kylin_metadata_epoch), then raftnode's mirror into the same server (tables $MS_PREFIX_*):
# a fresh cluster whose members carry raft.metastore.url, MS_PROJECTS projects added and
# placed, then
#   lag:  project.move at MS_RATE decisions/s, open loop, for LAG_DUR s; per decision the
#         time from the client's OK to the row's visibility in PostgreSQL (a LISTEN on a
#         notification trigger the benchmark adds to the epoch table and drops afterwards);
#   idle: the rows the idle cluster writes into the mirror's tables over IDLE_S s
#         (pg_stat_user_tables), after the mirror has been quiet for MS_SETTLE_S s.
# =========================================================================================
ms_phase() {
    local url="postgresql://postgres@127.0.0.1:$PG_PORT/postgres?prefix=$MS_PREFIX"
    local conninfo="host=$PG_DIR port=$PG_PORT dbname=postgres user=postgres connect_timeout=5"
    if [ ! -x "$MSBENCH" ]; then
        log "no $MSBENCH: metastore mirror benchmark skipped (make bench builds it)"
        return
    fi
    log "metastore mirror: a cluster with $MS_PROJECTS projects; project.move at $MS_RATE/s for ${LAG_DUR}s" \
        "(${LAG_WARM}s warm-up); then ${IDLE_S}s idle"
    # Engines heartbeat every 5 s here, not Kylin's 30: an engine's first heartbeat (200 ms
    # after start) comes before the first election and is lost, so with 30 s nothing could
    # be placed for 30 s. (The idle cluster then logs a heartbeat entry every 5 s or so,
    # which must not make the mirror write either.)
    RN_EXTRA_CONF="raft.metastore.url=$url"$'\n'"kylin.server.leader-race.heart-beat-interval=5" rn_fresh mirror
    # The projects: added by 64 clients, then placed by the scheduler (assign entries) and
    # mirrored; these RESULT lines stay out of the report.
    "$LOADGEN" --mode throughput --endpoints "$RN_EPS" --clients 64 --requests "$MS_PROJECTS" --deadline-s 300 \
        --prefix "ms${RUN_ID}" --label raftnode_mirror_load --quiet 2>&1 | sed 's/^/  /' >&2
    wait_commit_stable 3 180 || log "raftnode: the commit index kept moving for 180 s"
    "$MSBENCH" --mode lag --endpoints "$RN_EPS" --pg "$conninfo" --prefix "$MS_PREFIX" --rate "$MS_RATE" \
        --duration "$LAG_DUR" --warmup "$LAG_WARM" --drain-s 10 --label metastore_lag 2>&1 | collect ||
        log "metastore_bench lag failed (logs: $RN_DIR/rn*.log)"
    "$MSBENCH" --mode idle --endpoints "$RN_EPS" --pg "$conninfo" --prefix "$MS_PREFIX" --seconds "$IDLE_S" \
        --settle-s "$MS_SETTLE_S" --label raftnode_metastore 2>&1 | collect ||
        log "metastore_bench idle failed (logs: $RN_DIR/rn*.log)"
    rn_done
}
if ! phase metastore; then
    :
elif [ -x "$PGBIN/initdb" ] && "$PY" -c 'import psycopg2' 2>/dev/null && { [ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1; }; then
    log "Kylin leader race: PostgreSQL $PG_VERSION, $PG_ROWS epoch rows, $PG_ROUNDS renewal rounds"
    PG_DIR=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/raftnode-bench-pg.XXXXXX")
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"
    if as_pg "$PGBIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -N >"$WORK/initdb.log" 2>&1; then
        PG_DATA=$PG_DIR/data
        if as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 ${BENCH_PG_OPTS:-}" start >/dev/null 2>&1; then
            as_pg "$PY" - --host "$PG_DIR" --port "$PG_PORT" --rows "$PG_ROWS" --rounds "$PG_ROUNDS" \
                <"$ROOT/bench/kylin_race.py" 2>&1 | collect
            ms_phase
            emit_ratio metastore_writes_per_min_idle raftnode_metastore_writes_per_min_idle \
                kylin_race_writes_per_min_10k
        else
            log "PostgreSQL did not start: $(tail -3 "$PG_DIR/server.log" 2>/dev/null)"
        fi
        pg_stop
    else
        log "initdb failed: $(tail -3 "$WORK/initdb.log")"
    fi
else
    log "PostgreSQL 15, psycopg2 or the postgres user missing: Kylin race and mirror benchmark skipped"
fi

# =========================================================================================
# Phase 3b (kylin): the quorum driving Kylin (issue 10), bench/kylin_bench.py: a private
# PostgreSQL 15, 3 members each paired with an emulated Kylin 5 all/job node (tests/kylin/,
# Java 17, Kylin's default scheduler poll of 30 s), heart-beat interval/timeout 1 s / 3 s,
# raft.kylin.timeout-ms=3000. (a) kill -9 of a Kylin process (its member
# alive) to every one of its projects claimed by a live Kylin node in the epoch table, KY_KILLS
# kills (restart and raftctl rebalance in between); (b) KY_PROJECTS projects (Kylin's metadata
# rows written in one transaction, raftctl project add in batches), the same with all of them;
# (c) epoch-table writes per idle minute with KY_PROJECTS projects.
# =========================================================================================
if ! phase kylin; then
    :
elif [ "$(id -u)" != 0 ] || ! command -v java >/dev/null || [ ! -x "$PGBIN/initdb" ] ||
    ! "$PY" -c 'import psycopg2, pytest' 2>/dev/null; then
    log "kylin phase skipped: needs root, java (openjdk-17), PostgreSQL 15, python3-psycopg2 and python3-pytest"
elif ! nice -n 5 sh "$ROOT/tests/kylin/build.sh" "$ROOT/$B/kylin-emu" >&2; then
    log "kylin phase skipped: the emulator did not build (tests/kylin/build.sh)"
else
    log "kylin: 3 members + 3 emulated Kylin nodes; $KY_KILLS Kylin kills, then $KY_PROJECTS projects, ${IDLE_S}s idle, a kill"
    RAFTNODE_BIN=$RAFTNODE RAFTCTL_BIN=$ROOT/$B/bin/raftctl KYLIN_EMU_OUT=$ROOT/$B/kylin-emu \
        "$PY" "$ROOT/bench/kylin_bench.py" --kills "$KY_KILLS" --projects "$KY_PROJECTS" --idle-s "$IDLE_S" \
        --settle-s "$MS_SETTLE_S" >"$WORK/kylin.out" &
    ky_pid=$!
    PIDS+=("$ky_pid")
    wait "$ky_pid" || log "kylin_bench.py failed (exit $?)"
    forget_pid "$ky_pid"
    collect <"$WORK/kylin.out"
fi

# =========================================================================================
# Phase 4: the placement planner benchmark (another bench program), when built
# =========================================================================================
if ! phase planner; then
    :
elif [ -x "$PLANNER" ]; then
    log "running $PLANNER"
    BENCH_MODE=$MODE timeout "$PLANNER_TIMEOUT" "$PLANNER" 2>&1 | collect ||
        log "bench_planner failed or timed out"
else
    log "no $PLANNER: planner benchmark skipped"
fi

# =========================================================================================
# Report
# =========================================================================================
fmt() { local v; v=$(val "$1"); echo "${v:-n/a}"; }
rat() { awk -v n="$1" '$1 == "RATIO" && $2 == n { v = $3 } END { print (v == "" ? "n/a" : v) }' "$RES"; }
aim() { # aim RATIO OP LIMIT
    local r
    r=$(rat "$1")
    [ "$r" = n/a ] && { echo "n/a"; return; }
    awk -v r="$r" -v op="$2" -v l="$3" 'BEGIN {
        ok = (op == "<=") ? (r <= l) : (r >= l); printf "%s (aim %s %sx)\n", ok ? "met" : "NOT met", op, l }'
}
# Where the time goes: the where phase's figures.
where_report() {
    local W=raftnode_where api commit
    api=$(val ${W}_api_ms)
    commit=$(val ${W}_commit_ms)
    row2() { printf '| %-76s | %16s |\n' "$1" "$2"; }
    echo "Where a raftnode write's time goes: 64 clients for ${SWEEP_DUR} s on a fresh 3-member cluster"
    echo "serving /metrics, from the members' own histograms over the run (bench/where_time.py; a finer"
    echo "view with perf: bench/profile.sh, by hand):"
    echo
    row2 "metric" "value"
    printf '|%s|%s|\n' "------------------------------------------------------------------------------" "------------------"
    row2 "writes/s in this run; p50 / p99 (ms)" "$(fmt raftnode_where_c64_writes_per_s); $(fmt raftnode_where_c64_p50) / $(fmt raftnode_where_c64_p99)"
    row2 "client: request sent -> reply read, mean (ms)" "$(fmt raftnode_where_c64_mean)"
    row2 "leader: request dispatched -> reply, mean (ms)" "$(fmt ${W}_api_ms)"
    row2 "  entry proposed -> applied (append, replication, commit, apply), mean (ms)" "$(fmt ${W}_commit_ms)"
    row2 "  the rest: waiting to be proposed (batching) and the reply path (ms)" "$(awk -v a="$api" -v c="$commit" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && c ~ /^[0-9.]+$/) printf "%.3f", a - c; else print "n/a" }')"
    row2 "disk append of a batch of entries, leader / followers, mean (ms)" "$(fmt ${W}_append_leader_ms) / $(fmt ${W}_append_follower_ms)"
    row2 "writes per log entry (batching), mean" "$(fmt ${W}_commands_per_entry)"
    row2 "log entries per second" "$(fmt ${W}_entries_per_s)"
    row2 "leader's event loop busy, wall time outside poll incl. preemption (% of the run)" "$(fmt ${W}_loop_busy_pct)"
    row2 "process CPU, leader / a follower (% of one CPU; the machine has $(nproc))" "$(fmt ${W}_leader_cpu_pct) / $(fmt ${W}_follower_cpu_pct)"
}
# The burst phase's table: one column per run (plain, during snapshots, during a rebalance).
burst_report() {
    row3() { printf '| %-60s | %13s | %16s | %18s |\n' "$1" "$2" "$3" "$4"; }
    b_stall() { # the window's longest turn; "<= X" when only a histogram bucket bounds it
        local v
        v=$(fmt "$1_loop_busy_max_window")
        [ "$(val "$1_loop_busy_max_window_is_bound")" = 1 ] && v="<= $v"
        echo "$v"
    }
    b_held() { # aim met: every add acknowledged, no election, the longest stall under 20 ms
        awk -v f="$(val "$1_failed")" -v n="$(val "$1_members_with_new_term_or_leader")" \
            -v s="$(val "$1_loop_busy_max_window")" 'BEGIN {
            if (f == "" || n == "" || s == "") print "n/a"; else print (f == 0 && n == 0 && s < 20) ? "met" : "NOT met" }'
    }
    b_ack() { echo "$(fmt "$1_acked") / $(fmt "$1_failed")"; }
    b_pair() { echo "$(fmt "$1_$2") / $(fmt "$1_$3")"; }
    echo "Load held (issue 13): $BURST_N pipelined project.add on one connection to the leader of a fresh"
    echo "3-member cluster (bench/burst.py), heartbeat 100 ms. The window runs from before the first add until"
    echo "the burst (and the command beside it) ended and every log was quiet for 1 s. During snapshots:"
    echo "raft.snapshot-threshold=$BURST_SNAP_THRESHOLD and $BURST_PROJECTS projects loaded first; during a rebalance:"
    echo "$BURST_PROJECTS projects loaded, engine 3 drained and undrained, \`raftctl rebalance\` started with the burst."
    echo
    row3 "metric" "burst" "during snapshots" "during a rebalance"
    printf '|%s|%s|%s|%s|\n' "--------------------------------------------------------------" "---------------" "------------------" "--------------------"
    row3 "load held: all acked, no election, stall < 20 ms" "$(b_held raftnode_burst)" "$(b_held raftnode_burst_snapshot)" "$(b_held raftnode_burst_rebalance)"
    row3 "adds acked / failed" "$(b_ack raftnode_burst)" "$(b_ack raftnode_burst_snapshot)" "$(b_ack raftnode_burst_rebalance)"
    row3 "members that saw a new term or leader (aim 0)" "$(fmt raftnode_burst_members_with_new_term_or_leader)" "$(fmt raftnode_burst_snapshot_members_with_new_term_or_leader)" "$(fmt raftnode_burst_rebalance_members_with_new_term_or_leader)"
    row3 "longest loop stall in the window, any member (ms; aim < 20)" "$(b_stall raftnode_burst)" "$(b_stall raftnode_burst_snapshot)" "$(b_stall raftnode_burst_rebalance)"
    row3 "  loop turns over 20 ms in the window, all members" "$(fmt raftnode_burst_loop_turns_over_aim)" "$(fmt raftnode_burst_snapshot_loop_turns_over_aim)" "$(fmt raftnode_burst_rebalance_loop_turns_over_aim)"
    row3 "  most loop-thread CPU in one turn since start (ms)" "$(fmt raftnode_burst_loop_busy_cpu_max)" "$(fmt raftnode_burst_snapshot_loop_busy_cpu_max)" "$(fmt raftnode_burst_rebalance_loop_busy_cpu_max)"
    row3 "  longest loop stall before the window (start, load) (ms)" "$(fmt raftnode_burst_loop_busy_max_before)" "$(fmt raftnode_burst_snapshot_loop_busy_max_before)" "$(fmt raftnode_burst_rebalance_loop_busy_max_before)"
    row3 "burst rate (adds/s)" "$(fmt raftnode_burst_writes_per_s)" "$(fmt raftnode_burst_snapshot_writes_per_s)" "$(fmt raftnode_burst_rebalance_writes_per_s)"
    row3 "log entries in the window / window (s)" "$(b_pair raftnode_burst log_entries window_s)" "$(b_pair raftnode_burst_snapshot log_entries window_s)" "$(b_pair raftnode_burst_rebalance log_entries window_s)"
    row3 "members that took a snapshot / newest snapshot (MiB)" "$(b_pair raftnode_burst members_snapshotted snapshot_mib)" "$(b_pair raftnode_burst_snapshot members_snapshotted snapshot_mib)" "$(b_pair raftnode_burst_rebalance members_snapshotted snapshot_mib)"
    row3 "rebalance: moves / its duration (s)" "" "" "$(b_pair raftnode_burst_rebalance during_moves during_s)"
}
report() {
    local T="raftnode_throughput" E="etcd_throughput" c a
    echo "raftnode vs etcd $ETCD_VERSION ($MODE run, 3 members each on 127.0.0.1, heartbeat 100 ms, election 1000 ms)"
    echo
    row() { printf '| %-50s | %15s | %15s | %-7s | %s |\n' "$1" "$2" "$3" "$4" "$5"; }
    row "metric" "raftnode" "etcd" "ratio" "aim"
    printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------------------" "-----------------" "-----------------" "---------" "----"
    row "seq write latency p50 (ms)" "$(fmt raftnode_seq_latency_p50)" "$(fmt etcd_seq_latency_p50)" "$(rat seq_latency_p50)" "$(aim seq_latency_p50 '<=' 0.4)"
    row "seq write latency p99 (ms)" "$(fmt raftnode_seq_latency_p99)" "$(fmt etcd_seq_latency_p99)" "$(rat seq_latency_p99)" ""
    row "seq write latency mean (ms)" "$(fmt raftnode_seq_latency_mean)" "$(fmt etcd_seq_latency_mean)" "" ""
    for c in $SWEEP_CLIENTS; do
        a=""
        [ "$c" = 64 ] && a=$(aim throughput_c64 '>=' 5)
        row "throughput, $c clients (writes/s)" "$(fmt ${T}_c${c}_writes_per_s)" "$(fmt ${E}_c${c}_writes_per_s)" "$(rat throughput_c$c)" "$a"
        row "  latency p50 / p99, $c clients (ms)" "$(fmt ${T}_c${c}_p50) / $(fmt ${T}_c${c}_p99)" "$(fmt ${E}_c${c}_p50) / $(fmt ${E}_c${c}_p99)" "" ""
    done
    row "  latency p99 ratio, 64 clients" "" "" "$(rat throughput_c64_p99)" "$(aim throughput_c64_p99 '<=' 1)"
    for c in 64 256; do
        row "client ceiling, no consensus, $c clients (ops/s)" "$(fmt raftnode_read_ceiling_c${c}_writes_per_s)" "$(fmt etcd_client_ceiling_c${c}_writes_per_s)" "" ""
        row "  ceiling / $c-client write rate (aim >= 3x)" "$(fmt raftnode_client_headroom_c$c)" "$(fmt etcd_client_headroom_c$c)" "" ""
    done
    row "  driver CPU during the 64-client writes (% of one CPU)" "" "$(fmt etcd_throughput_c64_client_cpu)" "" ""
    row "leader failover median of $FO_REPS kills (ms)" "$(fmt raftnode_leader_failover_median)" "$(fmt etcd_leader_failover_median)" "$(rat leader_failover_median)" "$(aim leader_failover_median '<=' 1)"
    row "leader failover max (ms)" "$(fmt raftnode_leader_failover_max)" "$(fmt etcd_leader_failover_max)" "$(rat leader_failover_max)" ""
    for c in $MEMB_SIZES; do
        row "$c members: seq write latency p50 / p99 (ms)" "$(fmt raftnode_seq_latency_m${c}_p50) / $(fmt raftnode_seq_latency_m${c}_p99)" "$(fmt etcd_seq_latency_m${c}_p50) / $(fmt etcd_seq_latency_m${c}_p99)" "$(rat seq_latency_p50_m$c)" ""
        row "$c members: throughput, 64 clients (writes/s)" "$(fmt raftnode_throughput_c64_m${c}_writes_per_s)" "$(fmt etcd_throughput_c64_m${c}_writes_per_s)" "$(rat throughput_c64_m$c)" ""
        row "  latency p50 / p99, 64 clients, $c members (ms)" "$(fmt raftnode_throughput_c64_m${c}_p50) / $(fmt raftnode_throughput_c64_m${c}_p99)" "$(fmt etcd_throughput_c64_m${c}_p50) / $(fmt etcd_throughput_c64_m${c}_p99)" "" ""
    done
    row "cold start of an empty cluster (ms)" "$(fmt raftnode_cold_start_ms)" "$(fmt etcd_cold_start_ms)" "" ""
    row "RSS idle, largest member (MiB)" "$(fmt raftnode_rss_idle_max)" "$(fmt etcd_rss_idle_max)" "$(rat rss_idle_max)" ""
    row "RSS idle, 3 members (MiB)" "$(fmt raftnode_rss_idle_total)" "$(fmt etcd_rss_idle_total)" "" ""
    row "load of $MEM_N, 64 clients (writes/s)" "$(fmt raftnode_load_writes_per_s)" "$(fmt etcd_load_writes_per_s)" "" ""
    row "RSS with $MEM_N, largest member (MiB)" "$(fmt raftnode_rss_loaded_${MEM_TAG}_max)" "$(fmt etcd_rss_loaded_${MEM_TAG}_max)" "$(rat rss_loaded_${MEM_TAG}_max)" ""
    row "RSS with $MEM_N, 3 members (MiB)" "$(fmt raftnode_rss_loaded_${MEM_TAG}_total)" "$(fmt etcd_rss_loaded_${MEM_TAG}_total)" "" ""
    row "data dir per member with $MEM_N (MiB)" "$(fmt raftnode_data_dir_$MEM_TAG)" "$(fmt etcd_data_dir_$MEM_TAG)" "" ""
    row "seq latency p50 / p99 with $MEM_N (ms)" "$(fmt raftnode_seq_latency_at_${MEM_TAG}_p50) / $(fmt raftnode_seq_latency_at_${MEM_TAG}_p99)" "$(fmt etcd_seq_latency_at_${MEM_TAG}_p50) / $(fmt etcd_seq_latency_at_${MEM_TAG}_p99)" "$(rat seq_latency_p50_at_$MEM_TAG)" ""
    row "seq latency mean with $MEM_N (ms)" "$(fmt raftnode_seq_latency_at_${MEM_TAG}_mean)" "$(fmt etcd_seq_latency_at_${MEM_TAG}_mean)" "" ""
    row "throughput, 64 clients, with $MEM_N (writes/s)" "$(fmt raftnode_throughput_c64_at_${MEM_TAG}_writes_per_s)" "$(fmt etcd_throughput_c64_at_${MEM_TAG}_writes_per_s)" "$(rat throughput_c64_at_$MEM_TAG)" ""
    row "restart-to-ready with $MEM_N (ms)" "$(fmt raftnode_restart_ready_${MEM_TAG}_ms)" "$(fmt etcd_restart_ready_${MEM_TAG}_ms)" "$(rat restart_ready_$MEM_TAG)" ""
    echo
    burst_report
    echo
    where_report
    echo
    echo "The metastore on one PostgreSQL $PG_VERSION server, same run: Kylin's leader race ($PG_ROWS"
    echo "project rows, heart-beat-interval 30 s) and raftnode's mirror ($MS_PROJECTS projects):"
    echo
    row2() { printf '| %-66s | %20s |\n' "$1" "$2"; }
    row2 "metric" "value"
    printf '|%s|%s|\n' "--------------------------------------------------------------------" "----------------------"
    row2 "renewal round, JDBC batch in one transaction (ms)" "$(fmt kylin_race_renew_round_10k_ms)"
    row2 "renewal round, one round trip per row (ms)" "$(fmt kylin_race_renew_round_10k_rowwise_ms)"
    row2 "metastore writes per minute, forever (Kylin race)" "$(fmt kylin_race_writes_per_min_10k)"
    row2 "PostgreSQL WAL written per day by renewals (MiB)" "$(fmt kylin_race_wal_per_day_10k)"
    row2 "metastore writes per minute when idle (raftnode mirror, measured)" "$(fmt raftnode_metastore_writes_per_min_idle)"
    row2 "mirror lag, decision acknowledged to row visible, p50 (ms)" "$(fmt metastore_lag_p50)"
    row2 "mirror lag, decision acknowledged to row visible, p99 (ms)" "$(fmt metastore_lag_p99)"
    row2 "  decisions/s offered / achieved (project.move, open loop)" "$MS_RATE / $(fmt metastore_lag_decisions_per_s)"
    row2 "  lag max (ms); decisions per mirror transaction" "$(fmt metastore_lag_max); $(fmt metastore_lag_decisions_per_batch)"
    row2 "  project.move reply p50 / p99 (ms)" "$(fmt metastore_lag_ack_p50) / $(fmt metastore_lag_ack_p99)"
    echo
    echo "The quorum driving Kylin (bench/kylin_bench.py): 3 members each paired with an emulated Kylin 5"
    echo "all/job node, heart-beat interval/timeout 1 s / 3 s, own PostgreSQL 15 (Kylin's own race: 60-90 s"
    echo "to fail over, $(fmt kylin_race_writes_per_min_10k) epoch writes per minute with 10,000 projects):"
    echo
    row2 "metric" "value"
    printf '|%s|%s|\n' "--------------------------------------------------------------------" "----------------------"
    row2 "Kylin-node failover, median of $KY_KILLS kill -9 (ms; aim <= 5000)" "$(fmt kylin_node_failover_median)"
    row2 "Kylin-node failover, max (ms)" "$(fmt kylin_node_failover_max)"
    row2 "$KY_PROJECTS projects: add (batches of 500) to all claimed (ms)" "$(fmt kylin_add_and_claim_$((KY_PROJECTS / 1000))k_ms)"
    row2 "$KY_PROJECTS projects: Kylin-node failover, all its projects (ms)" "$(fmt kylin_node_failover_$((KY_PROJECTS / 1000))k_ms)"
    row2 "  projects the killed node owned" "$(fmt kylin_node_failover_$((KY_PROJECTS / 1000))k_projects)"
    row2 "$KY_PROJECTS projects: epoch-table writes per idle minute (aim 0)" "$(fmt kylin_epoch_writes_per_min_idle_$((KY_PROJECTS / 1000))k)"
    row2 "  the emulators' own write counters, per idle minute" "$(fmt kylin_emu_writes_per_min_idle_$((KY_PROJECTS / 1000))k)"
    k_stall() { # the window's longest loop turn of any member; "<= X" when only a bucket bounds it
        local v
        v=$(fmt "$1_loop_busy_max_window")
        [ "$(val "$1_loop_busy_max_window_is_bound")" = 1 ] && v="<= $v"
        echo "$v"
    }
    row2 "$KY_PROJECTS projects: longest loop turn, any member, add to all claimed (ms; aim < 20)" "$(k_stall kylin_add_and_claim_$((KY_PROJECTS / 1000))k)"
    row2 "  turns over 20 ms" "$(fmt kylin_add_and_claim_$((KY_PROJECTS / 1000))k_loop_busy_over_aim)"
    row2 "$KY_PROJECTS projects: longest loop turn, any member, idle (ms; aim < 20)" "$(k_stall kylin_idle_$((KY_PROJECTS / 1000))k)"
    echo
    echo "raftnode is driven by build/bench/loadgen (C, libuv, one connection per client), etcd by"
    echo "build/bench/etcd-go (bench/etcd-go: etcd's own Go client, $ETCD_CLIENT_VERSION; one"
    echo "goroutine per client, one clientv3.Client connection per 10 clients (ET_CONNS=$ET_CONNS; 0 is that"
    echo "default), the ratio of etcd's own performance guide). The ceiling row is each driver's 64-client rate against a"
    echo "target that answers without consensus: raftnode's \`status\` request (no raft, no SQLite"
    echo "write) for loadgen; for etcd-go the same puts against a gRPC KV server inside the driver"
    echo "process that answers at once (its CPU counts against the driver's: a lower bound; the run has"
    echo "8 Go threads, as many as the 3 etcd members and the driver together). A driver"
    echo "at 3x or more of the write rate it measured is not what limits that system."
    echo "The mirror's rows come from build/bench/metastore_bench (C, libuv + libpq: project.move over one"
    echo "API connection, LISTEN on a second PostgreSQL connection, one clock)."
}
{
    echo
    report
    echo
    grep -E '^(RESULT|RATIO) ' "$RES"
} | tee "$WORK/report.txt"

# The sweep's plot (bench/plot-latency.gnuplot, Debian's gnuplot-nox): docs/benchmarks-latency.png
# in a full run, in the work directory in a quick one (kept with BENCH_KEEP=1).
PLOT=""
plot_sweep() { # plot_sweep OUT.png: 0 when drawn
    local dat=$WORK/sweep.dat c v col
    command -v gnuplot >/dev/null || { log "no gnuplot (Debian's gnuplot-nox, tools/install-deps.sh): no plot"; return 1; }
    [ -n "$(val raftnode_throughput_c1_writes_per_s)$(val etcd_throughput_c1_writes_per_s)" ] ||
        { log "no sweep results (phase compare not run): no plot"; return 1; }
    for c in $SWEEP_CLIENTS; do
        printf '%s' "$c"
        for col in raftnode_throughput_c${c}_writes_per_s raftnode_throughput_c${c}_p50 raftnode_throughput_c${c}_p99 \
            etcd_throughput_c${c}_writes_per_s etcd_throughput_c${c}_p50 etcd_throughput_c${c}_p99; do
            v=$(val "$col")
            [[ "$v" =~ ^[0-9.eE+-]+$ ]] || v=n/a
            printf ' %s' "$v"
        done
        printf '\n'
    done >"$dat"
    gnuplot -e "datafile='$dat'; outfile='$1.tmp'; subtitle='raftnode vs etcd $ETCD_VERSION, 3 members each, $(date -u '+%Y-%m-%d'), $MODE run, load average $LOAD_START at the start'" \
        "$ROOT/bench/plot-latency.gnuplot" 2>"$WORK/gnuplot.err" && mv "$1.tmp" "$1" ||
        { log "gnuplot failed: $(head -c 500 "$WORK/gnuplot.err")"; rm -f "$1.tmp"; return 1; }
    log "plot: $1"
}
if [ "$MODE" = full ]; then
    plot_sweep "$ROOT/docs/benchmarks-latency.png" && PLOT=benchmarks-latency.png
else
    plot_sweep "$WORK/benchmarks-latency.png"
fi

if [ "$MODE" = full ]; then
    DOC=$ROOT/docs/benchmarks.md
    {
        echo "# Benchmarks: raftnode vs etcd"
        echo
        echo "Latest full run, written by \`bench/run.sh full\` (\`make bench\`); \`make bench-quick\`"
        echo "runs a shorter version and prints to stdout only. Do not edit by hand: rerun."
        echo
        echo "* date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "* command: \`make bench\` (= \`bash bench/run.sh full\`), wall time $(($(date +%s) - T_START)) s"
        echo "* machine: $(nproc) CPUs ($CPU_MODEL), $MEM_TOTAL RAM, kernel $(uname -r), data on $FS_TYPE"
        echo "* shared machine: other jobs ran beside this benchmark (load average $LOAD_START at the start,"
        echo "  $(cut -d' ' -f1-3 /proc/loadavg) at the end): absolute figures vary from run to run; compare the two"
        echo "  systems through the ratios of this one run (both measured in it, one after the other)"
        echo "* raftnode: libraft $RAFT_VERSION, libuv $LIBUV_VERSION, SQLite $SQLITE_VERSION; git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet -- . ':!docs/benchmarks.md' ':!docs/benchmarks-latency.png' 2>/dev/null || echo ' + uncommitted changes')"
        echo "* etcd: $ETCD_VERSION (Debian etcd-server), client bench/etcd-go: $ETCD_CLIENT_VERSION, one connection per 10 clients (ET_CONNS=$ET_CONNS)"
        echo "* PostgreSQL: $PG_VERSION (private instance, default settings: fsync and synchronous_commit on)"
        echo
        echo "## Method"
        echo
        cat <<'EOF'
Both clusters run in the same run on the same machine: 3 members each on 127.0.0.1, data
in one temporary directory (one filesystem), heartbeat 100 ms and election timeout
1000 ms (raftnode `raft.heartbeat-timeout-ms=100`, `raft.election-timeout-ms=1000`; etcd
`--heartbeat-interval 100 --election-timeout 1000`, other flags default). Both fsync
every log write. Clients connect to the leader over persistent connections.

* Sequential latency: one client, one write at a time (`project.add` with a unique name;
  etcd: a put of a unique key with a 32-byte value); every latency recorded.
* Drivers: raftnode by `build/bench/loadgen` (C, one connection per client); etcd by
  `build/bench/etcd-go` (bench/etcd-go, etcd's own Go client `clientv3`, built offline from
  Debian's golang-etcd-server-dev; one goroutine per client, the clients sharing one
  `clientv3.Client` (gRPC connection) per 10, the ratio of etcd's own performance guide,
  1,000 clients over 100 connections: measured here, 64 clients over 1 or 8 connections wrote
  25-35% faster than over 64). Client ceiling: each driver at 64 clients against a
  target that answers without consensus (loadgen: raftnode's `status`; etcd-go: its puts against
  a gRPC KV server inside the driver process that answers at once, so the server's CPU counts
  against the client's: a lower bound; GOMAXPROCS 8 in that run, the Go threads of the three
  etcd members and the driver together, so that on a shared machine it gets the CPU share the
  measured setup got); its ratio to the measured write rate should be 3x or
  more, so that no client limits either system.
* Throughput, the client sweep: N = 1, 4, 16, 64 and 256 clients in a closed loop (one
  request in flight each; etcd-go: 26 connections for 256), each point on fresh clusters,
  64 clients for 15 s, the other points for 6 s, 2 s of warm-up excluded; p50 and p99 of
  every write's latency against the write rate, plotted below. The drivers' ceilings are
  measured at 64 and at 256 clients.
* 5 and 7 members: fresh clusters of that size, same settings, both systems: 2,000
  sequential writes (p50, p99), then 64 clients for 6 s.
* Failover: SIGKILL the leader; from the kill, every 10 ms each surviving member gets a
  new write (earlier attempts are not waited for); the time to the first successful
  reply. The killed member is restarted and caught up before the next round.
* Each of the above runs on fresh clusters (one system at a time, the other stopped), so
  every workload starts empty. raftnode's engines register right after the first election, so
  the leader also places every new project on an engine (an `assign` entry per project,
  batched) while the workload runs: part of the cost of a project.add.
* At scale (fresh clusters again): VmRSS of every member 2 s after start (idle); N projects
  / keys loaded by 64 clients; for raftnode the cluster is then left to reach steady state
  (every project placed, the log quiet for 3 s); then VmRSS, sequential latency and
  64-client throughput with that data.
* Burst (load held): a fresh raftnode cluster with `raft.http.address` set, engines
  registered; 10,000 pipelined `project.add` on one connection to the leader
  (`bench/burst.py`), every reply checked; from each member's /metrics before and after the
  window (from the first add until the burst and any command beside it ended and no member's
  log moved for 1 s, so the placement of the new projects is in it): term and leader id (any
  change is an election) and the event-loop turns (wall time between two turns minus the time
  blocked in poll, `uv_metrics_idle_time`: exact, where the 100 ms lag timer only samples).
  The window's longest turn is `raftnode_loop_busy_max_seconds` where a member's maximum rose
  in the window (exact), otherwise the bound of the highest `raftnode_loop_busy_seconds`
  histogram bucket that gained turns (shown as "<= X"); the turns over 20 ms are counted from
  the histogram. Aim: under 20% of the heartbeat interval (20 ms), no election. Run three times,
  each on a fresh cluster: alone; during snapshots (`raft.snapshot-threshold=20`, 10,000
  projects loaded and placed first, so every member snapshots a state of 10,000-20,000 projects
  several times in the window; snapshots counted from the members' raft directories); and
  during a rebalance (10,000 projects loaded and placed, engine 3 drained and undrained, then
  `raftctl rebalance` started just before the first add: about a third of the projects move
  back in slices of 256 moves).
* Where raftnode's time goes: a fresh cluster serving /metrics, 64 clients for 6 s through
  `bench/where_time.py`, which reads each member's own histograms before and after the run:
  `raftnode_api_request_duration_seconds` (request dispatched to reply, on the leader),
  `raftnode_proposal_commit_seconds` (entry proposed to applied),
  `raftnode_raft_append_duration_seconds` (disk append), `raftnode_proposal_batch_commands`
  (writes per entry), `raftnode_loop_busy_seconds` (the leader's loop outside poll) and the
  members' CPU from /proc. Finer, by hand: `bash bench/profile.sh` (perf) traces the leader
  and prints the stages of a write (disk append, replication round trip, SQLite apply) and
  the event-loop stalls under 64 clients.
  `bench/ab.sh` compares two raftnode binaries back to back and, with `AB_PERF`, splits the
  members' CPU by component (the profile section below, kept in bench/where-the-time-goes.md
  and copied here by each run).
* Restart-to-ready: SIGKILL all three members, start them again; time from the start
  until every member reports all pre-kill entries applied (raftnode: `status`
  applied_index; etcd: a serializable get of the last key on each member) and a write
  succeeds.
* Kylin race: Kylin 5's renewal statement (`JdbcEpochStore.updateBatch`: one CAS
  `update ... where epoch_target=? and mvcc=?` per owned row, as one JDBC batch in one
  transaction) against 10,000 project rows in a private PostgreSQL. Its writes per minute
  are Kylin's schedule (every owned row renewed every `heart-beat-interval`, 30 s), forever.
* raftnode's metastore mirror, on the same PostgreSQL server in the same run (tables
  `raftbench_*`; `build/bench/metastore_bench`): a fresh 3-member cluster whose members
  carry `raft.metastore.url`, engines heartbeating every 5 s (an engine retries an unacknowledged
  heartbeat within 100 ms, so the interval does not delay registration), 10,000 projects
  added and placed, then:
  * lag: `project.move` at 1,000 decisions/s, open loop (the k-th request is due k ms
    after the start, whatever the replies do) over one persistent connection to the
    leader, each handing one project (round robin over the 10,000) to the next engine: one
    decision, a new epoch, one changed `_epoch` row. A row trigger the benchmark adds to
    `raftbench_epoch` (and drops afterwards; not part of the mirror's DDL) calls
    `pg_notify`; PostgreSQL delivers a notification only once the writing transaction
    has committed, so its arrival on the benchmark's `LISTEN` connection is the moment the
    row became visible. Lag of a decision = that arrival - the arrival of the move's OK
    reply (sent by the leader once the entry is committed and applied), both on one
    monotonic clock in one process; the first 2 s are excluded. Also reported: the
    interval between the mirror's committed transactions (bursts of notifications) and
    the decisions per transaction.
  * idle: once the mirror has committed nothing for 11 s (PostgreSQL publishes a
    backend's table counters up to 10 s after its last transaction), the sum of
    `n_tup_ins + n_tup_upd + n_tup_del` of the four `raftbench_*` tables in
    `pg_stat_user_tables`, before and after 60 s (`make bench-quick`: 20 s), per minute.
    The cluster keeps committing heartbeat entries meanwhile; the mirror's own row
    counter (`raftctl metastore status`, `writes`) over the window is printed too.
* The quorum driving Kylin (`bench/kylin_bench.py`, its own PostgreSQL 15 from
  `tests/metastore/dbservers.py`, which runs with fsync off): 3 members, member i with
  `raft.kylin.url` of emulated Kylin node i (`tests/kylin/`, the recommended settings of
  docs/kylin.md and Kylin's default 30 s scheduler poll; each serves its project list from
  memory, re-read every second, as Kylin serves it from its metadata cache), heart-beat interval/timeout 1 s / 3 s,
  `raft.kylin.health-interval-ms=300`, `raft.kylin.timeout-ms=3000`. Failover: kill -9 of one Kylin process (its member
  stays up); the time from the kill until every project it owned has a live Kylin node's
  identity in `kylin_metadata_epoch` (polled every 20 ms), over 12 projects; between kills the
  emulator is restarted (new identity) and `raftctl rebalance` gives it projects again. Then
  10,000 projects (`KY_PROJECTS`) written into Kylin's `kylin_metadata` table in one transaction (key
  `/_global/project/NAME.json`, `GZIP` + zlib level 1, as Kylin's createProject writes them),
  `raftctl project add` in batches of 500, time until all are claimed; idle: after 11 s without
  a change, `n_tup_ins + n_tup_upd + n_tup_del` of `kylin_metadata_epoch` over 60 s (quick: 20 s)
  plus 11 s, and the emulators' own committed-write counters over the 60 s, per minute; then
  kill -9 of the Kylin node owning the most projects, the time until all of them are claimed.
  The longest loop turns: every member's `raftnode_loop_busy_max_seconds` and
  `raftnode_loop_busy_seconds` before and after the add-to-claimed window and the idle window
  (`bench/burst.py`'s rule: exact when a member's maximum rose in the window, else the bound
  of the highest histogram bucket that gained turns).
EOF
        echo
        cat "$ROOT/bench/where-the-time-goes.md"
        echo
        echo "## Results"
        echo
        report
        echo
        if [ -n "$PLOT" ]; then
            echo "## Latency against throughput"
            echo
            echo "The client sweep above (1, 4, 16, 64 and 256 clients, closed loop, each point on fresh"
            echo "clusters; 64 clients for ${TP_DUR} s, the others for ${SWEEP_DUR} s, ${TP_WARM} s of warm-up excluded),"
            echo "p50 and p99 latency against the write rate; drawn by gnuplot (bench/plot-latency.gnuplot):"
            echo
            echo "![write latency against throughput, raftnode and etcd, 1-256 clients]($PLOT)"
            echo
        fi
        echo '```'
        grep -E '^(RESULT|RATIO) ' "$RES"
        echo '```'
    } >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
    log "wrote $DOC"
fi
log "done in $(($(date +%s) - T_START)) s"
