#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_snapfile (tests/fuzz/corpus/fuzz_snapfile/): backup files in
the layout of common/snapfile.h, valid and broken in the ways a restore must refuse.

    python3 tests/fuzz/gen_snapfile_corpus.py      # rewrites its own files; names are stable"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def mp_map(items):
    """A msgpack map of str -> uint (the only types the header uses)."""
    out = bytes([0x80 | len(items)])
    for k, v in items:
        kb = k.encode()
        out += bytes([0xA0 | len(kb)]) + kb
        out += bytes([v]) if v <= 0x7F else b"\xcf" + struct.pack(">Q", v)
    return out


def header(image_size, index=1234, extra=()):
    return mp_map([("index", index), ("term", 7), ("created_ms", 1700000000000), ("node_id", 2),
                   ("projects", 3), ("engines", 2), ("image_size", image_size)] + list(extra))


def snapfile(image, version=1, hdr=None):
    hdr = header(len(image)) if hdr is None else hdr
    body = b"RAFTSNAP" + struct.pack(">II", version, len(hdr)) + hdr + image
    return body + hashlib.sha256(body).digest()


IMAGE = b"SQLite format 3\x00" + bytes(range(256)) * 4
GOOD = snapfile(IMAGE)
CORPUS = {
    "valid": GOOD,
    "valid_empty_image": snapfile(b""),
    "valid_unknown_key": snapfile(IMAGE, hdr=header(len(IMAGE), extra=[("future", 1)])),
    "truncated": GOOD[:len(GOOD) - 40],
    "bit_flip": GOOD[:300] + bytes([GOOD[300] ^ 1]) + GOOD[301:],
    "newer_version": snapfile(IMAGE, version=2),
    "version_zero": snapfile(IMAGE, version=0),
    "header_size_lies": snapfile(IMAGE, hdr=header(len(IMAGE) + 5)),
    "header_not_map": snapfile(IMAGE, hdr=b"\x93\x01\x02\x03"),
    "header_huge_count": snapfile(IMAGE, hdr=b"\xdf\xff\xff\xff\xff"),
    "trailing": GOOD + b"\x00",
    "magic_only": b"RAFTSNAP",
    "sqlite_file": IMAGE,
}

d = os.path.join(HERE, "corpus", "fuzz_snapfile")
os.makedirs(d, exist_ok=True)
for name, data in CORPUS.items():
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
