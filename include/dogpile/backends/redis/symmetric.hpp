#pragma once
// RedisSymmetricBackend: the symmetric store (docs/architecture.md, "The workload"). The value
// of a pair (a, b) is kept in both directions, with the same payload:
//
//   a2b-a|<a>  field <b>     read by get()
//   a2b-b|<b>  field <a>     the mirror, so all of b's pairs can be found
//
// so that either side can be invalidated: invalidate_a(a) reads HKEYS
// a2b-a|<a>, deletes field <a> from every a2b-b|<b> it names, then deletes
// a2b-a|<a>; invalidate_b(b) is the mirror image. A write of a pair sets both
// fields under the same TTL rule as the hash store
// (redis/details/hash_scripts.hpp), and erase() removes both. In the default
// atomic mode each of these is one script, so the two directions never
// disagree; the per-node mode for clusters splits them (see "Modes" below).
//
//   auto backend = std::make_shared<dogpile::RedisSymmetricBackend<Flags, FlagsCodec>>(
//       dogpile::RedisSymmetricBackendOptions{client, std::chrono::hours(1)}, FlagsCodec{key_template});
//   dogpile::Region<Flags, dogpile::A2BKey> region(backend);
//   region.get_or_create(dogpile::A2BKey{"7", "42"}, creator);
//   backend->invalidate_b("42");   // object 42 changed: drop every user's entry for it
//
// It is the serializing adapter (serializing_backend.hpp) over the byte store
// RedisSymmetricStore (symmetric_store.hpp); the default codec needs
// dogpile/codec/msgpack.hpp. Payload modes, decode errors, limits and
// statistics behave as in RedisHashBackend (hash.hpp). Reads (get, get_multi) are
// plain HGET/HMGET of the a-side hash in both modes below (get_multi: one
// HMGET per a and per max_pairs_per_read of its pairs).
//
// Modes (options.mode). Both use the same keys, fields, payloads and TTL
// rule, so each reads and invalidates what the other wrote.
//
// SymmetricMode::atomic (the default): every write, erase and invalidation
// is one Lua script, atomic: no reader or other writer ever sees one
// direction of a pair without the other. The unit is one script call: set()
// and erase() are one call; set_multi() is one call per a (per
// max_pairs_per_call pairs) and erase_multi() one per pair, pipelined, so a
// batch as a whole is not one transaction. On one server this holds for any
// ids. On a Redis Cluster a script runs only when all its keys are in one
// slot, that is when a and b share a hash tag ("{tenant7}user1",
// "{tenant7}obj1"): an untagged pair is refused with CROSSSLOT before its
// script runs, so nothing of it is written (in a set_multi, the calls of
// other, co-located a's still go through). invalidate_a/_b find the mirror
// hashes inside the script, where the server checks them one by one: this
// works for data the atomic mode wrote (its pairs are co-located), but on
// untagged data written in per-node mode it fails at the first mirror served
// by another node, after removing the mirrors it met on its own node (Redis
// lets a script without flags touch other slots of its own node), which can
// leave entries without their mirror; use per_node mode for such data.
// "Atomic" is in the sense of Redis scripts: nothing else runs in between,
// but a command that fails inside a script (a key of another type under a
// prefix) does not undo the commands before it.
//
// SymmetricMode::per_node (details/symmetric_per_node.hpp): for a
// cluster whose ids are not co-located. Each operation becomes steps that
// each touch one hash and are atomic on it (one HSET, HDEL or DEL, or one
// hset-with-expiry script for a hash's fields and its TTL), and each step is
// one round trip per node involved: a write or an erase has two steps, an
// invalidation three (HKEYS first). The pair as a whole is not atomic. The steps are ordered so that
// every entry keeps its mirror, the invariant invalidate_b() relies on:
// mirrors are written before their entries and removed after them. A crash
// or an error between steps therefore leaves at most mirrors without an
// entry (harmless: an HDEL of nothing at the next invalidation, and counted
// in its return value). The gap: a write of a pair (a, b) racing an erase of
// that pair or an invalidation of a or b can end with the entry written and
// its mirror removed. invalidate_b(b) then misses that entry;
// invalidate_a(a) and erase() still remove it, and short of those it lives
// as long as its a-hash: at most the TTL from the hash's creation with
// on_create, while a keeps being written with refresh_on_write, and until
// evicted with TtlPolicy::none. Two concurrent writes of one pair may also leave the
// mirror's copy of the payload different from the entry's; nothing reads
// the mirror's payload back.
//
// In both modes each hash has its own TTL (counted from its own creation
// with on_create), so a mirror hash can expire before an entry it names;
// invalidate_b() then misses that entry until its a-hash expires too.

#include "a2b_key.hpp"
#include "serializing_backend.hpp"
#include "symmetric_store.hpp"

namespace dogpile {

template <class Value, class Codec = codec::MsgpackCodec<Value>>
using RedisSymmetricBackend = redis::SerializingBackend<redis::RedisSymmetricStore, Value, Codec>;

}  // namespace dogpile
