"""The client API under attack (issue 12, item 2): with raft.api.* TLS only certificates signed by
the CA get in, only raft.api.admins may write, an engine heartbeat is accepted only from the
engine's own member, and every admin write is recorded with who made it."""
import os
import socket
import ssl
import struct
import subprocess

import msgpack

from harness import REPO, wait_for

MAKE_CERTS = os.path.join(REPO, "tools", "make-certs.sh")


def tls_cluster(make_cluster, tmp_path, n=3):
    certs = tmp_path / "certs"
    subprocess.run(["bash", MAKE_CERTS, str(certs), ",".join(str(i) for i in range(1, n + 1)), "admin",
                    "reader"], check=True, capture_output=True)
    node_extra = {i: {"raft.api.cert-file": certs / f"member-{i}.crt",
                      "raft.api.key-file": certs / f"member-{i}.key",
                      "raft.api.trusted-ca-file": certs / "ca.crt",
                      "raft.api.admins": "admin"} for i in range(1, n + 1)}
    c = make_cluster(n, node_extra=node_extra)
    c.ctl_env = as_client(certs, "admin")
    return c, certs


def as_client(certs, name):
    env = {"RAFTCTL_CACERT": str(certs / "ca.crt")}
    if name:
        env.update(RAFTCTL_CERT=str(certs / f"{name}.crt"), RAFTCTL_KEY=str(certs / f"{name}.key"))
    return env


def ctl_as(c, certs, name, *args):
    saved = c.ctl_env
    c.ctl_env = as_client(certs, name)
    try:
        return c.ctl(*args)
    finally:
        c.ctl_env = saved


def api_call(node, certs, name, method, args, timeout=10):
    """One request over TLS with certificate NAME; returns the decoded reply map."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(certs / f"{name}.crt"), str(certs / f"{name}.key"))
    payload = msgpack.packb({"id": 7, "method": method, "args": args})
    with socket.create_connection(("127.0.0.1", node.api_port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(struct.pack(">I", len(payload)) + payload)
            buf = b""
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                chunk = s.recv(65536)
                assert chunk, f"{method}: the member closed the connection without a reply"
                buf += chunk
            return msgpack.unpackb(buf[4:4 + struct.unpack(">I", buf[:4])[0]], raw=False)


def closed_without_reply(node, data, timeout=10):
    """Sends DATA in plaintext to NODE's API; True when it closes the connection with no reply."""
    with socket.create_connection(("127.0.0.1", node.api_port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return True
            if not chunk:
                return not got.startswith(b"\x00")  # a reply frame starts with its length
            got += chunk


def test_api_tls_roles(make_cluster, tmp_path):
    c, certs = tls_cluster(make_cluster, tmp_path)
    c.start()
    leader = c[c.wait_leader(timeout=60)]
    # every member's engine heartbeats the leader over TLS with its own member certificate
    c.wait_engines_alive(timeout=60)

    # no client certificate: the handshake fails, raftctl cannot reach anyone (exit 3)
    rc, _, err = ctl_as(c, certs, None, "status")
    assert rc == 3, err
    wait_for(lambda: "peer did not return a certificate" in leader.log(), 15, "the handshake WARN")

    # plaintext against the TLS API: refused, and the member keeps serving
    saved, c.ctl_env = c.ctl_env, {}
    rc, _, err = c.ctl("status", endpoints=leader.api_addr)
    c.ctl_env = saved
    assert rc == 3, err
    frame = msgpack.packb({"id": 1, "method": "project.add", "args": {"name": "plain"}})
    assert closed_without_reply(leader, struct.pack(">I", len(frame)) + frame)
    assert leader.alive()
    c.ctl("status", endpoints=leader.api_addr, check=0)

    # read-only certificate: reads work, a write is "permission denied" with exit 1
    rc, out, err = ctl_as(c, certs, "reader", "project", "list")
    assert rc == 0, err
    rc, _, err = ctl_as(c, certs, "reader", "project", "add", "p_reader")
    assert rc == 1 and "permission denied" in err, (rc, err)
    # a member's certificate is not an admin's either
    rc, _, err = ctl_as(c, certs, "member-2", "maintenance", "on", "--reason", "x")
    assert rc == 1 and "permission denied" in err, (rc, err)

    # admin: writes, and the ownership history names who asked
    c.ctl("project", "add", "p_admin", check=0)
    c.ctl("project", "add", "p_two", check=0)

    def placed():
        owners = {p["name"]: p["owner"] for p in c.ctl("project", "list", "--consistent", check=0)[1]}
        return owners.get("p_admin")
    owner = wait_for(placed, 30, "p_admin placed on an engine")
    target = next(i for i in c.nodes if i != owner)
    c.ctl("project", "move", "p_admin", target, check=0)
    c.wait_converged(timeout=30)  # every member applied the move: any of them answers below
    hist = c.ctl("history", "--project", "p_admin", check=0)[1]
    moves = [h for h in hist if h["reason"] == "move"]
    assert moves and moves[-1]["by"] == "admin", hist
    assert [h["by"] for h in hist if h["reason"] == "new"] == [None], hist  # placed automatically
    rc, text, _ = c.ctl("history", "--project", "p_admin", json_out=False, check=0)
    assert text.splitlines()[0].split()[-1] == "BY" and text.splitlines()[-1].split()[-1] == "admin", text
    # every admin write is in the audit log with who made it, on every member alike
    audit = c.ctl("audit", "--limit", "0", check=0)[1]
    asked = [(a["by"], a["method"]) for a in audit]
    for method in ("project.add", "project.move"):
        assert ("admin", method) in asked, audit
    assert not any(a["by"] == "reader" for a in audit), audit  # refused requests are not writes
    assert any(a["method"] == "project.add" and "p_admin" in a["detail"] for a in audit), audit
    rc, text, _ = c.ctl("audit", json_out=False, check=0)
    assert text.splitlines()[0].split() == ["INDEX", "TIME", "BY", "METHOD", "DETAIL"], text

    names = {p["name"] for p in c.ctl("project", "list", check=0)[1]}
    assert "p_reader" not in names and "plain" not in names


def test_forged_heartbeats_refused(make_cluster, tmp_path):
    c, certs = tls_cluster(make_cluster, tmp_path)
    c.start()
    lid = c.wait_leader(timeout=60)
    leader = c[lid]
    c.wait_engines_alive(timeout=60)
    c.ctl("project", "add", "p_hb", check=0)
    before = c.ctl("history", "--project", "p_hb", check=0)[1]
    other = next(i for i in c.nodes if i != lid)
    hb = {"id": other, "mode": "query", "weight": 1, "identity": "x:1|1", "race_enabled": True}

    # member-<lid>'s certificate speaking for engine <other>: refused
    r = api_call(leader, certs, f"member-{lid}", "engine.heartbeat", hb)
    assert r["status"] == 1 and r["code"] == "permission_denied", r
    # an admin may not forge a heartbeat either
    r = api_call(leader, certs, "admin", "engine.heartbeat", hb)
    assert r["status"] == 1 and r["code"] == "permission_denied", r
    # the fake engine 99 with weight 1,000,000: refused for readers and admins alike
    fake = dict(hb, id=99, weight=1000000)
    for name in ("reader", "admin", f"member-{other}"):
        r = api_call(leader, certs, name, "engine.heartbeat", fake)
        assert r["status"] == 1 and r["code"] == "permission_denied", (name, r)
    # issue 12's other writes: a member's API address overwritten, a member demoted, maintenance
    r = api_call(leader, certs, f"member-{other}", "member.register", {"id": lid, "api_address": "127.0.0.1:1"})
    assert r["status"] == 1 and r["code"] == "permission_denied", r
    for method, args in (("member.register", {"id": lid, "api_address": "127.0.0.1:1"}),
                         ("member.assign", {"id": other, "role": "standby"}),
                         ("maintenance", {"on": True, "reason": "x"}),
                         ("project.pin", {"name": "p_hb", "engine": other})):
        r = api_call(leader, certs, "reader", method, args)
        assert r["status"] == 1 and r["code"] == "permission_denied", (method, r)
    # the engine's own member may (what its engine does every second anyway)
    own = c.ctl("engine", "list", check=0)[1]
    mine = next(e for e in own if e["id"] == other)
    r = api_call(leader, certs, f"member-{other}", "engine.heartbeat",
                 dict(hb, mode=mine["mode"], weight=mine["weight"], identity=mine["identity"],
                      race_enabled=mine.get("race_enabled", True)))
    assert r["status"] == 0, r

    engines = {e["id"]: e for e in c.ctl("engine", "list", check=0)[1]}
    assert 99 not in engines
    assert engines[other]["mode"] != "query" or mine["mode"] == "query"
    after = c.ctl("history", "--project", "p_hb", check=0)[1]
    assert [h for h in after if h["reason"] == "failover"] == [h for h in before if h["reason"] == "failover"]
    assert all(x.alive() for x in c.nodes.values())


def test_join_and_register_with_api_tls(make_cluster, tmp_path):
    """A member joining with raft.join calls the leader's API with its own member-4 certificate:
    member.join and member.register as itself are allowed, and its engine heartbeats."""
    c, certs = tls_cluster(make_cluster, tmp_path)
    subprocess.run(["bash", MAKE_CERTS, str(certs), "4", "admin", "reader"], check=True, capture_output=True)
    c.start()
    c.wait_leader(timeout=60)
    c.wait_engines_alive(timeout=60)
    n4 = c.add_joiner(4, extra={"raft.api.cert-file": certs / "member-4.crt",
                                "raft.api.key-file": certs / "member-4.key",
                                "raft.api.trusted-ca-file": certs / "ca.crt",
                                "raft.api.admins": "admin"}).start()

    def joined():
        rc, members, _ = c.ctl("member", "list")
        m = {x["id"]: x for x in members}.get(4) if rc == 0 else None
        return m if m and m["api_address"] == n4.api_addr else None
    wait_for(joined, 60, "member 4 to join and register its API address over TLS")
    c.wait_engines_alive(timeout=60, ids=[1, 2, 3, 4])
    audit = c.ctl("audit", "--limit", "0", check=0)[1]
    assert ("member-4", "member.join") in [(a["by"], a["method"]) for a in audit], audit
    assert "permission denied" not in n4.log()


def test_plaintext_audit_names_the_peer(make_cluster):
    """Without API TLS anyone may write, and the audit and history say from which address."""
    c = make_cluster(3).start()
    c.wait_leader(timeout=60)
    c.wait_engines_alive(timeout=60)
    c.ctl("project", "add", "p_plain", check=0)

    def placed():
        owners = {p["name"]: p["owner"] for p in c.ctl("project", "list", "--consistent", check=0)[1]}
        return owners.get("p_plain")
    owner = wait_for(placed, 30, "p_plain placed on an engine")
    c.ctl("project", "move", "p_plain", next(i for i in c.nodes if i != owner), check=0)
    c.wait_converged(timeout=30)
    moves = [h for h in c.ctl("history", "--project", "p_plain", check=0)[1] if h["reason"] == "move"]
    assert moves and moves[-1]["by"].startswith("peer 127.0.0.1:"), moves
    audit = c.ctl("audit", "--limit", "0", check=0)[1]
    assert any(a["method"] == "project.add" and a["by"].startswith("peer 127.0.0.1:") for a in audit), audit
    assert "api: plaintext, no client authentication" in c[1].log()
