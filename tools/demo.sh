#!/usr/bin/env bash
# `make demo`: the quorum and Kylin side by side (tools/kylin_demo.py does the show). Starts a
# private PostgreSQL 15 (var/demo/pg, 127.0.0.1, free port), 3 raftnode members and 3 emulated
# Kylin 5 all/job nodes (tests/kylin/, the settings docs/kylin.md recommends plus a 1 s
# scheduler poll), member i paired with Kylin node i (raft.kylin.url,
# kylin.server.identity=127.0.0.1:PORT_i). Creates projects in Kylin (POST /emu/projects) and
# adds them to the quorum (raftctl project add), prints per project the quorum owner, the
# epoch table's row and which Kylin node runs its scheduler and passes checkEpochOwner; then
# kills -9 the Kylin process owning the most projects, shows them move, restarts it and
# rebalances. Ctrl-C stops everything it started (by PID). DEMO_EXIT_WHEN_DONE=1 stops after
# the show. var/demo is recreated on every run.
set -u
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it starts a private PostgreSQL as user postgres)" >&2; exit 1; }
[ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "demo: PostgreSQL 15 missing (run make deps)" >&2; exit 1; }
command -v java >/dev/null || { echo "demo: java missing (openjdk-17-jdk-headless)" >&2; exit 1; }
# The show runs in its own session, so Ctrl-C reaches only this script, which forwards it as
# SIGTERM to the show's PID; the show stops its Kylin nodes, members and PostgreSQL by PID.
setsid /usr/bin/python3 tools/kylin_demo.py &
show=$!
trap 'kill -TERM "$show" 2>/dev/null' INT TERM
rc=0
for _ in $(seq 1 100000); do
  wait "$show"; rc=$?
  kill -0 "$show" 2>/dev/null || break
done
exit "$rc"
