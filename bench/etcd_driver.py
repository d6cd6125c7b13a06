#!/usr/bin/python3
"""etcd side of the side-by-side benchmark (bench/run.sh): the same workloads as
bench/loadgen.c, driven over gRPC with python3-etcd3.

Every client is one etcd3 client object (one gRPC channel with a private subchannel pool,
so one persistent TCP connection) used by one thread; writes are puts of unique keys
/bench/PREFIX/CLIENT/SEQ with a 32-byte value. Never a process per request: --procs P
spreads the threads over P worker processes (spawned, so no gRPC state is forked) so
that the GIL of one interpreter does not cap the client side.

Modes (output lines as loadgen's: RESULT <label>_<metric> <value> <unit>):
  seq             one client, one put at a time, --requests N
  throughput      --clients N closed loop for --duration S (--warmup excluded) or --requests N
  failover-probe  SIGKILL --kill-pid, then put on every endpoint in parallel until one succeeds
  ready           wait until every endpoint serves --check-key locally (serializable get)
                  and knows a leader, then put until one succeeds; time since --t0-ms
  status          one STATUS line per endpoint
--op get makes seq/throughput send serializable gets (no raft): the client + RPC ceiling.
Every loop is bounded by --deadline-s.
"""
import argparse
import multiprocessing
import os
import signal
import sys
import threading
import time

import etcd3
from etcd3 import etcdrpc

VALUE = b"v" * 32
GRPC_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),   # one TCP connection per client object
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 200),
]


def log(args, msg):
    if not args.quiet:
        print("etcd_driver: " + msg, file=sys.stderr, flush=True)


def make_client(endpoint, timeout):
    host, port = endpoint.rsplit(":", 1)
    return etcd3.client(host, int(port), timeout=timeout, grpc_options=GRPC_OPTIONS)


def raw_status(client):
    """(member_id, leader_id, raft_index, raft_term) of the member the client talks to."""
    r = client.maintenancestub.Status(etcdrpc.StatusRequest(), client.timeout)
    return r.header.member_id, r.leader, r.raftIndex, r.raftTerm


def find_leader(args, deadline):
    while time.monotonic() < deadline:
        for ep in args.endpoints:
            c = None
            try:
                c = make_client(ep, args.timeout_ms / 1000.0)
                member, leader, _, _ = raw_status(c)
                if member == leader and leader != 0:
                    return ep
            except Exception:
                pass
            finally:
                if c is not None:
                    c.close()
        time.sleep(0.05)
    return None


def pct(sorted_ns, p):
    n = len(sorted_ns)
    if n == 0:
        return float("nan")
    rank = max(1, min(n, int(-(-p * n // 100))))
    return sorted_ns[rank - 1] / 1e6


# ---- seq / throughput ------------------------------------------------------------------


def load_worker(args, endpoint, thread_ids, quotas, conn):
    """Runs in a worker process: one thread per client id; reports through CONN."""
    clients = {}
    try:
        for tid in thread_ids:
            c = make_client(endpoint, args.timeout_ms / 1000.0)
            c.get(b"/bench/warmup")  # connects the channel before the clock starts
            clients[tid] = c
    except Exception as e:
        conn.send(("error", "cannot connect to %s: %s" % (endpoint, e)))
        return
    conn.send(("ready", None))
    t0 = conn.recv()  # monotonic ns at which to start
    warm = t0 + int(args.warmup * 1e9)
    end = t0 + int(args.duration * 1e9) if args.duration else None
    results = {}

    def run(tid):
        c = clients[tid]
        lat = []
        ok = ok_win = err = 0
        first_err = None
        seq = 0
        last = 0
        now = time.monotonic_ns()
        while now < t0:
            time.sleep((t0 - now) / 1e9)
            now = time.monotonic_ns()
        hard_stop = time.monotonic() + args.deadline_s
        while True:
            if end is not None and time.monotonic_ns() >= end:
                break
            if quotas is not None and seq >= quotas[tid]:
                break
            if time.monotonic() > hard_stop:
                err += 1
                first_err = first_err or "deadline reached"
                break
            key = "/bench/%s/%d/%d" % (args.prefix, tid, seq)
            seq += 1
            ts = time.monotonic_ns()
            try:
                if args.op == "get":
                    c.get("/bench/none", serializable=True)
                else:
                    c.put(key, VALUE)
            except Exception as e:
                err += 1
                first_err = first_err or repr(e)
                continue
            te = time.monotonic_ns()
            ok += 1
            last = te
            if end is None or (ts >= warm and te <= end):
                ok_win += 1
                lat.append(te - ts)
        results[tid] = (ok, ok_win, err, lat, first_err, last)

    threads = [threading.Thread(target=run, args=(tid,)) for tid in thread_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.deadline_s + 60)
    for c in clients.values():
        c.close()
    ok = sum(r[0] for r in results.values())
    ok_win = sum(r[1] for r in results.values())
    err = sum(r[2] for r in results.values())
    lat = [x for r in results.values() for x in r[3]]
    errs = [r[4] for r in results.values() if r[4]]
    last = max([r[5] for r in results.values()] or [0])
    conn.send(("done", (ok, ok_win, err, lat, errs[:3], last)))


def run_load(args):
    deadline = time.monotonic() + 10
    leader = find_leader(args, deadline)
    if leader is None:
        print("etcd_driver: no endpoint reports itself leader within 10 s", file=sys.stderr)
        return 1
    n = args.clients
    procs = max(1, min(args.procs, n))
    log(args, "%s against leader %s: %d clients in %d process(es)" % (args.label, leader, n, procs))
    groups = [list(range(i, n, procs)) for i in range(procs)]
    ctx = multiprocessing.get_context("spawn")
    workers = []
    quotas = None
    if args.requests:  # exactly --requests in all: client i writes its share
        quotas = {i: args.requests // n + (1 if i < args.requests % n else 0) for i in range(n)}
    for g in groups:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=load_worker, args=(args, leader, g, quotas, child), daemon=True)
        p.start()
        workers.append((p, parent))
    for p, conn in workers:
        if not conn.poll(30):
            print("etcd_driver: a worker did not connect within 30 s", file=sys.stderr)
            return 1
        kind, payload = conn.recv()
        if kind != "ready":
            print("etcd_driver: %s" % payload, file=sys.stderr)
            return 1
    t0 = time.monotonic_ns() + 50_000_000
    for p, conn in workers:
        conn.send(t0)
    ok = ok_win = err = 0
    lat = []
    errs = []
    last = 0
    for p, conn in workers:
        if not conn.poll(args.deadline_s + 90):
            print("etcd_driver: a worker did not finish in time", file=sys.stderr)
            return 1
        kind, payload = conn.recv()
        if kind != "done":
            print("etcd_driver: %s" % payload, file=sys.stderr)
            return 1
        ok += payload[0]
        ok_win += payload[1]
        err += payload[2]
        lat.extend(payload[3])
        errs.extend(payload[4])
        last = max(last, payload[5])
        p.join(10)
    for e in errs[:5]:
        print("etcd_driver: put failed: %s" % e, file=sys.stderr)
    if ok == 0:
        print("etcd_driver: no put succeeded", file=sys.stderr)
        return 1
    lat.sort()
    if args.requests:
        secs = (last - t0) / 1e9
    else:
        secs = args.duration - args.warmup
    wps = ok_win / secs if secs > 0 else float("nan")
    mean = sum(lat) / len(lat) / 1e6 if lat else float("nan")
    L = args.label
    print("RESULT %s_writes_per_s %.1f writes/s" % (L, wps))
    print("RESULT %s_p50 %.3f ms" % (L, pct(lat, 50)))
    print("RESULT %s_p99 %.3f ms" % (L, pct(lat, 99)))
    print("RESULT %s_p999 %.3f ms" % (L, pct(lat, 99.9)))
    print("RESULT %s_mean %.3f ms" % (L, mean))
    print("RESULT %s_max %.3f ms" % (L, lat[-1] / 1e6 if lat else float("nan")))
    print("RESULT %s_samples %d count" % (L, len(lat)))
    print("RESULT %s_errors %d count" % (L, err))
    log(args, "%s: %d clients, %d ok (%d in window), %d errors, %.1f writes/s, p50 %.3f ms, p99 %.3f ms, "
        "mean %.3f ms" % (L, n, ok, ok_win, err, wps, pct(lat, 50), pct(lat, 99), mean))
    return 0


# ---- failover probe / ready ------------------------------------------------------------


class Race:
    """First successful put among several threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.winner = None
        self.t_done = None
        self.attempts = 0

    def win(self, endpoint):
        with self.lock:
            if self.winner is None:
                self.t_done = time.monotonic_ns()
                self.wall_done = time.time()
                self.winner = endpoint
                self.done.set()


PROBE_INFLIGHT = 1000


def put_until_success(args, endpoint, client, race, idx, deadline):
    """Every poll_ms, one more put to ENDPOINT without waiting for the earlier ones (gRPC
    futures, at most PROBE_INFLIGHT pending, each with the client timeout): the first
    success is seen within about poll_ms of the cluster accepting writes again, whatever
    an earlier attempt is stuck on (e.g. a proposal forwarded to the dead leader)."""
    pending = set()
    lock = threading.Lock()
    seq = 0

    def done(fut):
        with lock:
            pending.discard(fut)
        if fut.cancelled() or fut.exception() is not None:
            with race.lock:
                race.attempts += 1
            return
        race.win(endpoint)

    while not race.done.is_set() and time.monotonic() < deadline:
        with lock:
            room = len(pending) < PROBE_INFLIGHT
        if room:
            key = "/bench/%s/f%d/%d" % (args.prefix, idx, seq)
            seq += 1
            req = etcdrpc.PutRequest(key=key.encode(), value=VALUE)
            try:
                fut = client.kvstub.Put.future(req, client.timeout)
            except Exception:
                with race.lock:
                    race.attempts += 1
            else:
                with lock:
                    pending.add(fut)
                fut.add_done_callback(done)
        race.done.wait(args.poll_ms / 1000.0)
    with lock:
        left = list(pending)
    for fut in left:
        fut.cancel()


def run_failover(args):
    timeout = args.timeout_ms / 1000.0
    clients = []
    for ep in args.endpoints:
        c = make_client(ep, timeout)
        try:
            raw_status(c)  # connected and answering before the kill
        except Exception as e:
            print("etcd_driver: pre-check of %s failed: %s" % (ep, e), file=sys.stderr)
            return 1
        clients.append(c)
    race = Race()
    deadline = time.monotonic() + args.deadline_s
    os.kill(args.kill_pid, signal.SIGKILL)
    t_kill = time.monotonic_ns()
    threads = [threading.Thread(target=put_until_success, args=(args, ep, c, race, i, deadline))
               for i, (ep, c) in enumerate(zip(args.endpoints, clients))]
    for t in threads:
        t.start()
    race.done.wait(args.deadline_s)
    for t in threads:
        t.join(timeout + 1)
    for c in clients:
        c.close()
    if race.winner is None:
        print("RESULT %s_ms fail ms" % args.label)
        return 1
    ms = (race.t_done - t_kill) / 1e6
    print("RESULT %s_ms %.1f ms" % (args.label, ms))
    log(args, "%s: first successful put after %.1f ms (via %s, %d failed attempts)"
        % (args.label, ms, race.winner, race.attempts))
    return 0


def run_ready(args):
    timeout = args.timeout_ms / 1000.0
    deadline = time.monotonic() + args.deadline_s
    ready = threading.Barrier(len(args.endpoints) + 1)
    race = Race()
    failed = threading.Event()

    def member(i, ep):
        c = None
        while time.monotonic() < deadline and not failed.is_set():
            try:
                if c is None:
                    c = make_client(ep, timeout)
                _, leader, _, _ = raw_status(c)
                found = True
                if args.check_key:
                    value, _ = c.get(args.check_key, serializable=True)
                    found = value is not None
                if leader != 0 and found:
                    break
            except Exception:
                if c is not None:
                    c.close()
                    c = None
            time.sleep(args.poll_ms / 1000.0)
        else:
            failed.set()
            if c is not None:
                c.close()
            try:
                ready.abort()
            except Exception:
                pass
            return
        print("INFO %s member %s caught up after %.0f ms" % (args.label, ep, time.time() * 1000 - args.t0_ms),
              flush=True)
        try:
            ready.wait(max(0.0, deadline - time.monotonic()))
        except threading.BrokenBarrierError:
            c.close()
            return
        put_until_success(args, ep, c, race, i, deadline)
        c.close()

    threads = [threading.Thread(target=member, args=(i, ep)) for i, ep in enumerate(args.endpoints)]
    for t in threads:
        t.start()
    try:
        ready.wait(max(0.0, deadline - time.monotonic()))
    except threading.BrokenBarrierError:
        pass
    race.done.wait(max(0.0, deadline - time.monotonic()))
    for t in threads:
        t.join(timeout + 1)
    if race.winner is None:
        print("RESULT %s_ms fail ms" % args.label)
        return 1
    ms = race.wall_done * 1000 - args.t0_ms
    print("RESULT %s_ms %.1f ms" % (args.label, ms))
    log(args, "%s: first successful put %.1f ms after t0 (via %s)" % (args.label, ms, race.winner))
    return 0


def run_status(args):
    for ep in args.endpoints:
        c = make_client(ep, args.timeout_ms / 1000.0)
        try:
            member, leader, index, term = raw_status(c)
            print("STATUS %s id=%x state=%s term=%d leader_id=%x raft_index=%d"
                  % (ep, member, "leader" if member == leader else "follower", term, leader, index))
        except Exception as e:
            print("STATUS %s unreachable %s" % (ep, type(e).__name__))
        finally:
            c.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", required=True, help="host:port[,host:port...] (client URLs)")
    ap.add_argument("--mode", default="throughput",
                    choices=["seq", "throughput", "failover-probe", "ready", "status"])
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--procs", type=int, default=1, help="worker processes for the client threads")
    ap.add_argument("--duration", type=float, default=0.0)
    ap.add_argument("--warmup", type=float, default=0.0)
    ap.add_argument("--requests", type=int, default=0)
    ap.add_argument("--prefix", default="ed")
    ap.add_argument("--label", default=None)
    ap.add_argument("--timeout-ms", type=int, default=1000)
    ap.add_argument("--poll-ms", type=int, default=10)
    ap.add_argument("--deadline-s", type=float, default=0.0)
    ap.add_argument("--kill-pid", type=int, default=0)
    ap.add_argument("--t0-ms", type=float, default=0.0)
    ap.add_argument("--check-key", default=None)
    ap.add_argument("--op", default="put", choices=["put", "get"],
                    help="get: serializable range of one key (no raft), the client + RPC ceiling")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    args.endpoints = [e for e in args.endpoints.split(",") if e]
    if args.label is None:
        args.label = args.mode.replace("-", "_")
    if args.mode == "seq":
        args.clients, args.procs = 1, 1
        if not args.requests and not args.duration:
            args.requests = 1000
    if args.mode == "throughput" and not args.requests and not args.duration:
        args.duration = 10.0
    if args.requests and args.duration:
        ap.error("give --duration or --requests, not both")
    if args.duration and args.warmup >= args.duration:
        ap.error("--warmup must be shorter than --duration")
    if not args.deadline_s:
        args.deadline_s = args.duration + 30 if args.duration else 600.0
    if args.mode == "failover-probe" and not args.kill_pid:
        ap.error("failover-probe needs --kill-pid")
    if args.mode == "ready" and not args.t0_ms:
        args.t0_ms = time.time() * 1000
    if args.mode in ("seq", "throughput"):
        return run_load(args)
    if args.mode == "failover-probe":
        return run_failover(args)
    if args.mode == "ready":
        return run_ready(args)
    return run_status(args)


if __name__ == "__main__":
    sys.exit(main())
