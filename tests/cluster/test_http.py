"""The HTTP port (raft.http.address; docs/observability.md): /metrics in Prometheus text format,
/health, /ready, the read-only JSON documents, the 4xx answers, readiness of a member cut off
from the leader, and many HTTP connections not stalling raft."""
import http.client
import json
import math
import os
import re
import signal
import socket
import threading
import time

from harness import free_ports, wait_for

# ---- a tiny Prometheus text format 0.0.4 parser ----

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, f"bad label syntax at {text[pos:]!r}"
        value = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), m.group(2))
        assert m.group(1) not in labels, f"label {m.group(1)} twice"
        labels[m.group(1)] = value
        pos = m.end()
        if pos < len(text):
            assert text[pos] == ",", f"expected ',' at {text[pos:]!r}"
            pos += 1
    return labels


def parse_prom(text):
    """{family: {"type", "help", "samples": [(name, labels, value)]}}; asserts the syntax."""
    assert text.endswith("\n")
    families, current = {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(NAME, name), line
            families.setdefault(name, {"samples": []})["help"] = help_text
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            fam = families.setdefault(name, {"samples": []})
            assert "type" not in fam and not fam["samples"], f"TYPE of {name} twice or after samples"
            fam["type"] = typ
            current = name
        elif line.startswith("#") or not line:
            continue
        else:
            m = SAMPLE.match(line)
            assert m, f"bad sample line {line!r}"
            name, labels, value = m.group(1), parse_labels(m.group(2) or ""), float(m.group(3))
            base = current
            assert base is not None and (name == base or (families[base]["type"] == "histogram" and name in (
                base + "_bucket", base + "_sum", base + "_count"))), f"{name} outside its family ({base})"
            families[base]["samples"].append((name, labels, value))
    for name, fam in families.items():
        assert "type" in fam and "help" in fam, f"{name} lacks TYPE or HELP"
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    series = {}
    for n, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if n == name + "_bucket":
            s["buckets"].append((float(labels["le"]), value))
        elif n == name + "_sum":
            s["sum"] = value
        else:
            s["count"] = value
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        assert les == sorted(les) and les[-1] == math.inf, f"{name}{key}: buckets {les}"
        assert counts == sorted(counts), f"{name}{key}: buckets not monotonic {counts}"
        assert counts[-1] == s["count"], f"{name}{key}: +Inf {counts[-1]} != count {s['count']}"
        assert s["sum"] is not None


def value(families, name, **labels):
    """The first sample NAME (a family's own name or a histogram's _count/_sum) with LABELS."""
    for fam in families.values():
        for n, l, v in fam["samples"]:
            if n == name and all(l.get(k) == str(x) for k, x in labels.items()):
                return v
    return None

# ---- HTTP helpers ----


def get(port, path, method="GET", body=None, headers=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def http_cluster(make_cluster):
    ports = free_ports(3)
    c = make_cluster(3, node_extra={i + 1: {"raft.http.address": f"127.0.0.1:{ports[i]}"} for i in range(3)})
    for i, x in enumerate(c.nodes.values()):
        x.http_port = ports[i]
    return c.start()


REQUIRED = ["raftnode_term", "raftnode_is_leader", "raftnode_commit_index", "raftnode_applied_index",
            "raftnode_leader_changes_total", "raftnode_engine_alive", "raftnode_engine_projects",
            "raftnode_ownership_changes_total", "raftnode_api_requests_total",
            "raftnode_api_request_duration_seconds", "raftnode_mirror_lag_seconds", "raftnode_apply_lag_entries",
            "raftnode_snapshot_index", "raftnode_last_log_index", "raftnode_proposal_batch_commands",
            "raftnode_loop_lag_seconds", "raftnode_lease_valid", "raftnode_proposal_commit_seconds", "raftnode_raft_append_duration_seconds",
            "raftnode_aio_destroys_total", "process_resident_memory_bytes",
            "process_open_fds", "process_cpu_seconds_total"]


def test_http_endpoints_metrics_and_errors(make_cluster):
    c = http_cluster(make_cluster)
    leader = c.wait_leader()
    for name in ("alpha", "beta"):
        c.ctl("project", "add", name, check=0)
    c.wait_converged()
    wait_for(lambda: all(p[0] for p in c.projects_on(c[1]).values()), 15, "every project owned")

    for x in c.nodes.values():
        st, hdr, body = get(x.http_port, "/health")
        assert (st, body) == (200, "ok\n")
        wait_for(lambda: get(x.http_port, "/ready")[0] == 200, 10, f"member {x.id} ready")

        st, hdr, body = get(x.http_port, "/metrics")
        assert st == 200 and hdr["Content-Type"].startswith("text/plain; version=0.0.4")
        fams = parse_prom(body)
        for name in REQUIRED:
            assert name in fams, f"member {x.id}: {name} missing"
        assert value(fams, "raftnode_is_leader") == (1 if x.id == leader else 0)
        assert value(fams, "raftnode_applied_index") >= 1
        assert value(fams, "raftnode_engine_alive", engine=x.id) == 1
        assert value(fams, "raftnode_api_requests_total", method="status", code="ok") >= 1
        assert value(fams, "raftnode_api_request_duration_seconds_count") >= 1
        if x.id == leader:
            assert value(fams, "raftnode_api_requests_total", method="project.add", code="ok") == 2
            assert value(fams, "raftnode_proposal_batch_commands_count") >= 2
            assert value(fams, "raftnode_proposal_commit_seconds_count") >= 2
        owned = sum(v for n, l, v in fams["raftnode_engine_projects"]["samples"])
        assert owned == 3  # alpha, beta and _global
        assert value(fams, "raftnode_ownership_changes_total") is not None

        # the JSON documents carry raftctl -w json's fields
        st, hdr, body = get(x.http_port, "/v1/status")
        assert st == 200 and hdr["Content-Type"] == "application/json"
        doc = json.loads(body)
        assert doc["id"] == x.id and doc["leader_id"] == leader
        assert {"term", "commit_index", "applied_index", "state", "members"} <= set(doc)
        assert sorted(m["id"] for m in doc["members"]) == [1, 2, 3]
        st, _, body = get(x.http_port, "/v1/engines")
        engines = json.loads(body)
        rc, ctl_engines, _ = c.ctl("engine", "list", check=0)
        assert sorted(e["id"] for e in engines) == [1, 2, 3]
        for e in engines:
            assert set(ctl_engines[0]) <= set(e)
        st, _, body = get(x.http_port, "/v1/projects")
        assert st == 200
        rc, ctl_projects, _ = c.ctl("project", "list", endpoints=x.api_addr, check=0)
        assert json.loads(body) == ctl_projects
        st, _, body = get(x.http_port, "/v1/projects/alpha")
        assert st == 200
        doc = json.loads(body)
        assert {"name", "owner", "owner_identity", "epoch", "pinned", "lease_valid", "lease_ms_left"} <= set(doc)
        assert doc["name"] == "alpha" and doc["owner"] in (1, 2, 3)

    # the log append histogram grows with writes on every member (followers append too);
    # sequential writes are separate entries, so the leader appends each one on its own
    def appends(x):
        fams = parse_prom(get(x.http_port, "/metrics")[2])
        assert fams["raftnode_raft_append_duration_seconds"]["type"] == "histogram"
        count = value(fams, "raftnode_raft_append_duration_seconds_count")
        assert count == value(fams, "raftnode_raft_append_duration_seconds_bucket", le="+Inf")
        assert value(fams, "raftnode_raft_append_duration_seconds_sum") > 0
        return count
    before = {x.id: appends(x) for x in c.nodes.values()}
    assert all(n >= 1 for n in before.values()), before
    for i in range(10):
        c.ctl("project", "add", f"appends{i}", check=0)
    wait_for(lambda: appends(c[leader]) >= before[leader] + 10, 15, "leader's append count grows by 10")
    for x in c.nodes.values():
        wait_for(lambda: appends(x) > before[x.id], 15, f"member {x.id}'s append count grows")

    port = c[1].http_port
    st, _, body = get(port, "/v1/projects/nosuch")
    assert st == 404 and json.loads(body)["code"] == "not_found"
    st, _, body = get(port, "/v1/projects/bad-name!")
    assert st == 400 and json.loads(body)["code"] == "invalid"
    st, _, _ = get(port, "/v1/projects/" + "a" * 400)
    assert st == 400
    assert get(port, "/nope")[0] == 404
    assert get(port, "/v1/projects/alpha/x")[0] == 400
    st, hdr, _ = get(port, "/metrics", method="POST", body="x=1")
    assert st == 405 and "GET" in hdr["Allow"]
    assert get(port, "/health", method="DELETE")[0] == 405
    assert get(port, "/v1/status", body="surprise")[0] == 400
    # a body that never ends is refused at once, not read until the timeout
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400 ")
    s.close()
    assert get(port, "/x" * 20000)[0] in (400, 404, 413, 414, 431)
    # garbage on the socket: a 4xx/505, a closed connection, or silence until the idle
    # timeout (10 s) closes it; never a crash, and other clients are served meanwhile
    for garbage in (b"\x00\x01GARBAGE \xff\r\n\r\n", b"BLAH\r\n\r\n", b"GET /health HTTP/9.9\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(garbage)
        try:
            reply = s.recv(100)
        except socket.timeout:
            reply = b"(silence)"
        assert get(port, "/health")[0] == 200
        s.close()
        assert reply in (b"", b"(silence)") or re.match(rb"HTTP/1\.1 (4\d\d|505) ", reply), reply
    st, _, body = get(port, "/health", method="HEAD")
    assert st == 200 and body == ""
    # errors are counted by path and code
    fams = parse_prom(get(port, "/metrics")[2])
    assert value(fams, "raftnode_http_requests_total", path="/v1/projects/NAME", code="404") == 1
    assert value(fams, "raftnode_http_requests_total", path="other", code="405") >= 1
    assert all(x.alive() for x in c.nodes.values())


def test_ready_flips_on_a_member_cut_off(make_cluster):
    c = http_cluster(make_cluster)
    leader = c.wait_leader()
    follower = next(x for x in c.nodes.values() if x.id != leader)
    others = [x for x in c.nodes.values() if x is not follower]
    wait_for(lambda: get(follower.http_port, "/ready")[0] == 200, 10, "follower ready")
    for x in others:
        os.kill(x.proc.pid, signal.SIGSTOP)
    try:
        st, _, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(follower.http_port, "/ready")),
                               10, "follower not ready once cut off")
        assert "not ready" in body
        assert get(follower.http_port, "/health")[0] == 200  # the loop still answers
        # the counter samples the known leader every 100 ms (HTTP_LAG_TICK_MS): the loss is
        # counted while it lasts (a shorter one, ended before a sample, would not be)
        wait_for(lambda: changes(follower) >= 2, 10, "the leader's loss counted")
    finally:
        for x in others:
            os.kill(x.proc.pid, signal.SIGCONT)
    wait_for(lambda: get(follower.http_port, "/ready")[0] == 200, 15, "follower ready again")
    wait_for(lambda: changes(follower) >= 3, 10, "the new leader counted")  # a leader, none, a leader again


def changes(node):
    return value(parse_prom(get(node.http_port, "/metrics")[2]), "raftnode_leader_changes_total")


def test_many_connections_do_not_stall_raft(make_cluster):
    c = http_cluster(make_cluster)
    c.wait_leader()
    port = c[1].http_port
    # idle connections past the limit (64), plus clients scraping in parallel
    idle = []
    for _ in range(100):
        try:
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    errors, done = [], threading.Event()

    def scrape():
        while not done.is_set():
            try:
                get(port, "/metrics", timeout=2)
            except OSError as e:
                errors.append(e)  # refused or reset while over the limit: expected
    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        t0 = time.monotonic()
        c.ctl("project", "add", "during_http_load", check=0)
        assert time.monotonic() - t0 < 5
        c.wait_leader()
    finally:
        done.set()
        for t in threads:
            t.join()
        for s in idle:
            s.close()
    # once the idle connections are gone the port serves again
    wait_for(lambda: get(port, "/health")[0] == 200, 10, "/health after the load")
    fams = parse_prom(get(port, "/metrics")[2])
    assert value(fams, "raftnode_loop_lag_max_seconds") < 1.0
    assert all(x.alive() for x in c.nodes.values())


def test_snapshot_index_follows_snapshots_taken_and_restored(make_cluster):
    """raftnode_snapshot_index is the index of the last snapshot taken or restored here (libraft
    0.22 keeps its own in a private structure; the metric read a field that stayed 0)."""
    port = free_ports(1)[0]
    c = make_cluster(1, extra={"raft.snapshot-threshold": 8, "raft.snapshot-trailing": 2},
                     node_extra={1: {"raft.http.address": f"127.0.0.1:{port}"}}).start()
    c.wait_leader()
    x = c[1]

    def figures():
        st, _, body = get(port, "/metrics")
        assert st == 200, body
        f = parse_prom(body)
        return value(f, "raftnode_snapshot_index"), value(f, "raftnode_last_log_index"), \
            value(f, "raftnode_log_entries_since_snapshot")
    assert figures()[0] == 0
    for i in range(30):  # one entry each: several snapshots on the way
        c.ctl("project", "add", f"s{i:02d}", check=0)
    snap, last, since = wait_for(lambda: (lambda f: f if f[0] >= 8 else None)(figures()), 30,
                                 "a snapshot counted in raftnode_snapshot_index")
    assert snap <= last and since == last - snap
    assert any(f.startswith("snapshot") for f in os.listdir(os.path.join(x.dir, "raft")))
    # each snapshot finalizes the open segment; its AIO context is torn down off the loop
    # (raftnode/aio_defer.h): none of those io_destroy calls ran on the loop thread
    fams = wait_for(lambda: (lambda f: f if (value(f, "raftnode_aio_destroys_total", on="background") or 0) >= 1
                             else None)(parse_prom(get(port, "/metrics")[2])), 30,
                    "an AIO context torn down on the background thread")
    assert value(fams, "raftnode_aio_destroys_total", on="loop") == 0
    assert x.stop() == 0
    x.start()
    c.wait_leader()
    # restored at start: the index is known before any new snapshot is taken
    restored = wait_for(lambda: figures()[0] or None, 30, "the restored snapshot's index")
    assert restored >= snap
