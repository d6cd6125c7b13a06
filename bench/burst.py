#!/usr/bin/python3
"""Load held (issue 13): the `burst` phase of bench/run.sh. Sends N pipelined project.add on one
connection to the leader of a running raftnode cluster whose members serve /metrics
(raft.http.address), and reports from every member's /metrics, before and after:
raftnode_loop_busy_max_seconds (the longest event-loop turn since start, measured exactly:
loop_busy.c), the term and leader id (a change = an election during the burst).

  burst.py --api HOST:PORT --metrics HOST:PORT,HOST:PORT,... [--n 10000] [--label L]

Output: RESULT <label>_<metric> <value> <unit> lines (bench/run.sh collects them). Exit 1 when
an add failed or the leader changed; the figures are printed either way.
"""
import argparse
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cluster"))
from pipeline import api_many  # noqa: E402


def scrape(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.partition(" ")
                out[name] = float(value)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", required=True, help="the leader's raft.api.address")
    ap.add_argument("--metrics", required=True, help="every member's raft.http.address, comma-separated")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--prefix", default="burst")
    ap.add_argument("--label", default="raftnode_burst")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    members = [m for m in args.metrics.split(",") if m]
    before = [scrape(m) for m in members]
    t0 = time.monotonic()
    replies = api_many(args.api, "project.add", [{"name": f"{args.prefix}_{i:06d}"} for i in range(args.n)],
                       timeout=args.timeout)
    secs = time.monotonic() - t0
    after = [scrape(m) for m in members]
    bad = [r for r in replies if r["status"] != 0]
    codes = sorted({r.get("code", "?") for r in bad})
    changed = sum(1 for b, a in zip(before, after)
                  if (b["raftnode_term"], b["raftnode_leader_id"]) != (a["raftnode_term"], a["raftnode_leader_id"]))
    busy_before = max(b["raftnode_loop_busy_max_seconds"] for b in before) * 1000
    busy_after = max(a["raftnode_loop_busy_max_seconds"] for a in after) * 1000
    cpu_after = max(a["raftnode_loop_busy_cpu_max_seconds"] for a in after) * 1000
    L = args.label
    print(f"RESULT {L}_acked {args.n - len(bad)} count")
    print(f"RESULT {L}_failed {len(bad)} count")
    print(f"RESULT {L}_members_with_new_term_or_leader {changed} count")
    print(f"RESULT {L}_writes_per_s {args.n / secs:.1f} writes/s")
    # The longest loop turn of any member since its start, before the burst (start-up) and
    # after it: when the second is larger, it happened during the burst.
    print(f"RESULT {L}_loop_busy_max_before {busy_before:.2f} ms")
    print(f"RESULT {L}_loop_busy_max {busy_after:.2f} ms")
    print(f"RESULT {L}_loop_busy_cpu_max {cpu_after:.2f} ms")
    for i, a in enumerate(after, 1):
        print(f"INFO member {i}: longest loop turn {a['raftnode_loop_busy_max_seconds'] * 1000:.2f} ms "
              f"(most CPU in one turn {a['raftnode_loop_busy_cpu_max_seconds'] * 1000:.2f} ms), "
              f"lag timer max {a['raftnode_loop_lag_max_seconds'] * 1000:.2f} ms")
    if bad:
        print(f"burst: {len(bad)} of {args.n} adds failed (codes {codes}); first: {bad[0]}", file=sys.stderr)
    if changed:
        print(f"burst: the term or leader changed on {changed} member(s) during the burst", file=sys.stderr)
    return 1 if bad or changed else 0


if __name__ == "__main__":
    sys.exit(main())
