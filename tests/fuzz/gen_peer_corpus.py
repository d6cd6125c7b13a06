#!/usr/bin/env python3
"""Writes tests/fuzz/corpus/fuzz_peer_message/ (rerun after changing it; rewrites only that
folder). Input layout (fuzz_peer_message.c): first byte odd = a handshake comes first."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
import peerwire as w  # noqa: E402

out = os.path.join(HERE, "corpus", "fuzz_peer_message")
os.makedirs(out, exist_ok=True)
for f in os.listdir(out):
    os.remove(os.path.join(out, f))
hs = w.handshake(2, "127.0.0.1:7102")
good = w.good_messages()
for name, msg in good.items():
    open(os.path.join(out, "good_" + name), "wb").write(b"\0" + msg)
open(os.path.join(out, "good_stream"), "wb").write(b"\1" + hs + b"".join(good.values()))
for name, msg in w.attacks().items():
    open(os.path.join(out, "attack_" + name), "wb").write(b"\1" + hs + msg)
open(os.path.join(out, "bad_handshake_protocol"), "wb").write(b"\1" + w.handshake(2, "x:1", protocol=7))
open(os.path.join(out, "bad_handshake_id0"), "wb").write(b"\1" + w.handshake(0, "127.0.0.1:7102"))
open(os.path.join(out, "truncated_append"), "wb").write(b"\0" + good["append_entries_two"][:-5])
