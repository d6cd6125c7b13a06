# bench/cluster3.sh — sourced by bench/profile.sh and bench/ab.sh: a 3-member raftnode cluster
# on 127.0.0.1 with bench/run.sh's settings (heartbeat 100 ms, election 1000 ms).
#   cluster3_start BIN DIR [EXTRA_CONF]: writes DIR/n{1,2,3}.properties on six free ports,
#       starts the members (their logs in DIR/n*.log); sets C3_EPS (the API endpoints) and
#       C3_PIDS (member i's PID at index i - 1). The caller stops them by PID:
#   cluster3_kill PID...: SIGKILL, then waits up to 5 s for each to be gone.
#   cluster3_free_ports N: N ports free on 127.0.0.1 (bench/rebalance_turn.sh's /metrics ports).
# cluster3_free_ports N: N distinct ports free on 127.0.0.1 now, space-separated.
cluster3_free_ports() {
    /usr/bin/python3 -c '
import random, socket, sys
got, socks = [], []
while len(got) < int(sys.argv[1]):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    socks.append(s); got.append(p)
print(" ".join(map(str, got)))' "$1"
}

cluster3_start() {
    local bin=$1 dir=$2 extra=${3:-} i ports
    ports=($(cluster3_free_ports 6))
    C3_EPS=127.0.0.1:${ports[3]},127.0.0.1:${ports[4]},127.0.0.1:${ports[5]}
    C3_PIDS=()
    for i in 1 2 3; do
        cat >"$dir/n$i.properties" <<EOF
raft.node.id=$i
raft.node.address=127.0.0.1:${ports[$((i - 1))]}
raft.api.address=127.0.0.1:${ports[$((i + 2))]}
raft.data-dir=$dir/n$i
raft.initial-cluster=1=127.0.0.1:${ports[0]},2=127.0.0.1:${ports[1]},3=127.0.0.1:${ports[2]}
raft.election-timeout-ms=1000
raft.heartbeat-timeout-ms=100
raft.log-level=warn
$extra
EOF
        "$bin" -c "$dir/n$i.properties" >"$dir/n$i.log" 2>&1 &
        C3_PIDS+=($!)
        disown $!
    done
}

cluster3_kill() {
    local p
    for p in "$@"; do kill -KILL "$p" 2>/dev/null; done
    for p in "$@"; do
        for _ in $(seq 1 100); do [ -e "/proc/$p" ] || break; sleep 0.05; done
    done
}
