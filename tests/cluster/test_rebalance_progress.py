"""`raftctl rebalance` of a few thousand moves (docs/protocol.md, rebalance and
rebalance.status): the leader applies them in slices of at most 256, and raftctl, asked with
--progress, prints "raftctl: rebalance: K of N moves applied" lines on stderr from the leader's
rebalance.status while it waits; stdout (-w json) carries the same result as without it. The
followers are paused for a moment while the first slice waits for its commit, so a line with
moves still to apply is certain to be seen (election and engine timeouts are raised so that
pause changes nothing else)."""
import json
import os
import re
import signal
import subprocess
import time

from harness import RAFTCTL, wait_for

N_PROJECTS = 3000
LINE = re.compile(r"^raftctl: rebalance: ([\d,]+) of ([\d,]+) moves applied$")


def number(s):
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", s), s
    return int(s.replace(",", ""))


def counts(projects):
    out = {}
    for owner, _ in projects.values():
        out[owner] = out.get(owner, 0) + 1
    return out


def test_rebalance_progress_lines_and_unchanged_result(make_cluster, tmp_path):
    c = make_cluster(3, extra={"raft.election-timeout-ms": 10000,
                               "kylin.server.leader-race.heart-beat-timeout": 60}).start()
    leader = c.wait_leader(timeout=60)
    wait_for(lambda: len(c.engines()) == 3, 30, "3 engines registered")
    for e in (2, 3):
        c.ctl("drain", e, check=0)
    names = [f"p{i:05d}" for i in range(N_PROJECTS)]
    for i in range(0, N_PROJECTS, 250):
        c.ctl("project", "add", *names[i:i + 250], check=0, timeout_ms=30000)
    wait_for(lambda: (lambda p: p and counts(p).get(1) == N_PROJECTS + 1)(c.projects_on(c[leader])), 120,
             "every project on engine 1")
    for e in (2, 3):
        c.ctl("undrain", e, check=0)
    rc, plan, err = c.ctl("rebalance", "--dry-run", timeout_ms=30000)
    assert rc == 0, err
    planned = len(plan["moves"])
    assert planned == plan["lower_bound"] and planned >= 2000, plan["lower_bound"]

    # pause both followers: the first slice cannot commit until they resume
    followers = [x for x in c.nodes.values() if x.id != leader]
    for x in followers:
        os.kill(x.proc.pid, signal.SIGSTOP)
    err_path = tmp_path / "rebalance.stderr"

    def lines():
        return err_path.read_text().splitlines() if err_path.exists() else []
    try:
        # the leader only: a paused member would hold a request until the timeout
        cmd = [RAFTCTL, "--endpoints", c[leader].api_addr, "--timeout", "120000", "-w", "json", "rebalance", "--progress"]
        with open(err_path, "w") as err_file:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, text=True,
                                 env={**os.environ, **c.ctl_env})
        wait_for(lambda: any(LINE.match(l) for l in lines()), 30, "a progress line while the followers are paused")
    finally:
        for x in followers:
            os.kill(x.proc.pid, signal.SIGCONT)
    try:
        out, _ = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    assert p.returncode == 0, lines()

    # stdout: the same JSON document as without --progress, nothing else
    done = json.loads(out)
    assert done["applied"] is True
    assert sorted((m["project"], m["from"], m["to"]) for m in done["moves"]) == \
        sorted((m["project"], m["from"], m["to"]) for m in plan["moves"])

    # stderr: only progress lines, the planned count in each, applied counts never going back,
    # at least one with moves still to apply, the last one all of them
    seen = []
    for l in lines():
        m = LINE.match(l)
        assert m, f"unexpected stderr line {l!r}"
        seen.append((number(m.group(1)), number(m.group(2))))
    assert all(total == planned for _, total in seen), seen
    applied = [a for a, _ in seen]
    assert applied == sorted(applied), seen
    assert applied[0] < planned and applied[-1] == planned, seen
    print(f"progress lines: {seen}")

    # the result itself: every engine within one project of its share, every move applied
    final = wait_for(lambda: (lambda p: p if p and max(counts(p).values()) - min(counts(p).values()) <= 1 else None)(
        c.projects_on(c[leader])), 60, "the load evened")
    assert sorted(counts(final)) == [1, 2, 3]
    for m in done["moves"]:
        assert final[m["project"]][0] == m["to"]

    # without --progress and with stderr not a terminal: no progress lines at all
    rc, again, err = c.ctl("rebalance", timeout_ms=30000)
    assert rc == 0 and again["moves"] == [] and err == "", err
