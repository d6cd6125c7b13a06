"""A pipelining API client for tests: many requests on one connection without waiting for
each reply (bulk writes without one raftctl process per write, and bursts that load the
leader's loop). Used by tests/cluster and tests/metastore."""
import socket
import struct
import threading

import msgpack


def api_many(addr, method, args_list, timeout=120):
    """Sends one METHOD request per args on one connection, pipelined; returns the replies in
    request order. The sender runs on its own thread so that replies never back up."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    frames = []
    for i, a in enumerate(args_list, 1):
        body = msgpack.packb({"id": i, "method": method, "args": a})
        frames.append(struct.pack(">I", len(body)) + body)
    sender = threading.Thread(target=lambda: s.sendall(b"".join(frames)), daemon=True)
    sender.start()
    replies, buf = {}, b""
    try:
        while len(replies) < len(args_list):
            chunk = s.recv(1 << 16)
            if not chunk:
                raise AssertionError(f"{addr} closed the connection after {len(replies)} replies")
            buf += chunk
            while len(buf) >= 4:
                n = struct.unpack(">I", buf[:4])[0]
                if len(buf) < 4 + n:
                    break
                r = msgpack.unpackb(buf[4:4 + n], raw=False)
                buf = buf[4 + n:]
                replies[r["id"]] = r
    finally:
        sender.join(timeout=timeout)
        s.close()
    return [replies[i] for i in range(1, len(args_list) + 1)]
