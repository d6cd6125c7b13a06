"""The raft port under attack (issue 12): malformed peer messages close that connection only;
with peer TLS an unauthenticated socket cannot reach libraft at all. Messages: peerwire.py."""
import os
import socket
import ssl
import subprocess
import time

import peerwire as w
from harness import REPO, wait_for

MAKE_CERTS = os.path.join(REPO, "tools", "make-certs.sh")


def terms(c):
    out = {}
    for x in c.nodes.values():
        if x.alive():
            st = c.status(x)
            out[x.id] = st["term"] if st else None
    return out


def send_raw(node, payload, timeout=5.0):
    """Sends PAYLOAD to NODE's raft port; True when the member closed the connection."""
    s = socket.create_connection(("127.0.0.1", node.raft_port), timeout=timeout)
    try:
        s.sendall(payload)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not s.recv(4096):
                    return True
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
        return False
    finally:
        s.close()


def assert_healthy(c, before, slack=5):
    leader = c.wait_leader(timeout=15)
    assert all(x.alive() for x in c.nodes.values())
    after = terms(c)
    for i, t in after.items():
        assert t is not None and t <= max(before.values()) + slack, f"term jumped: {before} -> {after}"
    return leader


def test_malformed_peer_messages_close_that_connection_only(make_cluster):
    c = make_cluster(3).start()
    c.wait_leader()
    c.ctl("project", "add", "p_before", check=0)
    before = terms(c)
    idle = socket.create_connection(("127.0.0.1", c[1].raft_port), timeout=5)  # never sends
    opened = time.monotonic()
    hs = w.handshake(2, "127.0.0.1:1")
    attacks = w.attacks(term=max(before.values()) + 1)
    for x in c.nodes.values():
        for name, msg in attacks.items():
            assert send_raw(x, hs + msg), f"member {x.id} kept the connection open after {name}"
        # handshakes themselves: bad protocol, id 0, id 2^63, unterminated address, huge length
        for bad in (w.handshake(2, "127.0.0.1:1", protocol=9), w.handshake(0, "127.0.0.1:1"),
                    w.handshake(1 << 63, "127.0.0.1:1"), w.u64(1, 2, 16) + b"a" * 16,
                    w.u64(1, 2, 1 << 40)):
            assert send_raw(x, bad), f"member {x.id} accepted a malformed handshake"
        # a message cut short, then the connection closed: nothing reaches libraft
        s = socket.create_connection(("127.0.0.1", x.raft_port), timeout=5)
        s.sendall(hs + w.good_messages()["append_entries_two"][:40])
        s.close()
    leader = assert_healthy(c, before)
    c.ctl("project", "add", "p_after", check=0)
    c.wait_converged()
    for x in c.nodes.values():
        log = x.log()
        assert "raft peer 127.0.0.1:" in log and "closing that connection" in log, f"no WARN on member {x.id}"
        assert "RequestVote: term 18446744073709551615" in log
        assert "50000000 entries claimed" in log
        assert "RequestVote: header of 1 bytes" in log
    assert c.leader_id() == leader
    # a connection that never completes its handshake is closed after 10 s
    idle.settimeout(max(1.0, 16 - (time.monotonic() - opened)))
    assert idle.recv(16) == b""
    idle.close()
    assert "no raft handshake within 10000 ms" in c[1].log()


def make_tls_cluster(make_cluster, tmp_path, n=3):
    certs = tmp_path / "certs"
    subprocess.run(["bash", MAKE_CERTS, str(certs), ",".join(str(i) for i in range(1, n + 1)), "admin"],
                   check=True, capture_output=True)
    node_extra = {i: {"raft.peer.cert-file": certs / f"member-{i}.crt",
                      "raft.peer.key-file": certs / f"member-{i}.key",
                      "raft.peer.trusted-ca-file": certs / "ca.crt"} for i in range(1, n + 1)}
    return make_cluster(n, node_extra=node_extra), certs


def test_peer_tls_cluster_elects_replicates_and_survives_a_leader_kill(make_cluster, tmp_path):
    c, _ = make_tls_cluster(make_cluster, tmp_path)
    c.start()
    leader = c.wait_leader()
    for i in range(5):
        c.ctl("project", "add", f"tls{i}", check=0)
    c.wait_converged()
    c[leader].kill()
    wait_for(lambda: c.leader_id() not in (None, leader), 20, "a new leader")
    c.ctl("project", "add", "after_kill", check=0)
    c[leader].start()
    c.wait_converged(timeout=20)
    for x in c.nodes.values():
        assert "TLS handshake" not in x.log(), f"member {x.id}: TLS failure between members"


def test_peer_tls_refuses_unauthenticated_and_impersonating_peers(make_cluster, tmp_path):
    c, certs = make_tls_cluster(make_cluster, tmp_path)
    c.start()
    leader = c.wait_leader()
    before = terms(c)
    forged = w.handshake(2, "127.0.0.1:1") + w.request_vote(w.U64_MAX, 2, w.U64_MAX, w.U64_MAX, disrupt=True)
    legal_frame = w.handshake(2, "127.0.0.1:1") + w.append_entries(max(before.values()) + 1000, 1, 1, 1)
    for x in c.nodes.values():
        # plaintext on a TLS port: the handshake fails before a byte reaches libraft
        assert send_raw(x, forged)
        assert send_raw(x, legal_frame)
        # a certificate from another CA
        other = tmp_path / f"other{x.id}"
        subprocess.run(["bash", MAKE_CERTS, str(other), "2", "x"], check=True, capture_output=True)
        for cert, key, claim in ((other / "member-2.crt", other / "member-2.key", 2),
                                 # a real member's certificate claiming another member's id
                                 (certs / "member-3.crt", certs / "member-3.key", 2 if x.id != 2 else 1)):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(str(certs / "ca.crt"))
            ctx.load_cert_chain(str(cert), str(key))
            raw = socket.create_connection(("127.0.0.1", x.raft_port), timeout=5)
            closed = False
            try:
                s = ctx.wrap_socket(raw)
                s.sendall(w.handshake(claim, "127.0.0.1:1") +
                          w.request_vote(w.U64_MAX, claim, w.U64_MAX, w.U64_MAX, disrupt=True))
                closed = s.recv(4096) == b""
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                closed = True
            finally:
                raw.close()
            assert closed, f"member {x.id} kept a connection from {cert.name} claiming id {claim}"
    time.sleep(1.0)
    assert c.leader_id() == leader
    assert terms(c) == before
    for x in c.nodes.values():
        log = x.log()
        assert "TLS handshake" in log
        assert "expected \"member-" in log
    c.ctl("project", "add", "still_ok", check=0)


def test_peer_tls_keys_all_or_none(tmp_path):
    from harness import RAFTNODE
    certs = tmp_path / "certs"
    subprocess.run(["bash", MAKE_CERTS, str(certs), "1"], check=True, capture_output=True)
    conf = tmp_path / "n.properties"
    conf.write_text("raft.node.id=1\nraft.node.address=127.0.0.1:7101\nraft.api.address=127.0.0.1:7201\n"
                    f"raft.data-dir={tmp_path}/d\nraft.initial-cluster=1=127.0.0.1:7101\n"
                    f"raft.peer.cert-file={certs}/member-1.crt\n")
    p = subprocess.run([RAFTNODE, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and f"{conf}:6: raft.peer.cert-file" in p.stderr and "raft.peer.key-file" in p.stderr
    conf.write_text(conf.read_text() + f"raft.peer.key-file={certs}/member-1.key\n"
                    f"raft.peer.trusted-ca-file={certs}/missing.crt\n")
    p = subprocess.run([RAFTNODE, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and f"{conf}:8: raft.peer.trusted-ca-file" in p.stderr and "cannot read" in p.stderr
