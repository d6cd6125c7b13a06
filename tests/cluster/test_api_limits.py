"""Client API resource bounds (issue 12, item 3; docs/security.md, "Limits").

The flood: one connection pipelines project.list without ever reading the replies. Before the
bounds this grew a member to 3.76 GB and starved its loop until the leader declared its engine
dead (a false failover). Now the member stops reading that connection past
raft.api.max-pending-bytes, closes it after raft.api.slow-client-timeout-ms, keeps its RSS
bounded and its engine alive. Also: the connection cap and the idle (slowloris) timeout.
"""
import socket
import struct
import threading
import time

from harness import wait_for


def request(req_id, method):
    """One API frame: a msgpack map {"id": uint32, "method": str} (hand-packed)."""
    m = method.encode()
    payload = b"\x82" + b"\xa2id" + b"\xce" + struct.pack(">I", req_id) + b"\xa6method" + bytes([0xa0 | len(m)]) + m
    return struct.pack(">I", len(payload)) + payload


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def closed_by_peer(sock, timeout):
    """True when the member closes SOCK within TIMEOUT seconds (EOF or reset); replies are drained."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def test_pipelined_flood_without_reading_is_bounded_and_causes_no_failover(make_cluster):
    c = make_cluster(3, extra={"raft.api.slow-client-timeout-ms": 4000}).start()
    c.wait_leader()
    names = [f"flood_{i:03d}" for i in range(150)]
    for i in range(0, len(names), 50):
        c.ctl("project", "add", *names[i:i + 50], check=0)
    wait_for(lambda: all(o is not None for o, _ in (c.projects_on(c[1]) or {"x": (None, 0)}).values()),
             15, "every project owned")
    _, hist_before, _ = c.ctl("history", "--limit", "0", check=0)
    victim = c[c.wait_leader()]  # the leader: its loop also drives raft and the engines' silence
    rss_start = vm_rss_kb(victim.proc.pid)

    flood = socket.create_connection(("127.0.0.1", victim.api_port), timeout=5)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    chunk = b"".join(request(i, "project.list") for i in range(2000))
    sent = {"requests": 0, "error": None}

    def pump():
        flood.settimeout(20)
        try:
            for _ in range(100):  # 200,000 requests at most; the member stops reading long before
                flood.sendall(chunk)
                sent["requests"] += 2000
        except OSError as e:  # a full socket (timeout) or the member closing it
            sent["error"] = e
    t = threading.Thread(target=pump, daemon=True)
    t.start()

    peak = 0
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        peak = max(peak, vm_rss_kb(victim.proc.pid))
        # the member answers others meanwhile, within a short timeout
        rc, _, err = c.ctl("status", endpoints=victim.api_addr, timeout_ms=2000)
        assert rc == 0, f"member 2 did not answer during the flood: {err}"
        time.sleep(0.2)
    # the slow-client timeout closes the flooding connection (its replies are never read)
    wait_for(lambda: "has not read its replies" in victim.log(), 15, "the slow-client close")
    t.join(timeout=25)
    flood.close()
    peak = max(peak, vm_rss_kb(victim.proc.pid))
    print(f"flood: {sent}, RSS {rss_start} kB -> peak {peak} kB")
    assert peak - rss_start < 100 * 1024, f"RSS grew from {rss_start} kB to {peak} kB"

    engines = c.engines()
    assert all(e["alive"] for e in engines.values()), engines
    _, hist_after, _ = c.ctl("history", "--limit", "0", check=0)
    new_rows = hist_after[len(hist_before):]
    assert not [r for r in new_rows if r["reason"] == "failover"], new_rows
    assert all(x.alive() for x in c.nodes.values())


def test_connection_cap_and_idle_timeout(make_cluster):
    c = make_cluster(1, extra={"raft.api.max-connections": 4, "raft.api.idle-timeout-ms": 1500}).start()
    c.wait_leader()
    x = c[1]
    held = [socket.create_connection(("127.0.0.1", x.api_port), timeout=5) for _ in range(4)]
    # a slowloris client: half a frame, never finished
    held[0].sendall(struct.pack(">I", 100) + b"\x82")
    time.sleep(0.3)
    over = socket.create_connection(("127.0.0.1", x.api_port), timeout=5)
    assert closed_by_peer(over, 3), "a connection past raft.api.max-connections stayed open"
    over.close()
    assert "raft.api.max-connections=4" in x.log()
    # the idle timeout drops all four, the half-sent frame too
    for s in held:
        assert closed_by_peer(s, 6), "an idle connection was not closed"
        s.close()
    assert "raft.api.idle-timeout-ms=1500" in x.log()
    # a connection that keeps sending requests is not idle
    busy = socket.create_connection(("127.0.0.1", x.api_port), timeout=5)
    for i in range(8):
        busy.sendall(request(i, "status"))
        time.sleep(0.4)
    busy.settimeout(3)
    assert busy.recv(65536), "the busy connection was closed"
    busy.close()
    c.ctl("status", endpoints=x.api_addr, check=0)
