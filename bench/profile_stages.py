#!/usr/bin/python3
"""Turns `perf script` output taken on a raftnode leader into a stage breakdown (used by
bench/profile.sh).

  profile_stages.py syscalls FILE
      FILE: syscall tracepoints (read enter/exit, io_submit, writev, pwrite64, write) of the
      leader during a sequential write run (one request at a time). For each request:
        request read (API socket, libuv's 64 KiB read)  -> io_submit (raft append started)
        -> writev to a follower (AppendEntries sent)    -> 8-byte eventfd read (local AIO
        append done) / first 16-byte read from a follower socket (AppendEntries result)
        -> first pwrite64 (SQLite WAL, apply)            -> write on the API socket (reply).
  profile_stages.py probes FILE SECONDS
      FILE: uprobes X / X__return (perf probe) and epoll_wait enter/exit: duration of each
      probed function per thread kind (the event loop's thread, the one calling epoll_wait,
      or "pool": libuv's thread pool, where WAL checkpoints run), its share of the wall time
      (loop share: of the event loop's), and how long the event loop stays busy between two
      epoll_waits.
  profile_stages.py requests FILE
      FILE: the same trace with project_add (handler), flush (the batch handed to raft),
      entry (store_apply, with its index) and reply (api_write_wait_done, with the index) probes:
      for each project.add under load, the wait in each stage of the leader.
  profile_stages.py cpu FILE [PID=ROLE...]
      FILE: `perf script -F pid,tid,comm,ip,sym,dso` of a `perf record --call-graph dwarf` of
      the members (bench/ab.sh with AB_PERF): each CPU sample goes to the first component
      below whose function is on its stack; the share of each, per member and for all.
"""
import bisect
import collections
import re
import statistics
import sys

EV = re.compile(r'\s(\d+\.\d+):\s+(\S+):(\S+?)(__return)?:\s*(.*)')
TID = re.compile(r'^\s*\S+\s+(\d+)\s')


# (component, functions on the stack), first match wins: SQLite's own work is split by the
# raftnode function that called it.
CPU_COMPONENTS = [
    ("SQLite WAL checkpoint (thread pool)", ("sqlite3_wal_checkpoint_v2", "store_checkpointer_run")),
    ("SQLite page writes to the WAL (commit)", ("sqlite3WalFrames",)),
    ("apply: project.add statements", ("apply_project_add", "refuse_case_twin")),
    ("apply: assign statements (placement)", ("ownership_apply",)),
    ("apply: begin/savepoints/meta/decode", ("store_apply", "store_commit", "fsm_apply")),
    ("reply path (results -> client sockets)", ("api_write_wait_done", "api_reply_send", "apply_cb")),
    ("API read, decode, handler, batching", ("api_read_cb", "read_cb", "handle_project_add", "proposals_submit_client",
                                             "proposals_flush")),
    ("scheduler (placement planning)", ("scheduler_tick", "sched_core_place_due", "planner_plan")),
    ("poll (epoll_wait)", ("epoll_wait",)),
]


def cpu(path, roles):
    counts, total = collections.defaultdict(collections.Counter), collections.Counter()

    def account(pid, frames):
        syms = set(f.split()[1] for f in frames if len(f.split()) > 1)
        name = None
        for comp, funcs in CPU_COMPONENTS:
            if any(f in syms for f in funcs):
                name = comp
                break
        if name is None:
            if any("libraft" in f for f in frames):
                name = "libraft (log append, replication, messages)"
            elif any("libuv" in f for f in frames):
                name = "libuv and kernel under it (sockets, timers, AIO)"
            else:
                name = "other (kernel interrupts, libc)"
        for who in (pid, "all"):
            counts[who][name] += 1
            total[who] += 1

    cur = None
    for line in open(path):
        if not line.strip():
            if cur is not None:
                account(*cur)
            cur = None
        elif not line[0].isspace():
            cur = (line.split()[1].split("/")[0], [])
        elif cur is not None:
            cur[1].append(line.strip())
    if cur is not None:
        account(*cur)
    if not total:
        print("no samples in %s" % path)
        return 1
    comps = [c for c, _ in counts["all"].most_common()]
    who = sorted((p for p in total if p != "all"), key=lambda p: (roles.get(p, "~"), p)) + ["all"]
    heads = ["%s %s" % (roles.get(p, ""), p) if p != "all" else "all members" for p in who]
    print("| %-50s | %s |" % ("component (share of CPU samples)", " | ".join("%-16s" % h for h in heads)))
    print("|%s|%s" % ("-" * 52, "|".join("-" * 18 for _ in heads)) + "|")
    for c in comps:
        print("| %-50s | %s |" % (c, " | ".join("%15.1f%%" % (100.0 * counts[p][c] / total[p]) for p in who)))
    print("| %-50s | %s |" % ("samples", " | ".join("%16d" % total[p] for p in who)))
    return 0


def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def syscalls(path):
    reqs, cur, pending_read = [], None, None
    for line in open(path):
        m = EV.search(line)
        if not m or m.group(2) != 'syscalls':
            continue
        t = float(m.group(1)) * 1000.0
        kind, call = m.group(3).split('_', 2)[1], m.group(3).split('_', 2)[2]
        rest = m.group(5)
        if kind == 'enter':
            a = {k: int(v, 16) for k, v in re.findall(r'(\w+): (0x[0-9a-f]+)', rest)}
            if call == 'read':
                pending_read = a
            elif cur is None:
                continue
            elif call == 'io_submit':
                cur.setdefault('submit', t)
            elif call == 'writev':
                if 'submit' in cur and 'send' not in cur and a.get('fd') != cur['fd']:
                    cur['send'] = t
            elif call == 'pwrite64':
                if 'local' in cur and 'ack' in cur:
                    cur.setdefault('apply', t)
            elif call == 'write' and a.get('fd') == cur['fd']:
                cur['reply'] = t
                reqs.append(cur)
                cur = None
            continue
        if call != 'read' or pending_read is None:
            continue
        ret = int(rest.strip(), 16)
        a, pending_read = pending_read, None
        if a['count'] == 0x10000 and 0 < ret < 1 << 63:
            if cur is None:
                cur = {'req': t, 'fd': a['fd']}
        elif cur is None:
            continue
        elif a['count'] == 8 and ret == 8 and 'submit' in cur:
            cur.setdefault('local', t)
        elif a['count'] == 0x10 and ret == 0x10 and 'send' in cur:
            cur.setdefault('ack', t)
    full = [r for r in reqs if all(k in r for k in ('submit', 'send', 'local', 'ack', 'reply'))]
    # With group commit (raft.apply.group-commit-ms > 0) the SQLite commit, the only pwrite64
    # of an apply, comes after the reply: then the apply is not seen apart from the reply.
    split_apply = bool(full) and all('apply' in r for r in full)
    if not full:
        print("no complete request found in %s" % path)
        return 1
    rows = [
        ("request read -> raft append submitted (decode, batch, encode entry)", lambda r: r['submit'] - r['req']),
        ("append submitted -> AppendEntries written to the followers", lambda r: r['send'] - r['submit']),
        ("leader's own disk append (O_DIRECT + RWF_DSYNC, kernel AIO)", lambda r: r['local'] - r['submit']),
        ("replication round trip (incl. the follower's disk append)", lambda r: r['ack'] - r['send']),
        ("commit: request read -> max(own append, first follower ack)", lambda r: max(r['local'], r['ack']) - r['req']),
        ("commit -> SQLite apply starts", lambda r: r['apply'] - max(r['local'], r['ack'])),
        ("SQLite apply + reply encoding -> reply written", lambda r: r['reply'] - r['apply']),
        ("commit -> reply written (SQLite apply, commit later: group commit)",
         lambda r: r['reply'] - max(r['local'], r['ack'])),
        ("server total: request read -> reply written", lambda r: r['reply'] - r['req']),
    ]
    rows = [row for row in rows if ("group commit" in row[0]) != split_apply]
    print("requests traced: %d (complete: %d)" % (len(reqs), len(full)))
    print("| %-66s | %8s | %8s | %8s |" % ("stage (leader, one request at a time)", "p50 ms", "mean ms", "p99 ms"))
    print("|%s|%s|%s|%s|" % ("-" * 68, "-" * 10, "-" * 10, "-" * 10))
    for name, f in rows:
        xs = sorted(f(r) for r in full)
        print("| %-66s | %8.3f | %8.3f | %8.3f |" % (name, statistics.median(xs), statistics.mean(xs), pct(xs, 0.99)))
    return 0


def probes(path, seconds):
    start, durs, busy, last_exit, loop_tid = {}, collections.defaultdict(list), [], None, None
    events = []
    for line in open(path):
        m = EV.search(line)
        if not m:
            continue
        t = TID.match(line)
        tid = t.group(1) if t else '?'
        events.append((float(m.group(1)) * 1000.0, tid, m.group(2), m.group(3), m.group(4)))
        if m.group(3) == 'sys_enter_epoll_wait':
            loop_tid = tid
    for t, tid, grp, name, ret in events:
        if grp == 'syscalls':
            if name == 'sys_exit_epoll_wait':
                last_exit = t
            elif name == 'sys_enter_epoll_wait' and last_exit is not None:
                busy.append(t - last_exit)
                last_exit = None
            continue
        if name in ('project_add', 'flush', 'entry', 'reply'):
            continue  # the requests mode's probes
        kind = 'loop' if tid == loop_tid else 'pool'
        if ret:
            if (name, tid) in start:
                durs[(name, kind)].append(t - start.pop((name, tid)))
        else:
            start[(name, tid)] = t
    print("| %-28s | %-6s | %7s | %8s | %8s | %8s | %8s | %-10s |" % ("function (leader)", "thread", "calls", "mean ms", "p50 ms", "p99 ms", "max ms", "wall share"))
    print("|%s|%s|%s|%s|%s|%s|%s|%s|" % ("-" * 30, "-" * 8, "-" * 9, "-" * 10, "-" * 10, "-" * 10, "-" * 10, "-" * 12))
    for (k, kind), v in sorted(durs.items()):
        v.sort()
        print("| %-28s | %-6s | %7d | %8.3f | %8.3f | %8.3f | %8.3f | %9.1f%% |" % (
            k, kind, len(v), statistics.mean(v), statistics.median(v), pct(v, 0.99), v[-1], sum(v) / seconds / 10))
    if busy:
        busy.sort()
        print("event loop: %d iterations, busy %.1f%% of the time, p50 %.3f ms, p99 %.3f ms, max %.3f ms; %d iterations "
              "over 10 ms (%.0f ms in all)" % (len(busy), sum(busy) / seconds / 10, statistics.median(busy), pct(busy, 0.99),
                                               busy[-1], sum(1 for b in busy if b > 10), sum(b for b in busy if b > 10)))
    return 0


def requests(path):
    """Matches the i-th project.add handler call with the i-th reply (replies go out in the
    order the requests were batched; heartbeats do not use the probed functions), the first
    flush after the handler, and the apply of the reply's index."""
    adds, flushes, replies, entry_start, entry_end, cur = [], [], [], {}, {}, None
    for line in open(path):
        m = EV.search(line)
        if not m or m.group(2) == 'syscalls':
            continue
        t, name, ret, rest = float(m.group(1)) * 1000.0, m.group(3), m.group(4), m.group(5)
        idx = re.search(r'index=(0x[0-9a-f]+)', rest)
        if name == 'project_add':
            adds.append(t)
        elif name == 'flush':
            flushes.append(t)
        elif name == 'entry' and idx:
            cur = int(idx.group(1), 16)
            entry_start[cur] = t
        elif name == 'store_apply' and ret and cur is not None:
            entry_end[cur] = t
            cur = None
        elif name == 'reply' and idx:
            replies.append((t, int(idx.group(1), 16)))
    rows = []
    for ta, (tr, i) in zip(adds, replies):
        k = bisect.bisect_left(flushes, ta)
        if tr < ta or i not in entry_start or k == len(flushes):
            continue
        s, e = entry_start[i], entry_end.get(i, tr)
        rows.append((flushes[k] - ta, s - flushes[k], e - s, tr - e, tr - ta))
    if not rows:
        print("no request matched in %s" % path)
        return 1
    names = ["handler -> batch handed to raft (rest of the loop iteration)",
             "raft_apply -> its entry's apply starts (disk, replication, commit, queue)",
             "SQLite apply of its entry",
             "apply end -> its reply (replies of the batch before it)",
             "server total: handler -> reply"]
    total = statistics.mean(r[4] for r in rows)
    print("requests matched: %d of %d project.add" % (len(rows), len(adds)))
    print("| %-74s | %8s | %8s | %8s | %6s |" % ("stage (leader, 64 clients)", "p50 ms", "mean ms", "p99 ms", "share"))
    print("|%s|%s|%s|%s|%s|" % ("-" * 76, "-" * 10, "-" * 10, "-" * 10, "-" * 8))
    for j, name in enumerate(names):
        xs = sorted(r[j] for r in rows)
        print("| %-74s | %8.3f | %8.3f | %8.3f | %5.1f%% |" % (name, statistics.median(xs), statistics.mean(xs), pct(xs, 0.99),
                                                              100.0 * statistics.mean(xs) / total))
    print("entries applied: %d, batches handed to raft: %d, project.add per batch: %.1f" % (
        len(entry_start), len(flushes), len(adds) / max(1, len(flushes))))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == 'syscalls':
        sys.exit(syscalls(sys.argv[2]))
    if len(sys.argv) >= 4 and sys.argv[1] == 'probes':
        sys.exit(probes(sys.argv[2], float(sys.argv[3])))
    if len(sys.argv) >= 3 and sys.argv[1] == 'requests':
        sys.exit(requests(sys.argv[2]))
    if len(sys.argv) >= 3 and sys.argv[1] == 'cpu':
        sys.exit(cpu(sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
