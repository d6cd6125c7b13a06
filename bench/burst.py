#!/usr/bin/python3
"""Load held (issue 13): the `burst` phase of bench/run.sh. Sends N pipelined project.add on one
connection to the leader of a running raftnode cluster whose members serve /metrics
(raft.http.address), and reports from every member's /metrics, before and after:
raftnode_loop_busy_max_seconds (the longest event-loop turn since start, measured exactly:
loop_busy.c), the term and leader id (a change = an election during the burst).

The longest turn *in the window* (from the first scrape to the last): exact when some member's
raftnode_loop_busy_max_seconds rose in it (the new maximum happened in the window); otherwise
it is at most the upper bound of the highest raftnode_loop_busy_seconds histogram bucket that
gained turns in the window (reported with _loop_busy_max_window_is_bound 1). The turns longer
than 20 ms (20% of a 100 ms heartbeat) in the window come from the same histogram.

--during CMD ARG...: a command started just before the first add (e.g. `raftctl rebalance`);
the window lasts until both the burst and the command finished. Its exit status, duration and
(for a JSON answer with "moves", raftctl -w json) the number of moves are reported.

  burst.py --api HOST:PORT --metrics HOST:PORT,HOST:PORT,... [--n 10000] [--label L]
           [--during CMD ARG...]

Output: RESULT <label>_<metric> <value> <unit> lines (bench/run.sh collects them). Exit 1 when
an add failed or the leader changed; the figures are printed either way.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cluster"))
from pipeline import api_many  # noqa: E402


BUSY_HIST = "raftnode_loop_busy_seconds_bucket"
STALL_AIM_S = 0.02  # 20% of the 100 ms heartbeat interval bench/run.sh configures


def scrape(addr):
    """Unlabelled samples by name; the loop-busy histogram's cumulative buckets as
    out["busy_le"][upper bound in s] (+Inf as float("inf"))."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        out = {"busy_le": {}}
        for line in r.read().decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            if "{" not in name:
                out[name] = float(value)
            elif name.startswith(BUSY_HIST + '{le="'):
                le = name[len(BUSY_HIST) + 5:].split('"', 1)[0]
                out["busy_le"][float("inf") if le == "+Inf" else float(le)] = float(value)
        if not out["busy_le"]:
            raise SystemExit(f"burst: {addr}/metrics has no {BUSY_HIST} lines")
        return out


def window_busy(before, after):
    """(turns longer than STALL_AIM_S, upper bound of the longest turn in s) between two scrapes
    of one member, from the cumulative histogram."""
    b, a = before["busy_le"], after["busy_le"]
    bounds = sorted(a)
    total = a[float("inf")] - b.get(float("inf"), 0)
    under_aim = a.get(STALL_AIM_S, 0) - b.get(STALL_AIM_S, 0)
    bound = 0.0
    for le in bounds:  # the first bound under which every turn of the window falls
        if a[le] - b.get(le, 0) >= total:
            bound = le
            break
    return total - under_aim, bound


def newest_snapshot(raft_dir):
    """(index, bytes) of the newest snapshot libraft keeps in RAFT_DIR (files
    snapshot-TERM-INDEX-TIMESTAMP and their .meta), or (0, 0). The directory is read because
    raftnode_snapshot_index reads 0 with libraft 0.22 (r->legacy.snapshot_index is not kept)."""
    best = (0, 0)
    for name in os.listdir(raft_dir):
        parts = name.split("-")
        if name.startswith("snapshot-") and name.endswith(".meta") and len(parts) == 4:
            data = os.path.join(raft_dir, name[:-len(".meta")])
            try:
                best = max(best, (int(parts[2]), os.path.getsize(data)))
            except (ValueError, OSError):
                continue  # removed meanwhile (libraft keeps the newest two)
    return best


def settle(members, quiet_s, deadline_s):
    """Waits until no member's last log index moved for quiet_s (the work the burst caused, e.g.
    the scheduler placing the new projects, is part of the window); False at the deadline."""
    if quiet_s <= 0:
        return True
    end = time.monotonic() + deadline_s
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        idx = [scrape(m).get("raftnode_last_log_index") for m in members]
        if idx != last:
            last, since = idx, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return True
        time.sleep(0.1)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", required=True, help="the leader's raft.api.address")
    ap.add_argument("--metrics", required=True, help="every member's raft.http.address, comma-separated")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--prefix", default="burst")
    ap.add_argument("--label", default="raftnode_burst")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--raft-dirs", default="",
                    help="every member's raft directory (DATA_DIR/raft), comma-separated, in --metrics order: "
                         "snapshots taken in the window")
    ap.add_argument("--settle-s", type=float, default=1.0,
                    help="after the burst, wait until the logs were quiet this long (0: do not)")
    ap.add_argument("--during", nargs=argparse.REMAINDER, default=[],
                    help="a command run beside the burst (the rest of the command line)")
    args = ap.parse_args()
    members = [m for m in args.metrics.split(",") if m]
    names = [{"name": f"{args.prefix}_{i:06d}"} for i in range(args.n)]
    raft_dirs = [d for d in args.raft_dirs.split(",") if d]
    if raft_dirs and len(raft_dirs) != len(members):
        raise SystemExit("burst: --raft-dirs must name as many directories as --metrics")
    snaps_before = [newest_snapshot(d) for d in raft_dirs]
    before = [scrape(m) for m in members]
    L = args.label
    t0 = time.monotonic()
    during = None
    if args.during:
        try:
            during = subprocess.Popen(args.during, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise SystemExit(f"burst: cannot start {args.during[0]}: {e}")
    replies = api_many(args.api, "project.add", names, timeout=args.timeout)
    secs = time.monotonic() - t0
    if during is not None:
        try:
            out, err = during.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            during.kill()
            out, err = during.communicate()
            print(f"burst: {' '.join(args.during)} outlasted {args.timeout} s: killed", file=sys.stderr)
        dsecs = time.monotonic() - t0
        print(f"RESULT {L}_during_exit {during.returncode} status")
        print(f"RESULT {L}_during_s {dsecs:.2f} s")
        try:
            print(f"RESULT {L}_during_moves {len(json.loads(out)['moves'])} count")
        except (ValueError, KeyError, TypeError):
            pass
        if during.returncode != 0:
            print(f"burst: {' '.join(args.during)} exited {during.returncode}: {err.strip()[-500:]}",
                  file=sys.stderr)
    settled = settle(members, args.settle_s, 60)
    after = [scrape(m) for m in members]
    snaps_after = [newest_snapshot(d) for d in raft_dirs]
    bad = [r for r in replies if r["status"] != 0]
    codes = sorted({r.get("code", "?") for r in bad})
    changed = sum(1 for b, a in zip(before, after)
                  if (b["raftnode_term"], b["raftnode_leader_id"]) != (a["raftnode_term"], a["raftnode_leader_id"]))
    busy_before = max(b["raftnode_loop_busy_max_seconds"] for b in before) * 1000
    busy_after = max(a["raftnode_loop_busy_max_seconds"] for a in after) * 1000
    cpu_after = max(a["raftnode_loop_busy_cpu_max_seconds"] for a in after) * 1000
    # The window's longest turn, per member: exact where its maximum rose in the window, else
    # at most both its bucket bound and its earlier maximum. Exact overall when the largest
    # exact value is at least every other member's bound.
    win = [window_busy(b, a) for b, a in zip(before, after)]
    exact, bounds = [], []
    for (_, bnd), b, a in zip(win, before, after):
        mb, ma = b["raftnode_loop_busy_max_seconds"], a["raftnode_loop_busy_max_seconds"]
        (exact if ma > mb else bounds).append(ma if ma > mb else min(bnd, mb))
    if exact and max(exact) >= max(bounds, default=0.0):
        win_max, is_bound = max(exact), 0
    else:
        win_max, is_bound = max(exact + bounds), 1
    print(f"RESULT {L}_acked {args.n - len(bad)} count")
    print(f"RESULT {L}_failed {len(bad)} count")
    print(f"RESULT {L}_members_with_new_term_or_leader {changed} count")
    print(f"RESULT {L}_writes_per_s {args.n / secs:.1f} writes/s")
    # The longest loop turn of any member since its start, before the burst (start-up) and
    # after it: when the second is larger, it happened during the burst.
    print(f"RESULT {L}_loop_busy_max_before {busy_before:.2f} ms")
    print(f"RESULT {L}_loop_busy_max {busy_after:.2f} ms")
    print(f"RESULT {L}_loop_busy_cpu_max {cpu_after:.2f} ms")
    print(f"RESULT {L}_loop_busy_max_window {win_max * 1000:.2f} ms")
    print(f"RESULT {L}_loop_busy_max_window_is_bound {is_bound} flag")
    print(f"RESULT {L}_loop_turns_over_aim {sum(int(w[0]) for w in win)} count")
    print(f"RESULT {L}_log_entries {after[0]['raftnode_last_log_index'] - before[0]['raftnode_last_log_index']:.0f} entries")
    if raft_dirs:
        print(f"RESULT {L}_members_snapshotted {sum(1 for b, a in zip(snaps_before, snaps_after) if a[0] > b[0])} count")
        print(f"RESULT {L}_snapshot_mib {max(a[1] for a in snaps_after) / 1048576:.1f} MiB")
    print(f"RESULT {L}_window_s {time.monotonic() - t0:.2f} s")
    if not settled:
        print("burst: the logs still moved 60 s after the burst", file=sys.stderr)
    for i, (sb, sa) in enumerate(zip(snaps_before, snaps_after), 1):
        print(f"INFO member {i}: newest snapshot at index {sb[0]} -> {sa[0]} ({sa[1] / 1048576:.1f} MiB)")
    for i, (b, a, w) in enumerate(zip(before, after, win), 1):
        print(f"INFO member {i}: longest loop turn {a['raftnode_loop_busy_max_seconds'] * 1000:.2f} ms "
              f"(most CPU in one turn {a['raftnode_loop_busy_cpu_max_seconds'] * 1000:.2f} ms), "
              f"lag timer max {a['raftnode_loop_lag_max_seconds'] * 1000:.2f} ms; in the window "
              f"{w[0]:.0f} turns over {STALL_AIM_S * 1000:.0f} ms, all under {w[1] * 1000:g} ms; last log index "
              f"{b['raftnode_last_log_index']:.0f} -> {a['raftnode_last_log_index']:.0f}")
    if bad:
        print(f"burst: {len(bad)} of {args.n} adds failed (codes {codes}); first: {bad[0]}", file=sys.stderr)
    if changed:
        print(f"burst: the term or leader changed on {changed} member(s) during the burst", file=sys.stderr)
    return 1 if bad or changed or (during is not None and during.returncode != 0) else 0


if __name__ == "__main__":
    sys.exit(main())
