#!/usr/bin/python3
"""The Python side of dogpile-cpp's codec interop tests.

Plays the part of a Python service sharing Redis with the C++ library: it
packs and unpacks the values-only, bit-packed and envelope formats the way a
straightforward Python implementation would, for a fixed set of named cases
that the C++ tests (tests/test_codec_*.cpp) define identically.

    codec_interop.py emit <case>         print the hex bytes Python writes for <case>
    codec_interop.py check <case> <hex>  exit 0 if Python reads <hex> as <case>'s value

Exit status 3 means python3-msgpack is missing.
"""
import struct
import sys

try:
    import msgpack
except ImportError:
    print("python3-msgpack is missing for /usr/bin/python3: apt-get install python3-msgpack", file=sys.stderr)
    sys.exit(3)


# --- the formats, as a Python service would write them -----------------------

def pack_values(d):
    """Values-only: the dict's values in sorted-key order, nested dicts as nested lists."""
    return [pack_values(d[k]) if isinstance(d[k], dict) else d[k] for k in sorted(d)]


def template_of(d):
    return [(k, template_of(d[k]) if isinstance(d[k], dict) else None) for k in sorted(d)]


def unpack_values(values, template):
    if not isinstance(values, list) or len(values) != len(template):
        raise ValueError("expected a list of %d values, got %r" % (len(template), values))
    return {k: (unpack_values(v, sub) if sub is not None else v) for (k, sub), v in zip(template, values)}


def pack_bits(flags):
    keys = sorted(flags)
    if len(keys) <= 64:
        return msgpack.packb(sum(1 << i for i, k in enumerate(keys) if flags[k]))
    raw = bytearray((len(keys) + 7) // 8)
    for i, k in enumerate(keys):
        if flags[k]:
            raw[i // 8] |= 1 << (i % 8)
    return msgpack.packb(bytes(raw))


def unpack_bits(payload, keys):
    keys = sorted(keys)
    obj = msgpack.unpackb(payload)
    if len(keys) <= 64:
        if not isinstance(obj, int) or obj < 0 or obj >> len(keys):
            raise ValueError("bad bit-packed int %r" % (obj,))
        return {k: bool(obj >> i & 1) for i, k in enumerate(keys)}
    if not isinstance(obj, bytes) or len(obj) != (len(keys) + 7) // 8:
        raise ValueError("bad bit-packed bin %r" % (obj,))
    return {k: bool(obj[i // 8] >> (i % 8) & 1) for i, k in enumerate(keys)}


def wrap(created_us, version, flags, payload, extra=b""):
    fields = struct.pack(">qIB", created_us, version, flags) + extra
    return bytes([0xC1, 1, len(fields)]) + fields + payload


def unwrap(data):
    if data[0] != 0xC1 or data[1] != 1 or data[2] < 13:
        raise ValueError("not a format-1 dogpile envelope: %r" % data[:3])
    created_us, version, flags = struct.unpack(">qIB", data[3:16])
    creation_us = struct.unpack(">Q", data[16:24])[0] if data[2] >= 21 else 0
    return created_us, version, flags, creation_us, data[3 + data[2]:]


# --- the cases (mirrored in the C++ tests) ------------------------------------

GOLDEN_FLAGS = {"a": True, "bb": False, "ccc": True, "dddd": False,
                "eeeee": True, "ffffff": False, "ggggggg": True, "hhhhhhhh": False}


def flags(count):
    return {"perm_%02d" % i: i % 3 == 0 for i in range(count)}


NESTED = {
    "id": 42,
    "name": "zo\u00eb",
    "negative": -1000,
    "big": 2 ** 40,
    "huge": 2 ** 64 - 1,
    "ratio": 3.25,
    "nothing": None,
    "tags": ["a", 1, True, None, {"k": "v"}],
    "long_text": "x" * 40,
    "perm": {"read": True, "write": False, "admin": {"level": -3, "scopes": ["x", "y"]}},
    "empty": {},
}

ENVELOPE_CREATED_US = 1700000000123456
ENVELOPE_CREATION_US = 250000


def emit(case):
    if case == "golden_flags":
        return msgpack.packb(pack_values(GOLDEN_FLAGS))
    if case == "flags25":
        return msgpack.packb(pack_values(flags(25)))
    if case == "nested":
        return msgpack.packb(pack_values(NESTED))
    if case == "bits25":
        return pack_bits(flags(25))
    if case == "bits70":
        return pack_bits(flags(70))
    if case == "envelope":
        # A newer writer's envelope: the store-expiry flag, a creation time of
        # 250 ms, and 8 bytes of a field this format version does not define yet.
        extra = struct.pack(">Q", ENVELOPE_CREATION_US) + b"\x00" * 8
        return wrap(ENVELOPE_CREATED_US, 1, 0x01, msgpack.packb(pack_values(GOLDEN_FLAGS)), extra=extra)
    raise SystemExit("unknown case %r" % case)


def check(case, data):
    if case in ("golden_flags", "flags25", "nested"):
        expected = {"golden_flags": GOLDEN_FLAGS, "flags25": flags(25), "nested": NESTED}[case]
        got = unpack_values(msgpack.unpackb(data), template_of(expected))
    elif case in ("bits25", "bits70"):
        expected = flags(25 if case == "bits25" else 70)
        got = unpack_bits(data, expected.keys())
    elif case == "envelope":
        expected = (ENVELOPE_CREATED_US, 1, 0, ENVELOPE_CREATION_US, GOLDEN_FLAGS)
        created_us, version, flags_byte, creation_us, payload = unwrap(data)
        got = (created_us, version, flags_byte, creation_us,
               unpack_values(msgpack.unpackb(payload), template_of(GOLDEN_FLAGS)))
    else:
        raise SystemExit("unknown case %r" % case)
    if got != expected:
        print("mismatch for %s:\n  got      %r\n  expected %r" % (case, got, expected))
        return 1
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "emit":
        print(emit(argv[2]).hex())
        return 0
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], bytes.fromhex(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
