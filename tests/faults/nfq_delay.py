#!/usr/bin/python3
"""A packet-delay daemon on NFQUEUE, for kernels without sch_netem.

Run inside a node's network namespace (`ip netns exec NS python3 nfq_delay.py QUEUE DELAY_MS
JITTER_MS [SEED]`) with an iptables rule that sends that node's packets to queue QUEUE
(`-j NFQUEUE --queue-num QUEUE --queue-bypass`: if this daemon is gone, packets pass). Every
packet is held DELAY_MS +- JITTER_MS milliseconds, then accepted; the order of packets is kept
(a packet is never released before the one queued before it), so TCP sees delay, not
reordering. Speaks the nfnetlink_queue protocol directly over a netlink socket (no library).

Prints "ready" on stdout once bound; exits on SIGTERM after releasing every held packet.
"""
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_ACCEPT = 1
AF_INET = 2


def _attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def _msg(msg_type, queue, attrs, seq, flags=NLM_F_REQUEST):
    body = struct.pack("=BBH", AF_INET, 0, socket.htons(queue)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def _parse(buf):
    """Yields (type, payload after nfgenmsg) for every netlink message in BUF."""
    off = 0
    while off + 16 <= len(buf):
        ln, typ, _flags, _seq, _pid = struct.unpack_from("=IHHII", buf, off)
        if ln < 16:
            break
        yield typ, buf[off + 16:off + ln]
        off += (ln + 3) & ~3


def _packet_id(payload):
    off = 4  # nfgenmsg
    while off + 4 <= len(payload):
        n, kind = struct.unpack_from("=HH", payload, off)
        if n < 4:
            return None
        if (kind & 0x7fff) == NFQA_PACKET_HDR:
            return struct.unpack_from(">I", payload, off + 4)[0]
        off += (n + 3) & ~3
    return None


class Delayer:
    def __init__(self, queue):
        self.queue = queue
        self.seq = 0
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.s.bind((0, 0))
        self._config(_attr(NFQA_CFG_CMD, struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, 0)))
        self._config(_attr(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META)))

    def _config(self, attr):
        self.seq += 1
        self.s.send(_msg(NFQNL_MSG_CONFIG, self.queue, [attr], self.seq, NLM_F_REQUEST | NLM_F_ACK))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.s], [], [], 1)
            if not r:
                continue
            for typ, payload in _parse(self.s.recv(65536)):
                if typ == NLMSG_ERROR:
                    err = struct.unpack_from("=i", payload, 0)[0] if len(payload) >= 4 else 0
                    # payload here starts after the 16-byte header: the error code is first
                    if err != 0:
                        raise OSError(-err, f"nfqueue config failed: {os.strerror(-err)}")
                    return
        raise OSError("nfqueue config: no acknowledgement")

    def verdict(self, pid):
        self.seq += 1
        self.s.send(_msg(NFQNL_MSG_VERDICT, self.queue, [_attr(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, pid))],
                         self.seq))

    def recv_ids(self):
        out = []
        try:
            buf = self.s.recv(1 << 17, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        except OSError:  # ENOBUFS: the kernel dropped queue messages; keep going
            return out
        for typ, payload in _parse(buf):
            if typ == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET):
                pid = _packet_id(payload)
                if pid is not None:
                    out.append(pid)
        return out


def main():
    queue, delay_ms, jitter_ms = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    d = Delayer(queue)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    held, last_due, n = [], 0.0, 0
    print("ready", flush=True)
    while not stop:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, pid = heapq.heappop(held)
            d.verdict(pid)
        timeout = max(0.0, held[0][0] - now) if held else 0.5
        try:
            r, _, _ = select.select([d.s], [], [], min(timeout, 0.5))
        except InterruptedError:
            continue
        if r:
            now = time.monotonic()
            for pid in d.recv_ids():
                due = now + max(0.0, delay_ms + rng.uniform(-jitter_ms, jitter_ms)) / 1000.0
                due = max(due, last_due)  # keep the order: no reordering
                last_due = due
                n += 1
                heapq.heappush(held, (due, n, pid))
    for _, _, pid in held:
        d.verdict(pid)


if __name__ == "__main__":
    main()
