"""Bad input never crashes a node: garbage bytes, oversize frames, bad configs."""
import os
import socket
import struct
import subprocess

from harness import RAFTNODE, wait_for


def test_garbage_and_oversize_frames_leave_members_serving(make_cluster):
    c = make_cluster(3, extra={"raft.api.max-frame-bytes": 4096}).start()
    c.wait_leader()
    for x in c.nodes.values():
        # garbage: a plausible length with random bytes, and a length past the limit
        for payload in (struct.pack(">I", 16) + os.urandom(16), struct.pack(">I", 1 << 30) + b"x" * 64,
                        b"\xff" * 3, struct.pack(">I", 1) + b"\xc1"):
            s = socket.create_connection(("127.0.0.1", x.api_port), timeout=5)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        # half-open connection that never sends anything stays harmless
        idle = socket.create_connection(("127.0.0.1", x.api_port), timeout=5)
        rc, _, err = c.ctl("project", "list", endpoints=x.api_addr)
        assert rc == 0, err
        idle.close()
    c.ctl("project", "add", "still_ok", check=0)
    assert all(x.alive() for x in c.nodes.values())


def run_raftnode(tmp_path, text, *args):
    conf = tmp_path / "bad.properties"
    conf.write_text(text)
    p = subprocess.run([RAFTNODE, "-c", str(conf), *args], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stderr, str(conf)


def test_config_errors_exit_2_with_file_line_key(tmp_path):
    rc, err, path = run_raftnode(tmp_path, "raft.node.id=1\nraft.bogus=3\n")
    assert rc == 2 and f"{path}:2: raft.bogus" in err
    rc, err, path = run_raftnode(tmp_path, "# c\nraft.node.id=abc\n")
    assert rc == 2 and f"{path}:2: raft.node.id" in err
    rc, err, path = run_raftnode(tmp_path, "raft.node.id=1\n")
    assert rc == 2 and "required" in err
    rc, err, path = run_raftnode(tmp_path, "raft.node.id=1\n", "-D", "raft.election-timeout-ms=nope")
    assert rc == 2 and "raft.election-timeout-ms" in err
