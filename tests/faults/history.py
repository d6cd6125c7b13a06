"""The recorded history of a fault-test episode and its checker (DESIGN.md invariants 1-5, and
linearizable --consistent reads).

Recording. Every client operation is one dict: id, process, f, args, t_invoke, t_complete
(time.monotonic(), the clock raftnode's leases use too), type ("ok", "fail" or "unknown" when the
outcome cannot be known: timeout, lost connection, leadership lost), value (raftctl's JSON) and
err. Nemesis actions are ops of type "info". The sampler adds observations that are not client
operations: per-member views of a project (owner, epoch), the owner's lease as its own member
reports it (acting, lease_ms_left, grace_ms_left), and every member's (applied_index, hash).

What each check can and cannot see is written next to it. check() returns Violations; report()
turns them into text with the seed, the operations around each violation and the state that
disagrees.
"""
import bisect
import json
import threading
import time

OWNING_MODES = ("all", "job")
REASONS = ("new", "failover", "rebalance", "move", "drain", "restore")
# write failures that certainly did not change the state (raftctl_call.c: write_not_applied,
# plus refusals, which are decided before or by the state machine and change nothing)
NOT_APPLIED_CODES = ("no_leader", "not_leader", "not_joined", "shutting_down", "exists", "not_found", "invalid",
                     "busy", "skipped")


class History:
    def __init__(self, seed, label=""):
        self.seed = seed
        self.label = label
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.ops = []
        self.views = []        # (member, t0, t1, project, present, owner, epoch)   sampler, per member
        self.leases = []       # dict: member, project, t0, t1, owner, epoch, acting, lease_ms_left, grace_ms_left
        self.hashes = []       # (member, t0, t1, applied_index, hash)
        self.lists = []        # (member or "consistent", t0, t1, {name: (owner, epoch)})  full project lists
        self.notes = []

    # ---- recording ----
    def invoke(self, process, f, **args):
        op = {"id": None, "process": process, "f": f, "args": args, "t_invoke": time.monotonic(), "t_complete": None,
              "type": None, "value": None, "err": ""}
        with self.lock:
            op["id"] = len(self.ops)
            self.ops.append(op)
        return op

    def complete(self, op, type_, value=None, err=""):
        op["t_complete"] = time.monotonic()
        op["type"] = type_
        op["value"] = value
        op["err"] = (err or "").strip()[-300:]
        return op

    def info(self, process, f, **args):
        op = self.invoke(process, f, **args)
        return self.complete(op, "info")

    def note(self, text):
        with self.lock:
            self.notes.append((time.monotonic(), text))

    def rel(self, t):
        return t - self.t0 if t is not None else float("nan")

    def counts(self):
        c = {}
        for op in self.ops:
            if op["process"] == "nemesis":
                continue
            k = f"{op['f']}:{op['type']}"
            c[k] = c.get(k, 0) + 1
        return c

    def summary(self):
        client = [o for o in self.ops if o["process"] != "nemesis"]
        return {"ops": len(client), "ok": sum(o["type"] == "ok" for o in client),
                "fail": sum(o["type"] == "fail" for o in client),
                "unknown": sum(o["type"] == "unknown" for o in client),
                "nemesis": sum(o["process"] == "nemesis" for o in self.ops),
                "views": len(self.views), "lease_samples": len(self.leases),
                "acting_samples": sum(1 for s in self.leases if s["acting"]),
                "hash_samples": len(self.hashes), "lists": len(self.lists)}

    def dump(self, path):
        with open(path, "w") as f:
            json.dump({"seed": self.seed, "label": self.label, "t0": self.t0, "ops": self.ops,
                       "leases": self.leases, "hashes": self.hashes, "lists": [list(x) for x in self.lists],
                       "notes": self.notes}, f, default=str)


class Violation:
    def __init__(self, invariant, message, t=None, ops=(), project=None, state=None):
        self.invariant = invariant
        self.message = message
        self.t = t
        self.ops = list(ops)
        self.project = project
        self.state = state

    def __repr__(self):
        return f"[{self.invariant}] {self.message}"


# ---------------------------------------------------------------------------------------------
# the final (healed) state, read by the test
class Final:
    """rows: raftctl history --limit 0; projects: {name: (owner, epoch)} from a consistent
    project list; engines: {id: engine list row}; modes: {id: configured mode}."""

    def __init__(self, rows, projects, engines, modes):
        self.rows = rows
        self.projects = projects
        self.engines = engines
        self.modes = modes
        self.by_project = {}
        for r in sorted(rows, key=lambda r: (r["index"], r["epoch"])):
            self.by_project.setdefault(r["project"], []).append(r)

    def owner_of_epoch(self, p, epoch):
        """(known, owner) of project P at EPOCH according to the history."""
        if epoch == 0:
            return True, None
        rows = self.by_project.get(p, [])
        for r in rows:
            if r["epoch"] == epoch:
                return True, r["to"]
        return False, None

    def at_index(self, p, index):
        """(epoch, owner) of P right after log index INDEX."""
        epoch, owner = 0, None
        for r in self.by_project.get(p, []):
            if r["index"] <= index:
                epoch, owner = r["epoch"], r["to"]
        return epoch, owner

    def owners_during(self, p, index):
        """Every owner P had while the entry at INDEX applied: the one before it and each one
        a command of that entry gave it. One entry carries many clients' commands, applied in
        order: a move acknowledged at INDEX may be followed in the same entry by another
        command moving the same project (both in flight together, so either order is a legal
        one), and a move to the current owner changes nothing and writes no row."""
        owners = {self.at_index(p, index - 1)[1]}
        owners.update(r["to"] for r in self.by_project.get(p, []) if r["index"] == index)
        return owners


def _ops(h, f=None, type_=None):
    return [o for o in h.ops if (f is None or o["f"] in (f if isinstance(f, tuple) else (f,)))
            and (type_ is None or o["type"] in (type_ if isinstance(type_, tuple) else (type_,)))]


# ---------------------------------------------------------------------------------------------
# invariant 1: per project, the epoch never decreases and changes exactly when the owner does
def check_history_rows(h, fin):
    out = []
    for p, rows in fin.by_project.items():
        prev = None
        for k, r in enumerate(rows):
            why = None
            if r["epoch"] != k + 1:
                why = f"epoch {r['epoch']} where {k + 1} was due (history must count +1 per owner change)"
            elif r["reason"] not in REASONS:
                why = f"unknown reason {r['reason']!r}"
            elif r["from"] == r["to"]:
                why = "a history row without a change of owner"
            elif prev is not None and r["from"] != prev["to"]:
                why = f"from {r['from']} but the previous row handed it to {prev['to']}"
            elif prev is None and r["from"] is not None:
                why = f"first row comes from {r['from']}, not from no owner"
            elif prev is not None and r["index"] <= prev["index"]:
                why = "indexes not increasing"
            if why:
                out.append(Violation("1", f"history of {p}: {why}", project=p,
                                     state={"rows": rows[max(0, k - 3):k + 2]}))
                break
            prev = r
    for name, (owner, epoch) in fin.projects.items():
        rows = fin.by_project.get(name, [])
        last_epoch, last_owner = (rows[-1]["epoch"], rows[-1]["to"]) if rows else (0, None)
        if (owner, epoch) != (last_owner, last_epoch):
            out.append(Violation("1", f"final state of {name} is owner {owner} epoch {epoch}, its history ends at "
                                      f"owner {last_owner} epoch {last_epoch}", project=name,
                                 state={"rows": rows[-4:]}))
    return out


def _observations(h):
    """Every (source, t0, t1, project, present, owner, epoch, consistent, op id)."""
    obs = []
    for (m, t0, t1, p, present, owner, epoch) in h.views:
        obs.append((f"member {m}", t0, t1, p, present, owner, epoch, False, None))
    for (src, t0, t1, projects) in h.lists:
        for p, (owner, epoch) in projects.items():
            obs.append((src if src == "consistent" else f"member {src}", t0, t1, p, True, owner, epoch,
                        src == "consistent", None))
    for o in _ops(h, ("show", "show-c"), "ok"):
        v = o["value"]
        if not isinstance(v, dict) or "epoch" not in v:
            continue
        obs.append(("consistent" if o["f"] == "show-c" else "show", o["t_invoke"], o["t_complete"], v["name"], True,
                    v.get("owner"), v["epoch"], o["f"] == "show-c", o["id"]))
    return obs


def check_observations(h, fin):
    """Each observed (owner, epoch) is the owner the history gives that epoch; a member's own
    view never goes back in time (its state is durable: no member unapplies an entry); the
    consistent reads, all served by a leader after a barrier, never go back either."""
    out = []
    obs = _observations(h)
    bad = 0
    for (src, t0, t1, p, present, owner, epoch, cons, oid) in obs:
        if not present or p == "":
            continue
        known, hist_owner = fin.owner_of_epoch(p, epoch)
        if not known or hist_owner != owner:
            bad += 1
            if bad <= 5:
                out.append(Violation("1", f"{src} saw {p} at epoch {epoch} owned by {owner}, but the history "
                                          + (f"gives epoch {epoch} to {hist_owner}" if known else
                                             f"has no epoch {epoch}"),
                                     t=t1, ops=[oid] if oid is not None else [], project=p,
                                     state={"rows": fin.by_project.get(p, [])[-6:]}))
    # monotonic per source: member views per member, "consistent" globally; a view that
    # completed before another was invoked must not be newer than it
    groups = {}
    for (src, t0, t1, p, present, owner, epoch, cons, oid) in obs:
        if not present or src == "show":
            continue
        groups.setdefault((src, p), []).append((t0, t1, epoch, oid))
    for (src, p), lst in groups.items():
        v = _monotonic(lst)
        if v:
            (a, b) = v
            out.append(Violation("1" if src != "consistent" else "linearizability",
                                 f"{src}: {p} went back from epoch {a[2]} (read at {h.rel(a[0]):.3f}-{h.rel(a[1]):.3f}s)"
                                 f" to epoch {b[2]} (read at {h.rel(b[0]):.3f}-{h.rel(b[1]):.3f}s, invoked after the "
                                 f"first completed)", t=b[0], ops=[x for x in (a[3], b[3]) if x is not None], project=p,
                                 state={"rows": fin.by_project.get(p, [])[-6:]}))
    return out


def _monotonic(lst):
    """LST: [(t0, t1, value, tag)]. Returns (a, b) with a.t1 < b.t0 and b.value < a.value, or None."""
    by_t1 = sorted(lst, key=lambda x: x[1])
    ends = [x[1] for x in by_t1]
    best, best_item, k = None, None, 0
    for item in sorted(lst, key=lambda x: x[0]):
        j = bisect.bisect_left(ends, item[0])
        while k < j:
            if best is None or by_t1[k][2] > best:
                best, best_item = by_t1[k][2], by_t1[k]
            k += 1
        if best is not None and item[2] < best:
            return best_item, item
    return None


# ---------------------------------------------------------------------------------------------
# invariant 2: at most one engine holds a valid lease on a project at any instant
def check_leases(h, fin, timeout_ms):
    """Observable: project.show answered by the owner's own member says whether its engine acts
    for the project now (lease valid, no hand-over grace), at some instant within the sample's
    [t0, t1]. Two acting samples of different engines can never be proven simultaneous from
    instants known only to lie in windows; what can be proven:
      (a) an acting engine is the owner the history gives the epoch it acts under;
      (b) no engine acts under epoch e after another engine acted under a newer epoch e' > e
          (sample e' completed before sample e was invoked): the stale owner's lease would then
          have overlapped the new owner's, since the new owner acts only once the old lease ran
          out (failover after a timeout of silence, or the hand-over grace);
      (c) a lease never claims more than the timeout (it runs from a heartbeat's send time)."""
    out = []
    acting = [s for s in h.leases if s["acting"]]
    for s in acting:
        known, owner = fin.owner_of_epoch(s["project"], s["epoch"])
        if not known or owner != s["member"]:
            out.append(Violation("2", f"engine {s['member']} acted for {s['project']} under epoch {s['epoch']}, which "
                                      f"the history gives to {owner if known else 'nobody'}", t=s["t1"],
                                 project=s["project"], state={"sample": s}))
            break
    for s in h.leases:
        if s["lease_ms_left"] is not None and s["lease_ms_left"] > timeout_ms:
            out.append(Violation("2", f"engine {s['member']} claims a lease of {s['lease_ms_left']} ms, more than the "
                                      f"{timeout_ms} ms timeout", t=s["t1"], project=s["project"],
                                 state={"sample": s}))
            break
    per = {}
    for s in acting:
        per.setdefault(s["project"], []).append((s["t0"], s["t1"], s["epoch"], s))
    for p, lst in per.items():
        v = _monotonic(lst)
        if v:
            a, b = v
            out.append(Violation("2", f"{p}: engine {b[3]['member']} acted under epoch {b[2]} at "
                                      f"{h.rel(b[0]):.3f}-{h.rel(b[1]):.3f}s, after engine {a[3]['member']} had "
                                      f"acted under the newer epoch {a[2]} at {h.rel(a[0]):.3f}-{h.rel(a[1]):.3f}s: "
                                      f"two valid leases on one project", t=b[0], project=p,
                                 state={"newer": a[3], "stale": b[3], "rows": fin.by_project.get(p, [])[-6:]}))
    return out


def stale_owner_samples(h):
    """Samples from a member that still owned a project under an older epoch after another
    engine had been seen acting under a newer one: the case check_leases (b) is about. All of
    them must say acting = false; their number says how often the episode produced the case."""
    n = 0
    per = {}
    for s in h.leases:
        per.setdefault(s["project"], []).append(s)
    for lst in per.values():
        acts = sorted((s for s in lst if s["acting"]), key=lambda s: s["t1"])
        ends = [s["t1"] for s in acts]
        best, m = [], 0
        for s in acts:
            m = max(m, s["epoch"])
            best.append(m)
        for s in lst:
            j = bisect.bisect_left(ends, s["t0"])
            if j > 0 and best[j - 1] > s["epoch"]:
                n += 1
    return n


# ---------------------------------------------------------------------------------------------
# invariant 3: only all/job engines that are alive and not draining receive projects
def check_placement(h, fin):
    """Observable: the mode of every engine a history row hands a project to; and, for an
    engine whose drains and undrains all have a known outcome, that no row between an
    acknowledged drain's index and the next acknowledged undrain's index gives it a project.
    Not observable: "alive" at the instant of the entry (the log's own view of liveness); the
    state machine refuses such assigns, the simulation (make sim) checks it."""
    out = []
    for r in fin.rows:
        if r["to"] is not None and fin.modes.get(r["to"]) not in OWNING_MODES:
            out.append(Violation("3", f"{r['project']} handed to engine {r['to']} (mode {fin.modes.get(r['to'])})",
                                 project=r["project"], state={"row": r}))
    for e in fin.modes:
        ds = [o for o in _ops(h, ("drain", "undrain")) if o["args"].get("engine") == e]
        if not ds or any(o["type"] == "unknown" for o in ds):
            continue
        acked = sorted((o["value"]["index"], o["f"], o) for o in ds
                       if o["type"] == "ok" and isinstance(o["value"], dict) and o["value"].get("index"))
        for k, (idx, f, o) in enumerate(acked):
            if f != "drain":
                continue
            end = next((i for i, ff, _ in acked[k + 1:] if ff == "undrain"), None)
            for r in fin.rows:
                if r["to"] == e and r["index"] > idx and (end is None or r["index"] < end):
                    out.append(Violation("3", f"{r['project']} handed to engine {e} at index {r['index']}, while it "
                                              f"was draining (drain acked at index {idx}, undrain at {end})",
                                         t=o["t_complete"], ops=[o["id"]], project=r["project"],
                                         state={"row": r}))
    return out


# ---------------------------------------------------------------------------------------------
# invariant 4: an acknowledged decision is never lost
def check_acked(h, fin):
    out = []
    adds = {}
    removes = {}
    for o in _ops(h, "add"):
        adds.setdefault(o["args"]["name"], []).append(o)
    for o in _ops(h, "remove"):
        removes.setdefault(o["args"]["name"], []).append(o)
    for name, ops in adds.items():
        for o in ops:
            if o["type"] == "fail" and "exists" in (o["err"] + json.dumps(o["value"] or "")) and len(ops) == 1:
                out.append(Violation("4", f"the first add of {name} was refused as existing (applied twice?)",
                                     t=o["t_complete"], ops=[o["id"]], project=name))
        ok = [o for o in ops if o["type"] == "ok"]
        rm = removes.get(name, [])
        maybe_removed = [r for r in rm if r["type"] in ("ok", "unknown")]
        if ok and not maybe_removed and name not in fin.projects:
            out.append(Violation("4", f"acknowledged add of {name} is lost: absent from the healed state and never "
                                      f"removed", t=ok[0]["t_complete"], ops=[ok[0]["id"]], project=name,
                                 state={"final_has": sorted(fin.projects)[:50]}))
        for r in rm:
            if r["type"] == "ok" and name in fin.projects:
                out.append(Violation("4", f"acknowledged remove of {name} is lost: the healed state still has it",
                                     t=r["t_complete"], ops=[r["id"]], project=name))
            others = [x for x in maybe_removed if x is not r and x["t_invoke"] < r["t_complete"]]
            if (r["type"] == "fail" and _code(r) == "not_found" and ok and ok[0]["t_complete"] < r["t_invoke"]
                    and not others):
                out.append(Violation("4", f"remove of {name} found no such project although its add was acknowledged "
                                          f"before and nothing else removed it", t=r["t_complete"],
                                     ops=[ok[0]["id"], r["id"]], project=name))
    moves_ok = _ops(h, "move", "ok")

    def moved_on_in_entry(o, p, idx, owner):
        """Whether OWNER (P's owner after IDX) came from another command of the entry at IDX:
        the scheduler's (a row of another reason) or another client's move acknowledged at IDX.
        Without such evidence a move acknowledged at IDX must hold after it."""
        if any(r["index"] == idx and r["to"] == owner and r["reason"] != "move" for r in fin.by_project.get(p, [])):
            return True
        return any(x is not o and x["args"]["name"] == p and x["args"]["engine"] == owner
                   and (x["value"] or {}).get("index") == idx for x in moves_ok)

    for o in moves_ok:
        idx = (o["value"] or {}).get("index")
        p, to = o["args"]["name"], o["args"]["engine"]
        if not idx:
            continue
        epoch, owner = fin.at_index(p, idx)
        if owner != to and not (to in fin.owners_during(p, idx) and moved_on_in_entry(o, p, idx, owner)):
            out.append(Violation("4", f"acknowledged move of {p} to {to} (index {idx}) is not in the history: "
                                      f"owner after index {idx} is {owner} (epoch {epoch})", t=o["t_complete"],
                                 ops=[o["id"]], project=p, state={"rows": fin.by_project.get(p, [])}))
    for o in _ops(h, "rebalance", "ok"):
        moves = (o["value"] or {}).get("moves") or []
        for m in moves:
            rows = [r for r in fin.by_project.get(m["project"], []) if r["reason"] == m.get("reason", "rebalance")
                    and r["from"] == m["from"] and r["to"] == m["to"]]
            if not rows:
                out.append(Violation("4", f"acknowledged rebalance move {m} is not in the history", t=o["t_complete"],
                                     ops=[o["id"]], project=m["project"],
                                     state={"rows": fin.by_project.get(m["project"], [])}))
    for e in fin.modes:
        ds = sorted((o for o in _ops(h, ("drain", "undrain")) if o["args"].get("engine") == e),
                    key=lambda o: o["t_invoke"])
        for k, o in enumerate(ds):
            if o["type"] != "ok":
                continue
            later = [x for x in ds[k + 1:] if x["type"] in ("ok", "unknown")
                     or (x["t_invoke"] < o["t_complete"] and x["type"] != "fail")]
            concurrent = [x for x in ds[:k] if x["t_complete"] is not None and x["t_complete"] > o["t_invoke"]
                          and x["type"] != "fail"]
            if later or concurrent or e not in fin.engines:
                continue
            want = o["f"] == "drain"
            if fin.engines[e]["draining"] != want:
                out.append(Violation("4", f"acknowledged {o['f']} of engine {e} is lost: it is "
                                          f"{'' if fin.engines[e]['draining'] else 'not '}draining",
                                     t=o["t_complete"], ops=[o["id"]], state={"engine": fin.engines[e]}))
    return out


def _code(o):
    v = o["value"]
    if isinstance(v, dict):
        return v.get("code")
    return None


# ---------------------------------------------------------------------------------------------
# linearizable --consistent reads: a per-project register
def check_consistent_reads(h, fin):
    """A consistent read invoked after a write on the same project was acknowledged must see
    it: the project present after its add (unless a remove may have run), absent after its
    remove, and an epoch at least the one the history gives right after an acknowledged move
    or rebalance. (Reads against each other: check_observations.)"""
    out = []
    reads = []
    for o in _ops(h, "show-c", ("ok", "fail")):
        p = o["args"]["name"]
        if o["type"] == "ok" and isinstance(o["value"], dict):
            reads.append((o, p, True, o["value"].get("epoch")))
        elif o["type"] == "fail" and _code(o) == "not_found":
            reads.append((o, p, False, None))
        elif o["type"] == "fail" and _code(o) in ("KE-010021002", "KE-010021004"):
            reads.append((o, p, True, None))
    for o in _ops(h, "list-c", "ok"):
        for p, (owner, epoch) in (o["value"] or {}).items():
            reads.append((o, p, True, epoch))
    writes = {}
    for o in _ops(h, ("add", "remove", "move")):
        writes.setdefault(o["args"]["name"], []).append(o)
    for o in _ops(h, "rebalance", "ok"):
        for m in (o["value"] or {}).get("moves") or []:
            writes.setdefault(m["project"], []).append(dict(o, f="rebalance-move", move=m))
    for o in _ops(h, "list-c", "ok"):
        for p in writes:
            if p not in (o["value"] or {}):
                reads.append((o, p, False, None))
    reported = 0
    for (r, p, present, epoch) in reads:
        for w in writes.get(p, []):
            if w["type"] != "ok" or w["t_complete"] >= r["t_invoke"]:
                continue
            why = None
            if w["f"] == "add" and not present:
                racing = [x for x in writes[p] if x["f"] == "remove" and x["type"] in ("ok", "unknown")
                          and x["t_invoke"] < r["t_complete"]]
                if not racing:
                    why = "the project was added (acknowledged) before the read began, and no remove ran"
            elif w["f"] == "remove" and present:
                why = "the project was removed (acknowledged) before the read began"
            elif w["f"] == "move" and present and epoch is not None and (w["value"] or {}).get("index"):
                want, owner = fin.at_index(p, w["value"]["index"])
                if epoch < want:
                    why = (f"a move acknowledged at index {w['value']['index']} before the read began left epoch "
                           f"{want} (owner {owner}); the read saw epoch {epoch}")
            elif w["f"] == "rebalance-move" and present and epoch is not None:
                rows = [x for x in fin.by_project.get(p, []) if x["reason"] == w["move"].get("reason", "rebalance")
                        and x["from"] == w["move"]["from"] and x["to"] == w["move"]["to"]]
                if rows and epoch < min(x["epoch"] for x in rows):
                    why = (f"a rebalance acknowledged before the read began moved it to {w['move']['to']} at epoch "
                           f"{min(x['epoch'] for x in rows)}; the read saw epoch {epoch}")
            if why:
                reported += 1
                if reported <= 8:
                    out.append(Violation("linearizability", f"{r['f']} of {p} at {h.rel(r['t_invoke']):.3f}-"
                                                            f"{h.rel(r['t_complete']):.3f}s returned "
                                                            f"{'epoch ' + str(epoch) if present else 'not found'}: {why}",
                                         t=r["t_invoke"], ops=[w["id"], r["id"]], project=p,
                                         state={"read": r["value"], "rows": fin.by_project.get(p, [])[-6:]}))
                break
    return out


# ---------------------------------------------------------------------------------------------
# invariant 5 (during the run): equal applied index, equal hash
def check_hashes(h):
    out = []
    seen = {}
    for (m, t0, t1, idx, hh) in h.hashes:
        seen.setdefault(idx, {}).setdefault(hh, []).append((m, t1))
    for idx, by in sorted(seen.items()):
        if len(by) > 1:
            out.append(Violation("5", f"members disagree at applied index {idx}: " +
                                 "; ".join(f"hash {k} on member(s) {sorted({m for m, _ in v})}" for k, v in by.items()),
                                 t=min(t for v in by.values() for _, t in v), state={"index": idx}))
    return out


def check(h, fin, timeout_ms=3000):
    """Every check; returns (violations, {check name: number of things checked})."""
    v = []
    v += check_history_rows(h, fin)
    v += check_observations(h, fin)
    v += check_leases(h, fin, timeout_ms)
    v += check_placement(h, fin)
    v += check_acked(h, fin)
    v += check_consistent_reads(h, fin)
    v += check_hashes(h)
    checked = {"history_rows": len(fin.rows), "observations": len(_observations(h)),
               "acting_samples": sum(1 for s in h.leases if s["acting"]), "lease_samples": len(h.leases),
               "stale_owner_samples": stale_owner_samples(h),
               "acked_writes": len([o for o in h.ops if o["type"] == "ok" and o["f"] in
                                    ("add", "remove", "move", "rebalance", "drain", "undrain")]),
               "consistent_reads": len(_ops(h, ("show-c", "list-c"), "ok")),
               "hash_samples": len(h.hashes)}
    return v, checked


# ---------------------------------------------------------------------------------------------
def _fmt_op(h, o):
    if o["process"] == "nemesis":
        return f"  {h.rel(o['t_invoke']):8.3f}s            nemesis  {o['f']} {_short(o['args'])}"
    val = _short(o["value"]) if o["value"] is not None else ""
    dur = (o["t_complete"] - o["t_invoke"]) if o["t_complete"] else float("nan")
    return (f"  {h.rel(o['t_invoke']):8.3f}s +{dur:6.3f}s  {o['process']:7s} #{o['id']:<5d} {o['f']} "
            f"{_short(o['args'])} -> {o['type']} {val} {o['err'][-120:] if o['type'] != 'ok' else ''}")


def _short(x, n=160):
    s = json.dumps(x, default=str, separators=(",", ":")) if not isinstance(x, str) else x
    return s if len(s) <= n else s[:n] + "..."


def report(h, violations, state=None, window=1.5, limit=40):
    lines = [f"seed {h.seed} ({h.label}): {len(violations)} violation(s)"]
    for v in violations[:6]:
        lines.append(f"- invariant {v.invariant}: {v.message}")
        related = [h.ops[i] for i in v.ops if i is not None and i < len(h.ops)]
        near = []
        if v.t is not None:
            near = [o for o in h.ops if o["t_invoke"] <= v.t + window and (o["t_complete"] or v.t) >= v.t - window
                    and (v.project is None or o["process"] == "nemesis"
                         or v.project in json.dumps(o["args"]) or v.project in json.dumps(o["value"] or ""))]
        shown = sorted({o["id"]: o for o in related + near}.values(), key=lambda o: o["t_invoke"])
        lines.append(f"  history around it ({len(shown)} ops, t relative to the episode start):")
        lines += [_fmt_op(h, o) for o in shown[:limit]]
        if len(shown) > limit:
            lines.append(f"  ... {len(shown) - limit} more")
        if v.project is not None:
            ls = sorted((s for s in h.leases if s["project"] == v.project and v.t is not None
                         and abs(s["t0"] - v.t) <= window), key=lambda s: s["t0"])
            if ls:
                lines.append("  lease samples of the owner's member (t0-t1 member epoch acting lease_ms_left grace):")
                for s in ls[:limit]:
                    lines.append(f"    {h.rel(s['t0']):8.3f}-{h.rel(s['t1']):8.3f}s member {s['member']} epoch "
                                 f"{s['epoch']} acting {s['acting']} lease {s['lease_ms_left']} grace "
                                 f"{s['grace_ms_left']}")
        if v.state is not None:
            lines.append(f"  state: {_short(v.state, 2000)}")
    if len(violations) > 6:
        lines.append(f"... and {len(violations) - 6} more")
    if state is not None:
        lines.append(f"diverging/healed state: {_short(state, 4000)}")
    return "\n".join(lines)
