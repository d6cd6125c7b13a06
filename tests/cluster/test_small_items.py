"""Issue 12, item 4: the small things, each with a clear message."""
import os
import re
import socket
import stat
import struct
import time
import subprocess

from harness import RAFTNODE, free_ports, wait_for


def run_until_exit(node, *args, timeout=20):
    p = subprocess.run([RAFTNODE, "-c", node.conf_path, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def test_address_in_use_is_named(make_cluster):
    c = make_cluster(1)
    x = c[1]
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        # raft.node.address taken (issue 12: "I/O error ()" and an AIO hint)
        x.raft_port = port
        x.write_conf(initial_cluster=f"1={x.raft_addr}")
        rc, err = run_until_exit(x)
        assert rc != 0
        assert f"cannot listen on raft.node.address 127.0.0.1:{port}: address already in use" in err, err
        assert "AIO" not in err, err
        # raft.api.address taken
        x.api_port, x.raft_port = port, free_port()
        x.write_conf(initial_cluster=f"1={x.raft_addr}")
        rc, err = run_until_exit(x)
        assert rc != 0
        assert f"cannot listen on raft.api.address 127.0.0.1:{port}: address already in use" in err, err
    finally:
        taken.close()


def free_port():
    return free_ports(1)[0]


def raw_member_add(port, member_id):
    """member.add with a uint64 id that raftctl would refuse; returns the raw reply bytes."""
    addr = b"127.0.0.1:1"
    args = b"\x82" + b"\xa2id" + b"\xcf" + struct.pack(">Q", member_id) + b"\xa7address" + bytes([0xa0 | len(addr)]) + addr
    m = b"member.add"
    payload = b"\x83" + b"\xa2id\x07" + b"\xa6method" + bytes([0xa0 | len(m)]) + m + b"\xa4args" + args
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(struct.pack(">I", len(payload)) + payload)
    head = s.recv(4)
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    s.close()
    return body


def test_member_ids_above_2_63_refused(make_cluster):
    c = make_cluster(1).start()
    c.wait_leader()
    for bad in (1 << 63, (1 << 64) - 1):
        reply = raw_member_add(c[1].api_port, bad)
        assert b"above 9223372036854775807 (2^63-1)" in reply, reply
        rc, _, err = c.ctl("member", "add", str(bad), "127.0.0.1:1", json_out=False)
        assert rc == 2 and "9223372036854775807" in err, err
    rc, out, _ = c.ctl("member", "list", check=0)
    assert [m["id"] for m in out] == [1]
    wait_for(lambda: c[1].alive(), 1, "member 1 alive")


def test_state_db_is_0600_and_a_corrupt_one_is_named_with_the_rebuild_command(make_cluster):
    c = make_cluster(1, extra={"raft.snapshot-threshold": 8, "raft.snapshot-trailing": 2}).start()
    c.wait_leader()
    names = [f"p{i:02d}" for i in range(30)]
    for n in names:  # one entry each: snapshots are taken on the way
        c.ctl("project", "add", n, check=0)
    wait_for(lambda: all(o is not None for o, _ in (c.projects_on(c[1]) or {"x": (None, 0)}).values()),
             15, "every project owned")
    before = c.projects_on(c[1])
    x = c[1]
    assert x.stop() == 0
    db = os.path.join(x.dir, "state.db")
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert any(f.startswith("snapshot") for f in os.listdir(os.path.join(x.dir, "raft"))), "no snapshot taken"
    with open(db, "r+b") as f:
        f.write(b"\xde\xad" * 2048)  # the header and the first page
    rc, err = run_until_exit(x)
    assert rc != 0
    m = re.search(r"is corrupt\. .*run  (rm -f -- .*state\.db-shm')  and start it again", err)
    assert m, err
    subprocess.run(["sh", "-c", m.group(1)], check=True)  # the exact command printed
    x.start()
    c.wait_leader()
    wait_for(lambda: c.projects_on(x) == before, 15, "the rebuilt state.db to hold every project as before")
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_unreachable_join_warns_and_gives_up_with_exit_1(make_cluster):
    c = make_cluster(1)
    x = c[1]
    x.extra = {"raft.join-timeout-ms": 2500}
    nowhere = f"127.0.0.1:{free_port()}"
    x.write_conf(join=nowhere)
    t0 = time.monotonic()
    rc, err = run_until_exit(x)
    assert rc == 1, err
    assert time.monotonic() - t0 < 15
    assert f"WARN  node=1 waiting to join the cluster through raft.join={nowhere}" in err, err
    assert f"gave up joining the cluster: raft.join={nowhere} did not add member 1" in err, err
    assert "raft.join-timeout-ms=2500" in err


def test_password_file_mode_checked_and_argv_password_warned(make_cluster):
    c = make_cluster(1)
    x = c[1]
    pw = os.path.join(c.root, "metastore.pw")
    with open(pw, "w") as f:
        f.write("from-the-file\n")
    os.chmod(pw, 0o644)
    x.extra = {"raft.metastore.password-file": pw}
    x.write_conf(initial_cluster=f"1={x.raft_addr}")
    rc, err = run_until_exit(x, "-D", "raft.metastore.url=postgresql://kylin:hunter2@127.0.0.1:1/kylin")
    assert rc != 0
    assert "WARN  node=1 a metastore password was given on the command line (-D raft.metastore.url...)" in err, err
    assert f"raft.metastore.password-file {pw} is mode 0644: readable by group and others" in err, err
    assert "hunter2" not in err and "from-the-file" not in err
    # owner-only: the member starts (the mirror then retries its unreachable metastore), and
    # the password given with -D is blanked in its argv
    os.chmod(pw, 0o600)
    with open(x.log_path, "ab") as log:
        x.proc = subprocess.Popen([RAFTNODE, "-c", x.conf_path, "-D",
                                   "raft.metastore.url=postgresql://kylin:hunter2@127.0.0.1:1/kylin"],
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    c.pids.add(x.proc.pid)
    c.wait_leader()
    wait_for(lambda: "metastore mirror: postgresql" in x.log(), 10, "the mirror configured")
    with open(f"/proc/{x.proc.pid}/cmdline", "rb") as f:
        cmdline = f.read()
    assert b"hunter2" not in cmdline and b"kylin:*******@127.0.0.1" in cmdline, cmdline
    assert x.stop() == 0
    assert "from-the-file" not in x.log() and "hunter2" not in x.log()
