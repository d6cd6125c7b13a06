#!/usr/bin/python3
"""Where a raftnode write's time goes, from the members' own /metrics (the `where` phase of
bench/run.sh; bench/profile.sh is the finer, perf-based view, run by hand).

Runs a workload command (e.g. loadgen with 64 clients) against a running cluster whose members
serve /metrics, scraping every member before and after it, and reports over that window:

  api_ms             mean of raftnode_api_request_duration_seconds on the leader: a request's
                     dispatch to its reply (a write: until applied)
  commit_ms          mean of raftnode_proposal_commit_seconds: the leader proposing a log entry
                     to having applied it (disk append, replication, commit, SQLite apply)
  append_ms          mean of raftnode_raft_append_duration_seconds on the leader / on the
                     followers: libraft's disk append of a batch of entries
  commands_per_entry raftnode_proposal_batch_commands: writes batched into one log entry
  loop_busy_pct      the leader's event-loop busy time (raftnode_loop_busy_seconds) over the
                     window: near 100 the loop thread is what limits the rate
  cpu_pct            the leader's and the followers' process CPU (utime + stime, all threads)
                     over the window, in % of one CPU

  where_time.py --metrics HOST:PORT,... --pids PID,... [--label L] -- COMMAND ARG...

--pids in --metrics order. The command's output is passed through (bench/run.sh collects its
RESULT lines); exit status: the command's.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from burst import scrape  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of PID (every thread) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def mean(before, after, name):
    """Mean of histogram NAME over the window, or None when nothing was observed."""
    n = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
    return (after[f"{name}_sum"] - before[f"{name}_sum"]) / n if n > 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", required=True, help="every member's raft.http.address, comma-separated")
    ap.add_argument("--pids", required=True, help="every member's process id, in --metrics order")
    ap.add_argument("--label", default="raftnode_where")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the workload command")
    args = ap.parse_args()
    members = [m for m in args.metrics.split(",") if m]
    pids = [int(p) for p in args.pids.split(",") if p]
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if len(pids) != len(members) or not cmd:
        ap.error("--pids must name as many processes as --metrics, and a command must follow --")

    before = [scrape(m) for m in members]
    cpu0 = [cpu_s(p) for p in pids]
    t0 = time.monotonic()
    rc = subprocess.call(cmd)
    secs = time.monotonic() - t0
    cpu1 = [cpu_s(p) for p in pids]
    after = [scrape(m) for m in members]

    leaders = [i for i, a in enumerate(after) if a.get("raftnode_is_leader") == 1]
    if len(leaders) != 1 or before[leaders[0]].get("raftnode_is_leader") != 1:
        print(f"where_time: the leader changed during the workload ({len(leaders)} leaders after it):"
              " no breakdown", file=sys.stderr)
        return rc or 1
    li = leaders[0]
    b, a = before[li], after[li]
    L = args.label

    def out(name, v, unit, scale=1.0, fmt=".3f"):
        print(f"RESULT {L}_{name} {'n/a' if v is None else format(v * scale, fmt)} {unit}")

    out("api_ms", mean(b, a, "raftnode_api_request_duration_seconds"), "ms", 1000)
    out("commit_ms", mean(b, a, "raftnode_proposal_commit_seconds"), "ms", 1000)
    out("append_leader_ms", mean(b, a, "raftnode_raft_append_duration_seconds"), "ms", 1000)
    fol = [mean(x, y, "raftnode_raft_append_duration_seconds") for i, (x, y) in enumerate(zip(before, after))
           if i != li]
    fol = [v for v in fol if v is not None]
    out("append_follower_ms", sum(fol) / len(fol) if fol else None, "ms", 1000)
    out("commands_per_entry", mean(b, a, "raftnode_proposal_batch_commands"), "commands", 1, ".1f")
    entries = a["raftnode_last_log_index"] - b["raftnode_last_log_index"]
    out("entries_per_s", entries / secs, "entries/s", 1, ".1f")
    busy = a.get("raftnode_loop_busy_seconds_sum", 0) - b.get("raftnode_loop_busy_seconds_sum", 0)
    out("loop_busy_pct", busy / secs, "%", 100, ".1f")
    out("leader_cpu_pct", (cpu1[li] - cpu0[li]) / secs, "%", 100, ".1f")
    fcpu = [(cpu1[i] - cpu0[i]) / secs for i in range(len(pids)) if i != li]
    out("follower_cpu_pct", sum(fcpu) / len(fcpu) if fcpu else None, "%", 100, ".1f")
    return rc


if __name__ == "__main__":
    sys.exit(main())
