"""Engines and project ownership: placement, failover with fencing epochs, no churn,
minimum rebalance, leader loss during failover, a paused engine losing its lease."""
import signal
import time

from harness import wait_for

TIMEOUT_S = 3  # kylin.server.leader-race.heart-beat-timeout in these tests (interval 1 s)


def four_node_cluster(make_cluster):
    # modes all, all, job, and a query engine on a standby member
    node_extra = {1: {"kylin.server.mode": "all"}, 2: {"kylin.server.mode": "all"},
                  3: {"kylin.server.mode": "job"}, 4: {"kylin.server.mode": "query"}}
    c = make_cluster(4, standby=(4,), node_extra=node_extra).start()
    c.wait_leader(among=[c[1], c[2], c[3]])
    wait_for(lambda: len(c.engines()) == 4, 15, "4 engines registered")
    return c


def owners(c, node=None):
    node = node or next(x for x in c.nodes.values() if x.alive())
    return c.projects_on(node)


def counts(projects):
    out = {}
    for owner, _ in projects.values():
        out[owner] = out.get(owner, 0) + 1
    return out


def add_projects(c, n, prefix="proj"):
    names = [f"{prefix}{i:03d}" for i in range(n)]
    for i in range(0, n, 10):
        c.ctl("project", "add", *names[i:i + 10], check=0)
    return names


def all_placed(c, node=None, exclude=()):
    p = owners(c, node)
    return p if p and all(o is not None and o not in exclude for o, _ in p.values()) else None


def test_placement_failover_no_churn_and_minimum_rebalance(make_cluster):
    c = four_node_cluster(make_cluster)
    add_projects(c, 40)
    p = wait_for(lambda: all_placed(c), 15, "all 41 projects placed")
    cnt = counts(p)
    assert 4 not in cnt, "the query engine must own nothing"
    assert sorted(cnt) == [1, 2, 3]
    assert max(cnt.values()) - min(cnt.values()) <= 1, cnt  # 41 over 3 equal engines
    c.wait_converged()
    p = owners(c)
    for x in c.nodes.values():
        assert c.projects_on(x) == p

    # kill -9 the job engine (not the leader): its projects move within timeout + 1 s,
    # each moved epoch exactly +1, every other project unchanged, on every member
    leader = c.wait_leader()
    victim = next(i for i in (3, 2, 1) if i != leader)
    before = owners(c)
    c[victim].kill(signal.SIGKILL)
    t0 = time.monotonic()
    alive = [x for x in c.nodes.values() if x.alive()]
    wait_for(lambda: all(all_placed(c, x, exclude=(victim,)) for x in alive), TIMEOUT_S + 1,
             f"every member to show engine {victim}'s projects re-owned within timeout + 1 s")
    print(f"failover after kill -9: {time.monotonic() - t0:.2f}s")
    c.wait_converged(nodes=alive)
    after = owners(c)
    for name, (owner, epoch) in before.items():
        if owner == victim:
            assert after[name][0] not in (victim, 4)
            assert after[name][1] == epoch + 1, (name, before[name], after[name])
        else:
            assert after[name] == (owner, epoch), (name, before[name], after[name])
    assert c.engines()[victim]["alive"] is False

    # restart it: it comes back alive, and nothing moves by itself
    c[victim].start()
    wait_for(lambda: c.engines()[victim]["alive"], 15, f"engine {victim} alive again")
    steady = owners(c)
    deadline = time.monotonic() + 2.5  # watch a few heartbeat intervals for churn
    while time.monotonic() < deadline:
        assert owners(c) == steady
        time.sleep(0.2)

    # rebalance: the dry run shows the minimum set, applying moves exactly that many
    rc, plan, err = c.ctl("rebalance", "--dry-run")
    assert rc == 0, err
    assert plan["applied"] is False
    cnt = counts(steady)
    eligible = [1, 2, 3]
    total = len(steady)
    fair = total // len(eligible)
    over = sorted((cnt.get(e, 0) for e in eligible), reverse=True)
    extra = total - fair * len(eligible)
    minimum = sum(max(0, have - (fair + (1 if i < extra else 0))) for i, have in enumerate(over))
    assert len(plan["moves"]) == minimum, (plan, cnt)
    rc, done, err = c.ctl("rebalance")
    assert rc == 0, err
    assert done["applied"] is True and len(done["moves"]) == minimum
    final = wait_for(lambda: (lambda p: p if p and counts(p) != cnt or minimum == 0 else None)(owners(c)), 10,
                     "the rebalance to apply")
    fc = counts(final)
    assert max(fc.get(e, 0) for e in eligible) - min(fc.get(e, 0) for e in eligible) <= 1, fc
    moved = [n for n in final if final[n][0] != steady[n][0]]
    assert len(moved) == minimum
    for n in moved:
        assert final[n][1] == steady[n][1] + 1


def test_leader_killed_during_failover_completes_without_two_owners(make_cluster):
    c = make_cluster(3).start()
    c.wait_leader()
    add_projects(c, 30)
    wait_for(lambda: all_placed(c), 15, "projects placed")
    leader = c.wait_leader()
    victim = next(i for i in (1, 2, 3) if i != leader)
    seen = {}  # (project, epoch) -> owner, across every member and every poll

    def observe():
        for x in c.nodes.values():
            if not x.alive():
                continue
            p = c.projects_on(x)
            for name, (owner, epoch) in (p or {}).items():
                prev = seen.setdefault((name, epoch), owner)
                assert prev == owner, f"{name} epoch {epoch} owned by {prev} and {owner}"
    c[victim].kill(signal.SIGKILL)
    # let the leader come close to declaring the victim dead, then kill the leader too
    deadline = time.monotonic() + TIMEOUT_S - 0.3
    while time.monotonic() < deadline:
        observe()
        time.sleep(0.1)
    c[leader].kill(signal.SIGKILL)
    c[victim].start()  # a majority again: the survivor and the restarted victim

    def done():
        observe()
        p = all_placed(c, c[6 - leader - victim], exclude=(leader,))
        return p
    wait_for(done, 30, "the failover to complete under the new leader")
    c[leader].start()
    c.wait_converged(timeout=20)
    observe()


def test_paused_engine_is_replaced_and_reports_lost_lease(make_cluster):
    c = make_cluster(3).start()
    c.wait_leader()
    # every engine registered first, so that placement spreads the projects over all three
    wait_for(lambda: len(c.engines()) == 3 and all(e["alive"] for e in c.engines().values()), 15,
             "3 engines alive")
    add_projects(c, 12)
    wait_for(lambda: all_placed(c), 15, "projects placed")
    leader = c.wait_leader()
    c.wait_converged()
    victim = next(i for i in (1, 2, 3) if i != leader)
    wait_for(lambda: [n for n, (o, _) in owners(c, c[leader]).items() if o == victim], 10,
             f"engine {victim} to own a project")
    c[victim].kill(signal.SIGSTOP)
    try:
        alive = [x for x in c.nodes.values() if x.id != victim]
        wait_for(lambda: all(all_placed(c, x, exclude=(victim,)) for x in alive), TIMEOUT_S + 3,
                 "the paused engine's projects to be reassigned")
    finally:
        c[victim].kill(signal.SIGCONT)
    wait_for(lambda: "LEASE EXPIRED" in c[victim].log(), 10, "the resumed engine to log that its lease expired")
    # its lease expired before (or when) it could have been replaced; once back it owns nothing
    p = owners(c, c[victim])
    wait_for(lambda: all(o != victim for o, _ in (owners(c, c[victim]) or {"x": (victim, 0)}).values()),
             10, "the resumed member to learn it owns nothing")
    assert p is not None


def test_kylin_failure_states(make_cluster):
    # one all engine, two query engines: kill the all engine -> no active leader node
    node_extra = {1: {"kylin.server.mode": "all"}, 2: {"kylin.server.mode": "query"},
                  3: {"kylin.server.mode": "query"}}
    c = make_cluster(3, node_extra=node_extra).start()
    c.wait_leader()
    add_projects(c, 3)
    wait_for(lambda: all_placed(c), 15, "projects placed on the only all engine")
    rc, out, err = c.ctl("project", "show", "proj000")
    assert rc == 0, err
    assert out["owner"] == 1 and out["epoch"] == 1
    if c.wait_leader() == 1:
        c.ctl("leader", "transfer", check=0)
        wait_for(lambda: c.leader_id() not in (None, 1), 10, "leadership to move off member 1")
    c[1].kill(signal.SIGKILL)
    eps = c.endpoints([c[2], c[3]])

    def no_leader_node():
        rc, _, err = c.ctl("project", "show", "proj000", endpoints=eps)
        return rc == 1 and "KE-010021004 There is no active leader node. Please contact system admin to check and fix." in err
    wait_for(no_leader_node, TIMEOUT_S + 5, "KE-010021004 once the only all engine is dead")


def test_kylin_recovering_state_when_owner_dead_and_nowhere_to_go(make_cluster):
    # engines 1 and 2 run all, 3 query; drain 2 so everything sits on 1, then kill 1:
    # its projects have a dead owner and no eligible target -> KE-010021002
    node_extra = {1: {"kylin.server.mode": "all"}, 2: {"kylin.server.mode": "all"},
                  3: {"kylin.server.mode": "query"}}
    c = make_cluster(3, node_extra=node_extra).start()
    c.wait_leader()
    wait_for(lambda: len(c.engines()) == 3, 15, "3 engines registered")
    add_projects(c, 4)
    c.ctl("drain", 2, check=0)
    wait_for(lambda: (lambda p: p if p and all(o == 1 for o, _ in p.values()) else None)(owners(c)), 15,
             "every project drained onto engine 1")
    if c.wait_leader() == 1:
        c.ctl("leader", "transfer", check=0)
        wait_for(lambda: c.leader_id() not in (None, 1), 10, "leadership to move off member 1")
    c[1].kill(signal.SIGKILL)
    eps = c.endpoints([c[2], c[3]])

    def recovering():
        rc, _, err = c.ctl("project", "show", "proj001", endpoints=eps)
        return rc == 1 and "KE-010021002 System is trying to recover service. Please try again later." in err
    wait_for(recovering, TIMEOUT_S + 5, "KE-010021002 while the dead owner's projects cannot move")
    # undrain: the projects find an owner again
    c.ctl("undrain", 2, endpoints=eps, check=0)
    wait_for(lambda: all_placed(c, c[2], exclude=(1,)), 10, "projects re-owned by engine 2 after undrain")


def test_single_engine_mode_owns_everything_and_refuses_a_second(make_cluster):
    # kylin.server.leader-race.enabled=false on engine 1: it owns every project and nothing
    # fails over; engine 2 configured the same way is refused with a clear error.
    node_extra = {1: {"kylin.server.leader-race.enabled": "false"},
                  2: {"kylin.server.leader-race.enabled": "false"}, 3: {}}
    c = make_cluster(3, node_extra=node_extra).start()
    c.wait_leader()
    wait_for(lambda: len(c.engines()) >= 2, 15, "engines registered")
    add_projects(c, 6)
    p = wait_for(lambda: all_placed(c), 15, "projects placed")
    single = {o for o, _ in p.values()}
    assert len(single) == 1, p
    owner = single.pop()
    assert owner in (1, 2)
    other = 3 - owner
    wait_for(lambda: "single-engine mode" in c[other].log(), 15,
             f"member {other} to log that its single-mode engine was refused")
    assert other not in c.engines() or c.engines()[other]["projects"] == 0


def show_on(c, node, name):
    """project show answered by member NODE itself (the owner's lease lives there)."""
    rc, out, err = c.ctl("project", "show", name, endpoints=node.api_addr, timeout_ms=1000)
    return out if rc == 0 else None


def test_moved_project_is_not_acted_for_until_the_old_owners_lease_ran_out(make_cluster):
    c = make_cluster(3).start()
    c.wait_leader()
    wait_for(lambda: len(c.engines()) == 3 and all(e["alive"] for e in c.engines().values()), 15,
             "3 engines alive")
    c.ctl("project", "add", "handed", check=0)
    src = wait_for(lambda: (owners(c) or {}).get("handed", (None,))[0], 10, "the project placed")
    # after its member started, an engine waits one timeout before acting (a hand-over it
    # applied before a restart is not remembered), then acts for its project
    s = wait_for(lambda: (lambda o: o if o and o["acting"] else None)(show_on(c, c[src], "handed")),
                 TIMEOUT_S + 5, f"engine {src} to act for its project")
    assert s["lease_valid"] is True and s["grace_ms_left"] == 0

    dst = next(i for i in (1, 2, 3) if i != src)
    rc, _, err = c.ctl("project", "move", "handed", str(dst))
    assert rc == 0, err
    # the new owner's member applied the move: it must not act while the old owner, alive
    # until a moment ago, may still hold its lease
    # (until member dst applied the move, raftctl asks the owner it names, member src: wait
    # for an answer with the lease fields, which only the owner's own member gives)
    s = wait_for(lambda: (lambda o: o if o and o["owner"] == dst and o["acting"] is not None else None)(
                 show_on(c, c[dst], "handed")), 5, f"member {dst} to apply the move")
    assert s["acting"] is False and s["grace_ms_left"] > 0, s
    assert s["grace_ms_left"] <= TIMEOUT_S * 1000, s
    # and the old owner no longer owns it on its own member
    wait_for(lambda: (lambda o: o if o and o["owner"] == dst else None)(show_on(c, c[src], "handed")),
             5, f"member {src} to apply the move")
    # once the grace ran out, the new owner acts
    s = wait_for(lambda: (lambda o: o if o and o["acting"] else None)(show_on(c, c[dst], "handed")),
                 TIMEOUT_S + 5, f"engine {dst} to act after the hand-over grace")
    assert s["grace_ms_left"] == 0 and s["lease_valid"] is True


def test_engines_register_without_waiting_a_long_heartbeat_interval(make_cluster):
    # Kylin's defaults (30 s / 60 s): the first heartbeat goes out before any leader exists;
    # the engine must try again soon instead of waiting a whole interval to register
    c = make_cluster(3, extra={"kylin.server.leader-race.heart-beat-interval": 30,
                               "kylin.server.leader-race.heart-beat-timeout": 60}).start()
    c.wait_leader()
    wait_for(lambda: len(c.engines()) == 3, 10, "3 engines registered well within one 30 s interval")
    c.ctl("project", "add", "early", check=0)
    wait_for(lambda: (owners(c) or {}).get("early", (None,))[0] is not None, 10, "the project placed")
