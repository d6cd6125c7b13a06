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
      probed function, and how long the event loop stays busy between two epoll_waits.
"""
import collections
import re
import statistics
import sys

EV = re.compile(r'\s(\d+\.\d+):\s+(\S+):(\S+?)(__return)?:\s*(.*)')


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
    full = [r for r in reqs if all(k in r for k in ('submit', 'send', 'local', 'ack', 'apply', 'reply'))]
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
        ("server total: request read -> reply written", lambda r: r['reply'] - r['req']),
    ]
    print("requests traced: %d (complete: %d)" % (len(reqs), len(full)))
    print("| %-66s | %8s | %8s | %8s |" % ("stage (leader, one request at a time)", "p50 ms", "mean ms", "p99 ms"))
    print("|%s|%s|%s|%s|" % ("-" * 68, "-" * 10, "-" * 10, "-" * 10))
    for name, f in rows:
        xs = sorted(f(r) for r in full)
        print("| %-66s | %8.3f | %8.3f | %8.3f |" % (name, statistics.median(xs), statistics.mean(xs), pct(xs, 0.99)))
    return 0


def probes(path, seconds):
    start, durs, busy, last_exit = {}, collections.defaultdict(list), [], None
    for line in open(path):
        m = EV.search(line)
        if not m:
            continue
        t = float(m.group(1)) * 1000.0
        grp, name, ret = m.group(2), m.group(3), m.group(4)
        if grp == 'syscalls':
            if name == 'sys_exit_epoll_wait':
                last_exit = t
            elif name == 'sys_enter_epoll_wait' and last_exit is not None:
                busy.append(t - last_exit)
                last_exit = None
            continue
        if ret:
            if name in start:
                durs[name].append(t - start.pop(name))
        else:
            start[name] = t
    print("| %-28s | %7s | %8s | %8s | %8s | %8s | %-10s |" % ("function (leader)", "calls", "mean ms", "p50 ms", "p99 ms", "max ms", "loop share"))
    print("|%s|%s|%s|%s|%s|%s|%s|" % ("-" * 30, "-" * 9, "-" * 10, "-" * 10, "-" * 10, "-" * 10, "-" * 12))
    for k, v in sorted(durs.items()):
        v.sort()
        print("| %-28s | %7d | %8.3f | %8.3f | %8.3f | %8.3f | %9.1f%% |" % (
            k, len(v), statistics.mean(v), statistics.median(v), pct(v, 0.99), v[-1], sum(v) / seconds / 10))
    if busy:
        busy.sort()
        print("event loop: %d iterations, busy p50 %.3f ms, p99 %.3f ms, max %.3f ms; %d iterations over 10 ms "
              "(%.0f ms in all)" % (len(busy), statistics.median(busy), pct(busy, 0.99), busy[-1],
                                    sum(1 for b in busy if b > 10), sum(b for b in busy if b > 10)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == 'syscalls':
        sys.exit(syscalls(sys.argv[2]))
    if len(sys.argv) >= 4 and sys.argv[1] == 'probes':
        sys.exit(probes(sys.argv[2], float(sys.argv[3])))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
