#!/usr/bin/python3
"""The Python side of dogpile-cpp's hash store interop test.

Plays a Python service sharing Redis with the C++ library's hash store
(dogpile::RedisHashBackend, raw payload mode): values-only msgpack in hash
fields, one hash per id_a, the TTL on the hash. Driven by
tests/test_redis_hash_backend.cpp (HashStoreInterop.*), which owns the
redis-server and passes its port, or a redis-py URL (rediss://...?ssl_ca_certs=
when the test's server speaks TLS).

    hash_store_interop.py read <port-or-url> <prefix> <ttl_ms>
        check every entry the C++ side wrote (values and TTL)
    hash_store_interop.py write <port-or-url> <prefix> <ttl_ms>
        write entries the C++ side then reads back

The data set is defined by formulas that tests/test_redis_hash_backend.cpp
repeats exactly (see interop_flags / interop_dict there):

    flags hashes  <prefix>flags-a|<a>  field <b>: 25 flags perm_00..perm_24,
                  perm_i = (a * 31 + b * 17 + i) % 3 == 0
    dict hashes   <prefix>dict-a|<a>   field <b>:
                  {"id": b, "name": "obj-<b>", "owner": {"admin": a % 2 == 0, "id": a},
                   "tags": ["x", b, None]}

C++ writes a in 1..3, b in 10..13; Python writes a in 4..5, b in 20..21.
Exit status 3 means python3-redis or python3-msgpack is missing.
"""
import sys

try:
    import msgpack
    import redis
except ImportError as error:
    print("%s for /usr/bin/python3: apt-get install python3-redis python3-msgpack" % error, file=sys.stderr)
    sys.exit(3)


# --- the data set ------------------------------------------------------------

FLAG_KEYS = ["perm_%02d" % i for i in range(25)]


def interop_flags(a, b):
    return {k: (a * 31 + b * 17 + i) % 3 == 0 for i, k in enumerate(FLAG_KEYS)}


def interop_dict(a, b):
    return {"id": b, "name": "obj-%d" % b, "owner": {"admin": a % 2 == 0, "id": a}, "tags": ["x", b, None]}


CPP_PAIRS = [(a, b) for a in range(1, 4) for b in range(10, 14)]
PY_PAIRS = [(a, b) for a in range(4, 6) for b in range(20, 22)]


# --- the values-only format, as a Python service implements it ---------------

def template_of(d):
    return [(k, template_of(d[k]) if isinstance(d[k], dict) else None) for k in sorted(d)]


def pack_values(d):
    return [pack_values(d[k]) if isinstance(d[k], dict) else d[k] for k in sorted(d)]


def unpack_values(values, template):
    if not isinstance(values, list) or len(values) != len(template):
        raise ValueError("expected a list of %d values, got %r" % (len(template), values))
    return {k: (unpack_values(v, sub) if sub is not None else v) for (k, sub), v in zip(template, values)}


FLAGS_TEMPLATE = template_of(interop_flags(0, 0))
DICT_TEMPLATE = template_of(interop_dict(0, 0))


def hset_with_ttl(r, key, field, payload, ttl_ms):
    """The service's own writer: HSET, and PEXPIRE only a hash that had no TTL."""
    pipe = r.pipeline(transaction=True)
    pipe.pttl(key)
    pipe.hset(key, field, payload)
    pttl, _ = pipe.execute()
    if pttl < 0:
        r.pexpire(key, ttl_ms)


# --- modes -------------------------------------------------------------------

def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check_ttl(r, key, ttl_ms):
    pttl = r.pttl(key)
    if not 0 < pttl <= ttl_ms:
        fail("%s: PTTL %d, expected in (0, %d]" % (key, pttl, ttl_ms))


def read(r, prefix, ttl_ms):
    checked = 0
    for kind, make, template in (("flags", interop_flags, FLAGS_TEMPLATE), ("dict", interop_dict, DICT_TEMPLATE)):
        for a in sorted({a for a, _ in CPP_PAIRS}):
            key = "%s%s-a|%d" % (prefix, kind, a)
            check_ttl(r, key, ttl_ms)
            expected_fields = sorted(str(b) for pa, b in CPP_PAIRS if pa == a)
            fields = sorted(f.decode() for f in r.hkeys(key))
            if fields != expected_fields:
                fail("%s: fields %r, expected %r" % (key, fields, expected_fields))
            for b in (b for pa, b in CPP_PAIRS if pa == a):
                payload = r.hget(key, str(b))
                value = unpack_values(msgpack.unpackb(payload), template)
                if value != make(a, b):
                    fail("%s field %d: read %r, expected %r" % (key, b, value, make(a, b)))
                # Same bytes as Python itself would write: the format is the interface.
                if payload != msgpack.packb(pack_values(make(a, b))):
                    fail("%s field %d: bytes %s differ from Python's %s" %
                         (key, b, payload.hex(), msgpack.packb(pack_values(make(a, b))).hex()))
                checked += 1
    print("OK read %d entries" % checked)


def write(r, prefix, ttl_ms):
    written = 0
    for kind, make in (("flags", interop_flags), ("dict", interop_dict)):
        for a, b in PY_PAIRS:
            key = "%s%s-a|%d" % (prefix, kind, a)
            hset_with_ttl(r, key, str(b), msgpack.packb(pack_values(make(a, b))), ttl_ms)
            written += 1
    print("OK wrote %d entries" % written)


def main(argv):
    if len(argv) != 5 or argv[1] not in ("read", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, where, prefix, ttl_ms = argv[1], argv[2], argv[3], int(argv[4])
    if where.isdigit():
        r = redis.Redis(host="127.0.0.1", port=int(where), socket_timeout=10)
    else:
        r = redis.Redis.from_url(where, socket_timeout=10)
    if mode == "read":
        read(r, prefix, ttl_ms)
    else:
        write(r, prefix, ttl_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
