"""The client workload of a fault episode: raftctl processes (-w json, as harness.py runs them)
adding and removing projects, moving them, rebalancing, draining, killing engines and reading,
each recorded in the History with its outcome; and a sampler speaking the API directly (a
raftctl process per sample would be far too slow and coarse) for per-member views, owners'
leases and every member's (applied index, hash)."""
import json
import subprocess
import threading
import time

from apiclient import ApiError, Conn
from harness import RAFTCTL
from history import NOT_APPLIED_CODES

CTL_TIMEOUT_MS = 1500
PROC_TIMEOUT_S = 12


def raftctl(cluster, args, endpoints=None, timeout_ms=CTL_TIMEOUT_MS):
    """Runs raftctl -w json; returns (rc, parsed stdout or None, stderr). rc None: killed after
    PROC_TIMEOUT_S (outcome unknown)."""
    eps = endpoints or cluster.endpoints()
    cmd = [RAFTCTL, "--endpoints", eps, "--timeout", str(timeout_ms), "-w", "json"] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=PROC_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        return None, None, f"raftctl killed after {PROC_TIMEOUT_S}s: {e.stderr or ''}"
    out = None
    if p.stdout.strip():
        try:
            out = json.loads(p.stdout)
        except ValueError:
            out = p.stdout.strip()
    if p.returncode == 2:
        raise AssertionError(f"raftctl usage error: {cmd}: {p.stderr}")
    return p.returncode, out, p.stderr


def classify_write(f, rc, out, err):
    """ok / fail (certainly not applied) / unknown, per raftctl's exit status and code."""
    if rc == 0:
        return "ok"
    code = out.get("code") if isinstance(out, dict) else None
    if rc == 1:
        # a refusal changes nothing, except a rebalance whose moves were refused in part
        return "unknown" if f == "rebalance" else "fail"
    if rc == 3 and code in NOT_APPLIED_CODES:
        return "fail"
    return "unknown"


def read_code(rc, out, err):
    if rc == 0:
        return None
    if isinstance(out, dict) and out.get("code"):
        return out["code"]
    for c in ("KE-010021002", "KE-010021004"):
        if c in err:
            return c
    if "does not exist" in err:
        return "not_found"
    return "unavailable"


class Workload:
    def __init__(self, cluster, history, rng, prefix, hot, allow_kills=True, threads=2, timeout_s=3):
        self.c = cluster
        self.h = history
        self.rng = rng
        self.prefix = prefix
        self.hot = list(hot)
        self.allow_kills = allow_kills
        self.n_threads = threads
        self.timeout_s = timeout_s
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counter = 0
        self.live = list(hot)            # added (ok or unknown), no remove invoked yet
        self.drained = set()              # engines whose last drain op was a drain
        self.pending_restart = {}         # member -> monotonic time to restart it
        self.kills = 0
        self.max_kills = 1                # engine kills per episode (each holds off the nemesis)
        self.threads = []
        self.errors = []

    # ---- ops ----
    def write(self, proc, f, ctl_args, **args):
        op = self.h.invoke(proc, f, **args)
        rc, out, err = raftctl(self.c, ctl_args)
        return self.h.complete(op, classify_write(f, rc, out, err), out, err)

    def new_name(self):
        with self.lock:
            self.counter += 1
            return f"{self.prefix}{self.counter:04d}"

    def op_add(self, proc):
        name = self.new_name()
        with self.lock:
            self.live.append(name)
        self.write(proc, "add", ["project", "add", name], name=name)

    def op_remove(self, proc):
        with self.lock:
            cands = [n for n in self.live if n not in self.hot]
            if not cands:
                return
            name = self.rng.choice(cands)
            self.live.remove(name)
        self.write(proc, "remove", ["project", "remove", name], name=name)

    def op_move(self, proc):
        with self.lock:
            name = self.rng.choice(self.hot) if self.rng.random() < 0.6 else self.rng.choice(self.live)
            engine = self.rng.choice(self.c.owners_capable())
        self.write(proc, "move", ["project", "move", name, engine], name=name, engine=engine)

    def op_rebalance(self, proc):
        self.write(proc, "rebalance", ["rebalance"])

    def op_drain(self, proc):
        with self.lock:
            if self.drained:
                e = self.drained.pop()
                f = "undrain"
            else:
                capable = self.c.owners_capable()
                if len(capable) < 3:
                    return
                e = self.rng.choice(capable)
                self.drained.add(e)
                f = "drain"
        self.write(proc, f, [f, e], engine=e)

    def op_list(self, proc):
        x = self.rng.choice(list(self.c.nodes.values()))
        op = self.h.invoke(proc, "list", member=x.id)
        rc, out, err = raftctl(self.c, ["project", "list"], endpoints=x.api_addr)
        if rc == 0 and isinstance(out, list):
            projects = {p["name"]: (p["owner"], p["epoch"]) for p in out}
            self.h.complete(op, "ok", {"n": len(projects)})
            with self.h.lock:
                self.h.lists.append((x.id, op["t_invoke"], op["t_complete"], projects))
        else:
            self.h.complete(op, "fail", {"code": read_code(rc, out, err)}, err)

    def op_list_c(self, proc):
        op = self.h.invoke(proc, "list-c")
        rc, out, err = raftctl(self.c, ["--consistent", "project", "list"])
        if rc == 0 and isinstance(out, list):
            projects = {p["name"]: [p["owner"], p["epoch"]] for p in out}
            self.h.complete(op, "ok", projects)
            with self.h.lock:
                self.h.lists.append(("consistent", op["t_invoke"], op["t_complete"],
                                     {k: tuple(v) for k, v in projects.items()}))
        else:
            self.h.complete(op, "fail", {"code": read_code(rc, out, err)}, err)

    def op_show(self, proc, consistent):
        with self.lock:
            name = self.rng.choice(self.hot) if self.rng.random() < 0.5 else self.rng.choice(self.live)
        f = "show-c" if consistent else "show"
        op = self.h.invoke(proc, f, name=name)
        rc, out, err = raftctl(self.c, (["--consistent"] if consistent else []) + ["project", "show", name])
        if rc == 0 and isinstance(out, dict):
            self.h.complete(op, "ok", out)
        else:
            self.h.complete(op, "fail", {"code": read_code(rc, out, err)}, err)

    def op_kill(self, proc):
        with self.c.lock:
            if self.pending_restart or not self.allow_kills or self.c.faults or self.kills >= self.max_kills:
                return
            cands = [x for x in self.c.nodes.values() if x.alive() and x.id not in self.c.busy]
            if len(cands) < len(self.c.nodes):
                return  # another fault holds a member: one engine kill at a time
            x = self.rng.choice(cands)
            self.c.busy.add(x.id)
            self.kills += 1
            x.kill9()
            self.pending_restart[x.id] = time.monotonic() + self.rng.uniform(self.timeout_s + 0.5, self.timeout_s + 2)
        self.h.info(proc, "kill-engine", member=x.id)

    def restart_due(self, proc, force=False):
        now = time.monotonic()
        with self.c.lock:
            for m, at in list(self.pending_restart.items()):
                if force or now >= at:
                    x = self.c.nodes[m]
                    if not x.alive():
                        x.start()
                    self.c.busy.discard(m)
                    del self.pending_restart[m]
                    self.h.info(proc, "restart-engine", member=m)

    OPS = (("add", 20), ("remove", 6), ("move", 22), ("rebalance", 4), ("drain", 3), ("list", 10), ("list_c", 6),
           ("show_c", 20), ("show", 5), ("kill", 2))

    def pick(self):
        total = sum(w for _, w in self.OPS)
        x = self.rng.uniform(0, total)
        for name, w in self.OPS:
            x -= w
            if x <= 0:
                return name
        return self.OPS[-1][0]

    def writer(self, k, deadline):
        proc = f"w{k}"
        n = 0
        try:
            while not self.stop.is_set() and time.monotonic() < deadline and n < 10000:
                n += 1
                if k == 0:
                    self.restart_due(proc)
                what = self.pick()
                if what == "kill" and k != 0:
                    continue
                if what in ("show", "show_c"):
                    self.op_show(proc, what == "show_c")
                else:
                    getattr(self, f"op_{what}")(proc)
        except Exception as e:  # the test fails on it, after cleanup
            self.errors.append(f"{proc}: {e!r}")
            raise

    def start(self, duration):
        deadline = time.monotonic() + duration
        for k in range(self.n_threads):
            t = threading.Thread(target=self.writer, args=(k, deadline), daemon=True, name=f"writer{k}")
            t.start()
            self.threads.append(t)

    def finish(self, timeout=60):
        """Stops the writers (each finishes its raftctl call, bounded by PROC_TIMEOUT_S), restarts
        killed engines and undrains."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        self.restart_due("w0", force=True)
        for e in sorted(self.drained):
            self.write("w0", "undrain", ["undrain", e], engine=e)
        self.drained.clear()
        if alive:
            raise AssertionError(f"workload threads {alive} did not stop within {timeout}s")
        if self.errors:
            raise AssertionError(f"workload errors: {self.errors}")


class Sampler:
    """Polls every member directly: project.show for the hot projects (views, and the owner's
    lease when the member owns the project), and hash every HASH_EVERY seconds."""
    HASH_EVERY = 0.4

    def __init__(self, cluster, history, projects, period=0.05):
        self.c = cluster
        self.h = history
        self.projects = list(projects)
        self.period = period
        self.stop = threading.Event()
        self.conns = {x.id: Conn(x.api_addr, timeout=0.3) for x in cluster.nodes.values()}
        self.backoff = {}
        self.thread = None
        self.rounds = 0
        self.errors = []

    def sample_member(self, m, with_hash):
        conn = self.conns[m]
        reqs = [("project.show", {"name": p}) for p in self.projects]
        if with_hash:
            reqs.append(("hash", {}))
        try:
            replies = conn.calls(reqs)
        except ApiError:
            self.backoff[m] = time.monotonic() + 0.3
            return
        views, leases, hashes = [], [], []
        for (t0, t1, r), (method, args) in zip(replies, reqs):
            node = r.get("node_id")
            if node != m:
                continue
            res = r.get("result")
            if method == "hash":
                if r.get("status") == 0 and isinstance(res, dict):
                    hashes.append((m, t0, t1, res["applied_index"], res["hash"]))
                continue
            if r.get("status") == 0 and isinstance(res, dict):
                views.append((m, t0, t1, res["name"], True, res.get("owner"), res["epoch"]))
                if res.get("acting") is not None:
                    leases.append({"member": m, "project": res["name"], "t0": t0, "t1": t1, "owner": res.get("owner"),
                                   "epoch": res["epoch"], "acting": bool(res["acting"]),
                                   "lease_valid": res.get("lease_valid"), "lease_ms_left": res.get("lease_ms_left"),
                                   "grace_ms_left": res.get("grace_ms_left")})
            elif r.get("code") == "not_found":
                views.append((m, t0, t1, args["name"], False, None, None))
        with self.h.lock:
            self.h.views.extend(views)
            self.h.leases.extend(leases)
            self.h.hashes.extend(hashes)

    def run(self, deadline):
        last_hash = 0.0
        try:
            while not self.stop.is_set() and time.monotonic() < deadline and self.rounds < 100000:
                self.rounds += 1
                t = time.monotonic()
                with_hash = t - last_hash >= self.HASH_EVERY
                if with_hash:
                    last_hash = t
                for m in list(self.conns):
                    if self.backoff.get(m, 0) > time.monotonic():
                        continue
                    self.sample_member(m, with_hash)
                self.stop.wait(max(0.0, self.period - (time.monotonic() - t)))
        except Exception as e:
            self.errors.append(repr(e))
            raise
        finally:
            for conn in self.conns.values():
                conn.close()

    def start(self, max_duration):
        self.thread = threading.Thread(target=self.run, args=(time.monotonic() + max_duration,), daemon=True,
                                       name="sampler")
        self.thread.start()

    def finish(self, timeout=10):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                raise AssertionError("sampler did not stop")
        if self.errors:
            raise AssertionError(f"sampler errors: {self.errors}")
