"""A small client of raftnode's API (docs/protocol.md: u32 length + msgpack map), used by the
sampler, whose samples must be cheap and tightly timed (one raftctl process costs ~80 ms under
ASan; a call on an open connection ~1 ms). The workload itself uses raftctl."""
import select
import socket
import struct
import time

import msgpack


class ApiError(Exception):
    pass


class Conn:
    def __init__(self, addr, timeout=0.4):
        self.addr = addr
        self.timeout = timeout
        self.s = None
        self.buf = b""
        self.next_id = 1

    def close(self):
        if self.s is not None:
            try:
                self.s.close()
            except OSError:
                pass
        self.s = None
        self.buf = b""

    def _open(self):
        host, port = self.addr.rsplit(":", 1)
        try:
            self.s = socket.create_connection((host, int(port)), timeout=self.timeout)
        except OSError as e:
            self.s = None
            raise ApiError(f"{self.addr}: {e}")
        self.s.setblocking(False)

    def calls(self, requests):
        """Sends [(method, args)] pipelined; returns [(t_sent, t_received, reply)] in order.
        Raises ApiError (and drops the connection) if any reply is missing by the deadline."""
        if self.s is None:
            self._open()
        frames, ids = [], []
        for method, args in requests:
            rid = self.next_id
            self.next_id += 1
            body = msgpack.packb({"id": rid, "method": method, "args": args or {}})
            frames.append(struct.pack(">I", len(body)) + body)
            ids.append(rid)
        t_sent = time.monotonic()
        deadline = t_sent + self.timeout
        data = b"".join(frames)
        try:
            while data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ApiError(f"{self.addr}: send timed out")
                _, w, _ = select.select([], [self.s], [], left)
                if w:
                    n = self.s.send(data)
                    data = data[n:]
            got = {}
            while len(got) < len(ids):
                while len(self.buf) >= 4:
                    n = struct.unpack(">I", self.buf[:4])[0]
                    if len(self.buf) < 4 + n:
                        break
                    r = msgpack.unpackb(self.buf[4:4 + n], raw=False)
                    self.buf = self.buf[4 + n:]
                    got[r.get("id")] = (time.monotonic(), r)
                if len(got) >= len(ids):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ApiError(f"{self.addr}: no reply within {self.timeout}s")
                r, _, _ = select.select([self.s], [], [], left)
                if r:
                    chunk = self.s.recv(1 << 16)
                    if not chunk:
                        raise ApiError(f"{self.addr}: connection closed")
                    self.buf += chunk
        except (OSError, ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            self.close()
            raise ApiError(f"{self.addr}: {e}")
        except ApiError:
            self.close()
            raise
        return [(t_sent, got[i][0], got[i][1]) for i in ids]
