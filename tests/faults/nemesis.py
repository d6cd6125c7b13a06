"""Nemeses: each runs cycles of (quiet, fault, hold, heal) on its own thread until its deadline,
records every action in the History (process "nemesis", type "info"), and heal() undoes
everything it may have done (idempotent). The hold times are fault durations, not waits for a
condition: they use Event.wait, so stopping is immediate.

kinds: kill, pause, partition-leader, partition-halves, partition-bridge, loss, delay,
metastore, disk-full, clock-jump, kill-voter (one voter killed for good: the autopilot must
replace it by the standby), mixed (a random kind per cycle)."""
import os
import threading
import time

from apiclient import ApiError, Conn


def leader_of(cluster):
    """The leader most members name (asked over the API; a paused member does not answer)."""
    votes = {}
    for x in cluster.nodes.values():
        if not x.alive() or x.paused:
            continue
        try:
            (_, _, r), = Conn(x.api_addr, timeout=0.3).calls([("status", {})])
        except ApiError:
            continue
        lid = (r.get("result") or {}).get("leader_id") or 0
        if lid:
            votes[lid] = votes.get(lid, 0) + 1
    return max(votes, key=votes.get) if votes else None


def owner_of(cluster, project):
    for x in cluster.nodes.values():
        if not x.alive() or x.paused:
            continue
        try:
            (_, _, r), = Conn(x.api_addr, timeout=0.3).calls([("project.list", {})])
        except ApiError:
            continue
        for p in r.get("result") or []:
            if p["name"] == project and p["owner"]:
                return p["owner"]
    return None


class Nemesis:
    kind = "none"
    hold = (2.0, 4.0)
    quiet = (0.5, 1.2)

    def __init__(self, cluster, net, history, rng, db=None, hot=()):
        self.c = cluster
        self.net = net
        self.h = history
        self.rng = rng
        self.db = db
        self.hot = list(hot)
        self.stop = threading.Event()
        self.thread = None
        self.errors = []
        self.cycles = 0
        self.unexpected_exits = []

    def log(self, f, **args):
        self.h.info("nemesis", f, **args)

    def victim(self):
        """The leader, a hot project's owner or any member, at random."""
        r = self.rng.random()
        v = None
        if r < 0.4:
            v = leader_of(self.c)
        elif r < 0.7 and self.hot:
            v = owner_of(self.c, self.rng.choice(self.hot))
        return v or self.rng.choice(list(self.c.nodes))

    # a fault: returns an undo callable (or None when nothing was done)
    def fault(self):
        raise NotImplementedError

    def run(self, deadline):
        try:
            n = 0
            quiet = True
            while not self.stop.is_set() and n < 1000:
                n += 1
                if quiet and self.stop.wait(self.rng.uniform(*self.quiet)):
                    break
                quiet = True
                if time.monotonic() + self.hold[0] > deadline:
                    break
                # one fault at a time (DESIGN.md invariant 4 is about single faults): not while
                # the workload's engine kill holds a member
                with self.c.lock:
                    held = bool(self.c.busy)
                    if not held:
                        self.c.faults += 1
                if held:
                    self.stop.wait(0.2)   # poll until the killed engine is back (a few seconds)
                    quiet = False
                    continue
                try:
                    undo = self.fault()
                    if undo is None:
                        continue
                    self.cycles += 1
                    hold = min(self.rng.uniform(*self.hold), max(0.5, deadline - time.monotonic()))
                    self.stop.wait(hold)
                    undo()
                finally:
                    with self.c.lock:
                        self.c.faults -= 1
        except Exception as e:
            self.errors.append(repr(e))
            raise

    def start(self, duration):
        self.thread = threading.Thread(target=self.run, args=(time.monotonic() + duration,), daemon=True,
                                       name=f"nemesis-{self.kind}")
        self.thread.start()

    def finish(self, timeout=60):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                raise AssertionError(f"nemesis {self.kind} did not stop within {timeout}s")
        self.heal()
        if self.errors:
            raise AssertionError(f"nemesis errors: {self.errors}")

    def heal(self):
        """Everything back: network, processes, clocks, disks, metastore."""
        self.net.heal_all()
        with self.c.lock:
            for x in self.c.nodes.values():
                if x.paused:
                    x.resume()
                    self.log("resume", member=x.id)
                if self.c.faketime and os.path.exists(x.clock_path):
                    x.set_clock("+0")
                filler = os.path.join(x.dir, "filler")
                if os.path.exists(filler):
                    os.unlink(filler)
                    self.log("disk-free", member=x.id)
            self.restart_dead()
        if self.db is not None:
            if self.db.pid is None:
                self.db.start()
                self.log("metastore-start")
            else:
                self.db.resume()

    def restart_dead(self, only=None):
        """Starts members that are down but not held by a fault (or ONLY); notes unexpected exits."""
        for x in self.c.nodes.values():
            if only is not None and x.id != only:
                continue
            if x.proc is not None and not x.alive() and (only is not None or x.id not in self.c.busy):
                st = x.proc.returncode
                if st != -9:
                    self.unexpected_exits.append((x.id, st, time.monotonic()))
                    self.log("member-exited", member=x.id, status=st)
                x.start()
                self.log("restart", member=x.id)


class Kill(Nemesis):
    kind = "kill"
    hold = (1.0, 4.0)

    def fault(self):
        with self.c.lock:
            v = self.victim()
            x = self.c.nodes[v]
            if v in self.c.busy or not x.alive():
                return None
            self.c.busy.add(v)
            x.kill9()
        self.log("kill", member=v)

        def undo():
            with self.c.lock:
                if not x.alive():
                    x.start()
                self.c.busy.discard(v)
            self.log("restart", member=v)
        return undo


class KillVoter(Nemesis):
    """kill -9 of one voter (the leader 40 % of the time), never restarted: the cluster has a
    standby, and the leader's autopilot must demote the dead voter and promote the standby
    (docs/operations-autopilot.md) while the workload runs. One fault per episode; the later
    cycles do nothing."""
    kind = "kill-voter"
    hold = (1.0, 2.0)

    def fault(self):
        with self.c.lock:
            if self.c.gone:
                return None
            voters = [x.id for x in self.c.nodes.values() if x.role == "voter" and x.alive()]
            lead = leader_of(self.c)
            v = lead if lead in voters and self.rng.random() < 0.4 else self.rng.choice(voters)
            x = self.c.nodes[v]
            if v in self.c.busy or not x.alive():
                return None
            self.c.busy.add(v)   # for good: heal() restarts no member in busy
            self.c.gone.add(v)
            x.kill9()
        self.log("kill-for-good", member=v)
        return lambda: self.log("stays-down", member=v)


class Pause(Nemesis):
    kind = "pause"
    hold = (1.0, 5.0)   # past the 3 s timeout about half of the time: failover, then a stale owner wakes

    def fault(self):
        with self.c.lock:
            v = self.victim()
            x = self.c.nodes[v]
            if v in self.c.busy or not x.alive():
                return None
            self.c.busy.add(v)
            x.pause()
        self.log("pause", member=v)

        def undo():
            with self.c.lock:
                x.resume()
                self.c.busy.discard(v)
            self.log("resume", member=v)
        return undo


class NetFault(Nemesis):
    def groups(self):
        raise NotImplementedError

    def fault(self):
        groups, desc = self.groups()
        if groups is None:
            return None
        self.net.partition(groups)
        self.log("partition", kind=desc, groups=[sorted(g) for g in groups])

        def undo():
            self.net.heal_partitions()
            self.log("heal", kind=desc)
        return undo


class PartitionLeader(NetFault):
    kind = "partition-leader"
    hold = (2.0, 4.5)

    def groups(self):
        lid = leader_of(self.c)
        if lid is None:
            return None, None
        return [{lid}, set(self.c.nodes) - {lid}], f"leader {lid} isolated"


class PartitionHalves(NetFault):
    kind = "partition-halves"
    hold = (2.0, 4.5)

    def groups(self):
        ids = list(self.c.nodes)
        self.rng.shuffle(ids)
        k = len(ids) // 2 if len(ids) > 2 else 1
        lid = leader_of(self.c)
        # half the time the leader ends up in the minority
        minority = set(ids[:k])
        if lid is not None and self.rng.random() < 0.5 and lid not in minority:
            minority = set([lid] + [i for i in ids if i != lid][:k - 1])
        return [minority, set(ids) - minority], f"minority {sorted(minority)}"


class PartitionBridge(Nemesis):
    """One member (the bridge) sees both sides; the sides do not see each other."""
    kind = "partition-bridge"
    hold = (2.5, 4.5)

    def fault(self):
        ids = list(self.c.nodes)
        self.rng.shuffle(ids)
        lid = leader_of(self.c)
        if lid is not None and self.rng.random() < 0.5:
            ids.remove(lid)
            ids.insert(1, lid)    # the leader on one side (ids[0] is the bridge)
        bridge, rest = ids[0], ids[1:]
        half = len(rest) // 2
        a, b = rest[:half], rest[half:]
        for i in a:
            for j in b:
                self.net.cut(i, j)
        self.log("partition", kind=f"bridge {bridge}", groups=[sorted(a), [bridge], sorted(b)])

        def undo():
            self.net.heal_partitions()
            self.log("heal", kind="bridge")
        return undo


class Loss(Nemesis):
    kind = "loss"
    hold = (2.0, 3.5)

    def fault(self):
        hosts = list(self.c.nodes) if self.rng.random() < 0.6 else [self.victim()]
        p = self.rng.uniform(0.15, 0.45) if len(hosts) > 1 else self.rng.uniform(0.4, 0.8)
        for i in hosts:
            self.net.set_loss(i, p)
        self.log("loss", hosts=hosts, probability=round(p, 3))

        def undo():
            for i in hosts:
                self.net.clear_loss(i)
            self.log("loss-off", hosts=hosts)
        return undo


class Delay(Nemesis):
    kind = "delay"
    hold = (2.0, 3.5)

    def fault(self):
        if self.rng.random() < 0.5:
            hosts, d, j = list(self.c.nodes), self.rng.uniform(20, 120), 15
        else:
            hosts, d, j = [self.victim()], self.rng.uniform(150, 600), 50
        for i in hosts:
            self.net.set_delay(i, round(d), j, seed=self.rng.randrange(1 << 30))
        self.log("delay", hosts=hosts, delay_ms=round(d), jitter_ms=j)

        def undo():
            for i in hosts:
                self.net.clear_delay(i)
            self.log("delay-off", hosts=hosts)
        return undo


class Metastore(Nemesis):
    kind = "metastore"
    hold = (1.5, 3.5)

    def fault(self):
        if self.db is None:
            return None
        if self.rng.random() < 0.6:
            self.db.stop()
            self.log("metastore-stop")

            def undo():
                self.db.start()
                self.log("metastore-start")
        else:
            self.db.pause()
            self.log("metastore-pause")

            def undo():
                self.db.resume()
                self.log("metastore-resume")
        return undo


class DiskFull(Nemesis):
    """Fills the victim's tmpfs data directory; frees it on undo and restarts the member if the
    full disk stopped it (DESIGN.md: a SQLite write failure stops the member)."""
    kind = "disk-full"
    hold = (2.0, 4.0)

    def fault(self):
        v = self.victim()
        x = self.c.nodes[v]
        if v in self.c.busy or not os.path.ismount(x.dir):
            return None
        path = os.path.join(x.dir, "filler")
        st = os.statvfs(x.dir)
        free = st.f_bavail * st.f_frsize
        with open(path, "wb") as f:
            chunk = b"\0" * (1 << 20)
            n = 0
            try:
                while n < 4096:
                    f.write(chunk)
                    n += 1
                f.flush()
            except OSError:
                pass
            try:
                left = os.statvfs(x.dir)
                f.write(b"\0" * max(0, left.f_bavail * left.f_frsize))
                f.flush()
            except OSError:
                pass
        after = os.statvfs(x.dir)
        self.log("disk-full", member=v, filled_mb=round(free / 1048576, 1),
                 free_bytes=after.f_bavail * after.f_frsize)

        def undo():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            self.log("disk-free", member=v)
            with self.c.lock:
                self.restart_dead(only=v)
        return undo


class ClockJump(Nemesis):
    """libfaketime: the victim's wall clock jumps by hours (either way); CLOCK_MONOTONIC does not."""
    kind = "clock-jump"
    hold = (1.5, 3.0)
    quiet = (0.3, 0.8)

    def fault(self):
        v = self.victim()
        x = self.c.nodes[v]
        off = self.rng.choice(["+3600", "-3600", "+86400", "-86400", "+600", "-7200"])
        x.set_clock(off)
        self.log("clock", member=v, offset=off)

        def undo():
            x.set_clock("+0")
            self.log("clock", member=v, offset="+0")
        return undo


class Mixed(Nemesis):
    kind = "mixed"
    hold = (2.0, 4.5)

    def __init__(self, *a, kinds=(), **kw):
        super().__init__(*a, **kw)
        self.subs = [KINDS[k](*a, **kw) for k in kinds]

    def fault(self):
        sub = self.rng.choice(self.subs)
        sub.h, sub.rng = self.h, self.rng
        undo = sub.fault()
        if undo is not None:
            self.hold = sub.hold
        return undo

    def heal(self):
        super().heal()
        for s in self.subs:
            self.unexpected_exits += s.unexpected_exits


KINDS = {k.kind: k for k in (Kill, Pause, PartitionLeader, PartitionHalves, PartitionBridge, Loss, Delay, Metastore,
                             DiskFull, ClockJump, KillVoter)}
