"""libraft 0.22.1's peer wire format (src/uv_encoding.c, uv_tcp_connect.c), for the peer
security tests and the fuzz corpus: a handshake, every message type, and issue 12's attacks."""
import struct

U64_MAX = (1 << 64) - 1


def u64(*vals):
    return b"".join(struct.pack("<Q", v) for v in vals)


def handshake(server_id, address, protocol=1):
    raw = address.encode() + b"\0"
    raw += b"\0" * (-len(raw) % 8)
    return u64(protocol, server_id, len(raw)) + raw


def preamble(mtype, hlen, version=0):
    return bytes([mtype, 0, version, 0, 0, 0, 0, 0]) + u64(hlen)


def request_vote(term, candidate=2, last_index=0, last_term=0, disrupt=False, pre_vote=False):
    flags = (1 if disrupt else 0) | (2 if pre_vote else 0)
    return preamble(3, 40, 2) + u64(term, candidate, last_index, last_term, flags)


def request_vote_result(term, granted=1):
    return preamble(4, 24, 2) + u64(term, granted) + bytes([0, 0, 1, 0, 0, 1, 0, 0])


def append_entries_result(term, rejected=0, last_index=1):
    return preamble(2, 32, 2) + u64(term, rejected, last_index) + struct.pack("<HHI", 1, 1, 0)


def timeout_now(term, last_index=1, last_term=1):
    return preamble(6, 24) + u64(term, last_index, last_term)


def configuration(servers):
    raw = bytes([1]) + u64(len(servers))
    for sid, addr, role in servers:
        raw += u64(sid) + addr.encode() + b"\0" + bytes([role])
    return raw + b"\0" * (-len(raw) % 8)


def append_entries(term, prev_index=0, prev_term=0, commit=0, entries=(), count=None):
    """entries: (term, type, data) with len(data) a multiple of 8."""
    n = len(entries) if count is None else count
    hdr = u64(term, prev_index, prev_term, commit, n)
    for eterm, etype, data in entries:
        hdr += u64(eterm) + bytes([etype, 0, 0, 0]) + struct.pack("<I", len(data))
    hdr += u64(0)
    hlen = 48 + 16 * len(entries)
    return preamble(1, hlen) + hdr + b"".join(d for _, _, d in entries)


def install_snapshot(term, last_index, last_term, conf, data):
    hdr = u64(term, last_index, last_term, 1, len(conf)) + conf + u64(len(data), 0)
    return preamble(5, len(hdr)) + hdr + data


CONF3 = configuration([(1, "127.0.0.1:7101", 1), (2, "127.0.0.1:7102", 1), (3, "127.0.0.1:7103", 1)])


def good_messages():
    """One well-formed message of every type."""
    return {
        "request_vote": request_vote(5, 2, 10, 4),
        "request_vote_prevote": request_vote(6, 2, 10, 4, pre_vote=True),
        "request_vote_result": request_vote_result(5),
        "append_entries_heartbeat": append_entries(5, 10, 4, 10),
        "append_entries_two": append_entries(5, 10, 4, 10, [(5, 1, b"A" * 16), (5, 2, b"\0" * 8)]),
        "append_entries_change": append_entries(5, 10, 4, 10, [(5, 3, CONF3)]),
        "append_entries_result": append_entries_result(5),
        "install_snapshot": install_snapshot(5, 100, 4, CONF3, b"S" * 40),
        "timeout_now": timeout_now(5),
    }


def attacks(term=2):
    """Issue 12's messages as bytes (without the handshake), by name."""
    ae_huge = bytearray(append_entries(term, 1, 1, 1, [(term, 1, b"\0" * 8)]))
    ae_huge[16 + 32:16 + 40] = u64(50_000_000)
    return {
        # RequestVote, term 2^64-1, "disrupt leader": every member ended at that term for good
        "vote_max_term": request_vote(U64_MAX, 2, U64_MAX, U64_MAX, disrupt=True),
        # AppendEntries claiming 50,000,000 entries in a 1-entry header: SIGSEGV in libraft
        "append_50m_entries": bytes(ae_huge),
        # RequestVote with a 1-byte header: libraft read past the buffer
        "vote_1_byte_header": preamble(3, 1, 2) + b"\xff",
        # unknown message type
        "unknown_type": preamble(0x41, 24) + u64(1, 2, 3),
        # InstallSnapshot whose configuration claims more bytes than the header holds
        "snapshot_conf_overrun": (lambda m: m[:16 + 32] + u64(4096) + m[16 + 40:])(
            install_snapshot(term, 100, 1, CONF3, b"S" * 8)),
        # AppendEntries with an entry of an unknown type
        "append_bad_entry_type": append_entries(term, 1, 1, 1, [(term, 9, b"\0" * 8)]),
    }
