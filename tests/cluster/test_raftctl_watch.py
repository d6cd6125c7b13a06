"""raftctl --watch SECONDS [--count N] (status, engine list, kylin status): refreshes until
Ctrl-C or N rounds, keeps watching through a failover, and Ctrl-C ends it at once."""
import json
import signal
import subprocess
import time

from harness import RAFTCTL, wait_for


def watch(c, *args, count=None, json_out=False):
    cmd = [RAFTCTL, "--endpoints", c.endpoints(), "--timeout", "1000"] + (["-w", "json"] if json_out else [])
    cmd += list(args) + ["--watch", "1"] + (["--count", str(count)] if count else [])
    return cmd


def test_watch_counts_rounds_and_ends_on_ctrl_c(make_cluster):
    c = make_cluster(3).start()
    c.wait_leader()
    c.wait_engines_alive()
    p = subprocess.run(watch(c, "status", count=2), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("every 1s: raftctl status") == 2
    assert p.stdout.count("leader") >= 2

    p = subprocess.run(watch(c, "engine", "list", count=2, json_out=True), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    docs, dec, text = [], json.JSONDecoder(), p.stdout.strip()
    while text:  # one JSON document per round, no header
        doc, end = dec.raw_decode(text)
        docs.append(doc)
        text = text[end:].strip()
    assert len(docs) == 2 and sorted(e["id"] for e in docs[0]) == [1, 2, 3]

    # unbounded: it keeps refreshing through a leader kill, and SIGINT (Ctrl-C) ends it
    proc = subprocess.Popen(watch(c, "status"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        leader = c.wait_leader()
        c[leader].kill(signal.SIGKILL)
        wait_for(lambda: c.leader_id() not in (None, leader), 30, "a new leader")
        time.sleep(2.5)  # let the watch print at least two rounds after the election (it runs every 1 s)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        assert time.monotonic() - t0 < 5, "Ctrl-C ended the watch late"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.count("every 1s: raftctl status") >= 3
    assert proc.returncode in (0, 3), (proc.returncode, err)
