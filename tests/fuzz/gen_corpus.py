#!/usr/bin/env python3
"""Writes the seed corpus (tests/fuzz/corpus/<target>/) and the libFuzzer dictionaries
(tests/fuzz/<target>.dict): small valid inputs and edge cases for each fuzz target.

    python3 tests/fuzz/gen_corpus.py      # rewrites its own files; names are stable

Only the standard library: msgpack is encoded by the few lines below (smallest encoding,
as msgpack-c's packer does). A map is a dict, or a list of (key, value) pairs when the
order or a duplicated key matters (class Pairs)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


class Pairs(list):
    """A msgpack map given as (key, value) pairs: keeps order and duplicates."""


class Raw(bytes):
    """Bytes copied into the encoding as they are (for malformed inputs)."""


def mp(v):
    if isinstance(v, Raw):
        return bytes(v)
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v <= 0x7F:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            for code, fmt, top in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF),
                                   (0xCE, ">I", 0xFFFFFFFF), (0xCF, ">Q", 2**64 - 1)):
                if v <= top:
                    return bytes([code]) + struct.pack(fmt, v)
        for code, fmt, lo in ((0xD0, ">b", -128), (0xD1, ">h", -32768),
                              (0xD2, ">i", -2**31), (0xD3, ">q", -2**63)):
            if v >= lo:
                return bytes([code]) + struct.pack(fmt, v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, (dict, Pairs)):
        items = list(v.items()) if isinstance(v, dict) else list(v)
        head = bytes([0x80 | len(items)]) if len(items) < 16 else b"\xde" + struct.pack(">H", len(items))
        return head + b"".join(mp(k) + mp(x) for k, x in items)
    if isinstance(v, list):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))
        return head + b"".join(mp(x) for x in v)
    raise TypeError(type(v))


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


# ---- fuzz_entry: raft log entries -------------------------------------------------------

def entry(cmds, term=1, v=1):
    return mp(Pairs([("v", v), ("term", term), ("cmds", cmds)]))


def engine_set(i, mode="all", weight=1, identity=None, race=True):
    return {"t": "engine_set", "id": i, "mode": mode, "weight": weight,
            "identity": identity or "10.0.0.%d:7070|%d" % (i, i), "race_enabled": race}


def assign(project, frm, to, reason="move", time_ms=2000):
    return {"t": "assign", "project": project, "from": frm, "to": to, "reason": reason,
            "time_ms": time_ms}


def claimed(project, owner, epoch, identity, epoch_id):
    return {"t": "kylin_claimed", "project": project, "owner": owner, "epoch": epoch,
            "identity": identity, "epoch_id": epoch_id}


ENTRY = {
    "project_add": pad8(entry([{"t": "project_add", "name": "sales_cube"}])),
    "project_add_exists": entry([{"t": "project_add", "name": "p1"}]),
    "project_add_invalid": entry([{"t": "project_add", "name": "_bad name"}]),
    "project_remove": entry([{"t": "project_remove", "name": "p3"}]),
    "project_remove_global": entry([{"t": "project_remove", "name": "_global"}]),
    "member_set": entry([{"t": "member_set", "id": 2, "api_address": "127.0.0.1:7202"}]),
    "member_forget": entry([{"t": "member_forget", "id": 1}]),
    "engine_set": pad8(entry([engine_set(4, "job", 3)])),
    "engine_set_single": entry([engine_set(5, "all", 1, race=False)]),
    "heartbeat": entry([{"t": "heartbeat", "ids": [1, 2, 3, 99]}]),
    "engine_dead": entry([{"t": "engine_dead", "id": 1}]),
    "assign_move": entry([assign("p1", 1, 2)]),
    "assign_stale": entry([assign("p1", 2, 1)]),
    "assign_new": entry([assign("p3", 0, 1, "new")]),
    "assign_to_query": entry([assign("p3", 0, 3, "rebalance")]),
    "drain": entry([{"t": "drain", "id": 1, "on": True}]),
    "pin": entry([{"t": "pin", "project": "p1", "engine": 2}]),
    "unpin": entry([{"t": "pin", "project": "p2", "engine": 0}]),
    "maintenance": entry([{"t": "maintenance", "on": True, "reason": "upgrade \u00e9t\u00e9 \U0001f680"}]),
    "failover": pad8(entry([{"t": "engine_dead", "id": 1}, assign("p1", 1, 2, "failover"),
                            {"t": "drain", "id": 2, "on": True}, assign("p2", 2, 1, "drain"),
                            {"t": "maintenance", "on": False, "reason": ""}], term=7)),
    "mixed_batch": entry([{"t": "project_add", "name": "a"}, {"t": "nope"}, 5,
                          {"t": "project_add", "name": "a"}, {"t": "heartbeat", "ids": []}]),
    "dead_then_heartbeat": entry([{"t": "engine_dead", "id": 1}, {"t": "heartbeat", "ids": [1, 2]}]),
    "maintenance_then_assign": entry([{"t": "maintenance", "on": True, "reason": "freeze"},
                                      assign("p3", 0, 1, "new")]),
    "single_engine_twice": entry([engine_set(4, "all", race=False), engine_set(5, "job", race=False)]),
    "project_name_edges": entry([{"t": "project_add", "name": ""}, {"t": "project_add", "name": "n" * 256},
                                 {"t": "project_add", "name": "N" * 255},
                                 {"t": "project_remove", "name": "p-1"}]),
    "bad_utf8_reason": entry([{"t": "maintenance", "on": True, "reason": Raw(b"\xa3\xed\xa0\x80")}]),
    "audit_and_move_by": entry([{"t": "audit", "by": "admin", "method": "project.move",
                                 "detail": "{\"name\"=>\"p3\"}", "time_ms": 5},
                                dict(assign("p3", 0, 1, "move"), by="admin"),
                                dict(assign("p1", 1, 2, "move"), by=None),
                                dict(assign("p2", 2, 1, "move"), by="a\x01")]),
    "kylin_claimed": pad8(entry([claimed("p1", 1, 1, "10.0.0.1:7070|1", 3)])),
    "kylin_claimed_stale_and_bad": entry([claimed("p1", 2, 1, "10.0.0.2:7070|2", 1),
                                          claimed("p1", 1, 0, "10.0.0.1:7070|1", -5),
                                          claimed("p2", 1, 1, "", 1),
                                          claimed("p3", 0, 0, "h:1|1", 2**64 - 1),
                                          claimed("nope", 1, 1, "h:1|\x01", 1),
                                          assign("p1", 1, 2), claimed("p1", 1, 1, "10.0.0.1:7070|1", 4),
                                          claimed("p1", 2, 2, "10.0.0.2:7070|2", 4)]),
    "empty_cmds": entry([]),
    "version_2": entry([{"t": "project_add", "name": "x"}], v=2),
    "no_cmds": mp({"v": 1, "term": 1}),
    "cmds_not_array": mp({"v": 1, "term": 1, "cmds": {"t": "project_add"}}),
    "wrong_types": entry([{"t": "engine_set", "id": -1, "mode": "gpu", "weight": 0,
                           "identity": "", "race_enabled": 1},
                          {"t": "heartbeat", "ids": [0, -3, 2**63]},
                          {"t": "assign", "project": b"p1", "from": 1.5}]),
    "dup_keys": mp(Pairs([("v", 1), ("v", 2), ("term", 1),
                          ("cmds", [Pairs([("t", "project_add"), ("name", "d1"), ("name", "d2")])])])),
    "bad_padding": entry([]) + b"\0\0\0\0\0\0\0\0\0",
    "trailing_garbage": entry([]) + b"\x01",
    "truncated": entry([{"t": "project_add", "name": "sales_cube"}])[:-3],
    "huge_count": b"\x83\xa1v\x01\xa4term\x01\xa4cmds\xdd\xff\xff\xff\xff",
    "deep_nesting": entry([Raw(b"\x91" * 40 + b"\xc0")]),
    "not_a_map": mp([1, 2, 3]),
    "unused_byte": b"\xc1",
}

ENTRY_DICT = ["v", "term", "cmds", "t", "name", "id", "api_address", "mode", "weight", "identity",
              "race_enabled", "ids", "project", "from", "to", "reason", "time_ms", "on", "engine",
              "project_add", "project_remove", "member_set", "member_forget", "engine_set",
              "heartbeat", "engine_dead", "assign", "drain", "pin", "maintenance", "all", "job",
              "query", "new", "failover", "rebalance", "move", "restore", "p1", "p2", "p3",
              "_global", "by", "audit", "method", "detail", "kylin_claimed", "owner", "epoch", "epoch_id"]

# ---- fuzz_api_frame: request frames ----------------------------------------------------

def request(i, method, args=None, omit_args=False):
    pairs = [("id", i), ("method", method)]
    if not omit_args:
        pairs.append(("args", {} if args is None else args))
    return mp(Pairs(pairs))


API = {
    "status": frame(request(1, "status")),
    "project_add": frame(request(2, "project.add", {"name": "sales_cube"})),
    "member_add": frame(request(3, "member.add", {"id": 4, "address": "127.0.0.1:7104",
                                                   "api_address": "127.0.0.1:7204", "role": "spare"})),
    "engine_heartbeat": frame(request(4, "engine.heartbeat", {"id": 1, "mode": "all", "weight": 1,
                                                              "identity": "h:7070|1", "race_enabled": True})),
    "history": frame(request(5, "history", {"project": "p1", "limit": 0, "consistent": True})),
    "kylin_claimed": frame(request(6, "kylin.claimed", {"claims": [{"project": "p1", "owner": 1, "epoch": 1,
                                                                    "identity": "h:7070|1", "epoch_id": -1}]})),
    "args_omitted": frame(request(6, "hash", omit_args=True)),
    "args_nil": frame(mp(Pairs([("id", 7), ("method", "status"), ("args", None)]))),
    "args_not_map": frame(mp(Pairs([("id", 8), ("method", "status"), ("args", [1])]))),
    "method_long": frame(request(9, "m" * 64)),
    "method_nul": frame(request(10, "sta\0tus")),
    "id_missing": frame(mp({"method": "status"})),
    "id_negative": frame(mp({"id": -1, "method": "status"})),
    "method_not_str": frame(mp({"id": 11, "method": b"status"})),
    "not_a_map": frame(mp(["id", 1])),
    "pipelined": frame(request(12, "status")) + frame(request(13, "engine.list"))
                 + frame(request(14, "project.list", {"consistent": False})),
    "args_every_type": frame(request(15, "x", Pairs([("f", 1.5), ("n", -7), ("b", b"\x00\x01"),
                                                     ("a", [None, True, {}]), (1, "k"),
                                                     ("big", 2**64 - 1)]))),
    "args_nan_float": frame(request(16, "x", {"f": float("nan")})),
    "too_large": b"\x00\x10\x00\x01" + request(17, "status"),
    "truncated": frame(request(18, "status"))[:-2],
    "trailing_bytes": struct.pack(">I", len(request(19, "status")) + 1) + request(19, "status") + b"\xc0",
    "huge_count": frame(b"\xdf\xff\xff\xff\xff"),
    "empty_frame": frame(b""),
}

API_DICT = ["id", "method", "args", "status", "hash", "project.list", "project.add", "member.add",
            "engine.heartbeat", "history", "name", "consistent", "kylin.claimed", "claims"]

# ---- fuzz_client_reply: reply frames ---------------------------------------------------

def reply(i, status, code, result=None, error=None, leader_id=0, leader_api="", extra=()):
    pairs = [("id", i), ("status", status), ("code", code), ("node_id", 1),
             ("applied_index", 42), ("leader_id", leader_id), ("leader_api", leader_api)]
    pairs.append(("result", result) if status == 0 else ("error", error or ""))
    return mp(Pairs(pairs + list(extra)))


REPLY = {
    "ok_result": frame(reply(1, 0, "ok", {"name": "p1", "index": 12})),
    "ok_list": frame(reply(2, 0, "ok", [{"name": "p1", "owner": 1, "owner_identity": None, "epoch": 3}])),
    "refused": frame(reply(3, 1, "exists", error="project 'p1' already exists")),
    "not_leader": frame(reply(4, 3, "not_leader", error="member 2 is not the leader",
                              leader_id=1, leader_api="127.0.0.1:7201")),
    "leader_api_name": frame(reply(5, 3, "not_leader", leader_id=1, leader_api="localhost:7201")),
    "leader_api_long": frame(reply(6, 3, "not_leader", leader_id=1, leader_api="1" * 70 + ":1")),
    "code_long": frame(reply(7, 2, "c" * 40, error="e" * 600)),
    "status_4": frame(reply(8, 4, "weird")),
    "status_negative": frame(mp({"id": 9, "status": -1})),
    "minimal": frame(mp({"id": 10, "status": 0})),
    "nil_fields": frame(mp(Pairs([("id", 11), ("status", 0), ("code", None), ("leader_api", None),
                                  ("node_id", None), ("result", None)]))),
    "wrong_types": frame(mp({"id": 12, "status": 0, "node_id": "one", "code": 5})),
    "id_missing": frame(mp({"status": 0})),
    "pipelined": frame(reply(13, 0, "ok", {"index": 1})) + frame(reply(14, 1, "busy", error="x")),
    "too_large": b"\x7f\xff\xff\xff" + reply(15, 0, "ok"),
    "truncated": frame(reply(16, 0, "ok", {"a": 1}))[:-1],
    "not_a_map": frame(mp("ok")),
}

REPLY_DICT = ["id", "status", "code", "error", "result", "node_id", "applied_index", "leader_id",
              "leader_api", "ok", "not_leader", "127.0.0.1:7201"]

# ---- fuzz_config: properties file, then "\0\0" and NUL-separated -D overrides ----------

BASE = ("raft.node.id=1\nraft.node.address=127.0.0.1:7101\nraft.api.address=127.0.0.1:7201\n"
        "raft.data-dir=var/node1\n")
CLUSTER = "raft.initial-cluster=1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103\n"


def overrides(*items):
    return b"\0\0" + b"\0".join(i.encode() for i in items)


CONFIG = {
    "local_1": open(os.path.join(HERE, "..", "..", "conf", "local-1.properties"), "rb").read(),
    "minimal": (BASE + CLUSTER).encode(),
    "join": (BASE + "raft.join=127.0.0.1:7202\n").encode(),
    "every_key": (BASE + CLUSTER.replace("3=127.0.0.1:7103", "3=127.0.0.1:7103/standby,4=127.0.0.1:7104/SPARE")
                  + "raft.election-timeout-ms=2000\nraft.heartbeat-timeout-ms=200\n"
                  "raft.snapshot-threshold=2\nraft.snapshot-trailing=0\nraft.log-level=DEBUG\n"
                  "raft.api.max-frame-bytes=1024\nraft.engine.weight=1000000\n"
                  "raft.metastore.url=postgresql://u:p@h:5432/kylin?prefix=k\n"
                  "kylin.server.mode=job\nkylin.server.leader-race.enabled=off\n"
                  "kylin.server.leader-race.heart-beat-timeout=3\n"
                  "kylin.server.leader-race.heart-beat-interval=1\n"
                  "kylin.metadata.url=kylin_metadata@jdbc,url=jdbc:postgresql://h:5432/kylin\n"
                  "kylin.server.identity=host-1.example:7070\n").encode(),
    "syntax": ("# comment\n! bang comment\n   \n\traft.node.id : 1\n"
               "raft.node.address   =   127.0.0.1:7101   \r\n"
               "raft.api.address=127.0.0.1:\\\n   7201\n"
               "raft.data-dir=/var/lib/\\u0072aft\\\\\\ \n" + CLUSTER).encode(),
    "escapes": (BASE + CLUSTER + "kylin.metadata.url=a\\tb\\nc\\u00e9\\uD83D\\uDE80\\q\\\n").encode(),
    "bad_surrogate": (BASE + CLUSTER + "kylin.metadata.url=\\uD83D\n").encode(),
    "bad_unicode": (BASE + CLUSTER + "kylin.metadata.url=\\u12G4\n").encode(),
    "unknown_key": (BASE + CLUSTER + "raft.nodes=3\n").encode(),
    "no_separator": (BASE + "raft.initial-cluster 1=127.0.0.1:7101\n").encode(),
    "no_key": b"=1\n",
    "bad_address": (BASE + "raft.join=localhost:7201\n").encode(),
    "zero_address": (BASE.replace("127.0.0.1:7101", "0.0.0.0:7101") + CLUSTER).encode(),
    "bad_port": (BASE + "raft.join=127.0.0.1:070\n").encode(),
    "timeouts": (BASE + CLUSTER + "raft.heartbeat-timeout-ms=1000\n").encode(),
    "out_of_range": (BASE + CLUSTER + "raft.election-timeout-ms=99999999999999999999999\n").encode(),
    "cluster_dup": (BASE + "raft.initial-cluster=1=127.0.0.1:7101,1=127.0.0.1:7102\n").encode(),
    "cluster_roles": (BASE + "raft.initial-cluster=1=127.0.0.1:7101/observer\n").encode(),
    "cluster_no_voter": (BASE + "raft.initial-cluster=1=127.0.0.1:7101/spare\n").encode(),
    "cluster_empty_entry": (BASE + "raft.initial-cluster=1=127.0.0.1:7101,,\n").encode(),
    "cluster_65": (BASE + "raft.initial-cluster=" + ",".join(
        "%d=10.0.%d.%d:7101" % (i, i // 200, i % 200 + 1) for i in range(1, 66)) + "\n").encode(),
    "both_join_cluster": (BASE + CLUSTER + "raft.join=127.0.0.1:7202\n").encode(),
    "self_missing": (BASE.replace("raft.node.id=1", "raft.node.id=9") + CLUSTER).encode(),
    "nul_in_line": (BASE + CLUSTER).encode().replace(b"var/node1", b"var/\0node1"),
    "long_line": (BASE + CLUSTER + "kylin.metadata.url=" + "x" * 9000 + "\n").encode(),
    "overrides": (BASE + CLUSTER).encode() + overrides("raft.node.id=2", " raft.node.address = 127.0.0.1:7102 ",
                                                       "raft.api.address=127.0.0.1:7202"),
    "overrides_only": overrides("raft.node.id=1", "raft.node.address=127.0.0.1:7101",
                                "raft.api.address=127.0.0.1:7201", "raft.data-dir=d",
                                "raft.join=127.0.0.1:7202"),
    "override_bad": (BASE + CLUSTER).encode() + overrides("raft.log-level", "=x", "raft.log-level=loud"),
}

CONFIG_DICT = ["raft.node.id", "raft.node.address", "raft.api.address", "raft.data-dir",
               "raft.initial-cluster", "raft.join", "raft.election-timeout-ms",
               "raft.heartbeat-timeout-ms", "raft.snapshot-threshold", "raft.snapshot-trailing",
               "raft.metastore.url", "raft.log-level", "raft.api.max-frame-bytes",
               "raft.engine.weight", "kylin.server.mode", "kylin.server.leader-race.enabled",
               "kylin.server.leader-race.heart-beat-timeout",
               "kylin.server.leader-race.heart-beat-interval", "kylin.metadata.url",
               "kylin.server.identity", "127.0.0.1:7101", "/standby", "/spare", "\\u", "\\\n"]


def dict_line(token):
    """One libFuzzer dictionary entry; bytes outside printable ASCII as \\xNN."""
    out = "".join(chr(b) if 0x20 <= b < 0x7F and chr(b) not in '"\\' else "\\x%02x" % b
                  for b in token)
    return '"%s"\n' % out


def write_target(name, inputs, words, msgpack_words):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)  # other files there (inputs a run found) stay
    for fname, data in inputs.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, name + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary for %s, generated by gen_corpus.py\n" % name)
        for w in words:
            f.write(dict_line(w.encode()))
            if msgpack_words:
                f.write(dict_line(mp(w)))


write_target("fuzz_entry", ENTRY, ENTRY_DICT, True)
write_target("fuzz_api_frame", API, API_DICT, True)
write_target("fuzz_client_reply", REPLY, REPLY_DICT, True)
write_target("fuzz_config", CONFIG, CONFIG_DICT, False)
