#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/).

The seeds are committed; rerun this after changing a target's template:
    /usr/bin/python3 fuzz/corpus/generate.py
Templates and cases mirror fuzz/fuzz_*.cpp.
"""
import os
import struct

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))


def pack_values(d):
    return [pack_values(d[k]) if isinstance(d[k], dict) else d[k] for k in sorted(d)]


def flags(count, pattern=lambda i: i % 3 == 0):
    return {"perm_%02d" % i: pattern(i) for i in range(count)}


def pack_bits(f):
    keys = sorted(f)
    if len(keys) <= 64:
        return msgpack.packb(sum(1 << i for i, k in enumerate(keys) if f[k]))
    raw = bytearray((len(keys) + 7) // 8)
    for i, k in enumerate(keys):
        if f[k]:
            raw[i // 8] |= 1 << (i % 8)
    return msgpack.packb(bytes(raw))


def wrap(created_us, version, flag_bits, payload, extra=b""):
    fields = struct.pack(">qIB", created_us, version, flag_bits) + extra
    return bytes([0xC1, 1, len(fields)]) + fields + payload


GOLDEN = {"a": True, "bb": False, "ccc": True, "dddd": False,
          "eeeee": True, "ffffff": False, "ggggggg": True, "hhhhhhhh": False}

VALUES = {
    "id": 42, "name": "zo\u00eb", "tags": ["a", 1, True, None, {"k": "v"}, 2.5, -70000],
    "perm": {"read": True, "write": False, "admin": {"level": -3, "scopes": ["x", "y"]}},
    "empty": {},
}
VALUES_SMALL = {
    "id": 0, "name": "", "tags": [],
    "perm": {"read": False, "write": True, "admin": {"level": None, "scopes": [{"k": [1]}]}},
    "empty": {},
}

SEEDS = {
    "fuzz_values": {
        "nested": msgpack.packb(pack_values(VALUES)),
        "small": msgpack.packb(pack_values(VALUES_SMALL)),
        "absurd_array32": b"\x95\x01\xa0\xdd\xff\xff\xff\xff",
        "deep_list": b"\x95\x01\xa0" + b"\x91" * 70 + b"\x00",
    },
    "fuzz_flags": {
        "flags25": msgpack.packb(pack_values(flags(25))),
        "all_true": msgpack.packb(pack_values(flags(25, lambda i: True))),
        "array32_header": b"\xdd\x00\x00\x00\x19" + b"\xc3" * 25,
        "empty_array": b"\x90",
    },
    "fuzz_bitpacked": {
        "bits25": pack_bits(flags(25)),
        "bits64": pack_bits(flags(64, lambda i: True)),
        "bits70": pack_bits(flags(70)),
        "int8_form": b"\xd0\x05",
    },
    "fuzz_msgpack": {
        "map": msgpack.packb({"alpha": [1, 300, -70000], "beta": [], "gamma": [2 ** 31 - 1]}),
        "strings": msgpack.packb(["x", "y" * 40, ""]),
        "nested_promises": b"\xdd\x00\x0f\xff\xff\xdd\x00\x0f\xff\xff\xdd",
        "ext": b"\x81\xa1k\xd4\x01\x00",
    },
    "fuzz_envelope": {
        "golden": wrap(1700000000123456, 1, 0, msgpack.packb(pack_values(GOLDEN))),
        "store_owned": wrap(0, 1, 1, b""),
        "newer_writer": wrap(-1, 7, 0xFF, msgpack.packb(pack_values(GOLDEN)), extra=b"\x00" * 8),
        "bare_payload": msgpack.packb(pack_values(GOLDEN)),
    },
}


def main():
    for target, seeds in SEEDS.items():
        directory = os.path.join(HERE, target)
        os.makedirs(directory, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
