#pragma once
/// \file
/// RedisSymmetricBackend: the symmetric store (docs/architecture.md, "The
/// workload"). The value of a pair (a, b) is kept in both directions with the
/// same payload, `a2b-a|<a>` field `<b>` (read by get()) and its mirror `a2b-b|<b>`
/// field `<a>`, so either side can be invalidated:
///
/// \code
///   auto backend = std::make_shared<dogpile::RedisSymmetricBackend<Flags, FlagsCodec>>(
///       dogpile::RedisSymmetricBackendOptions{client, std::chrono::hours(1)}, FlagsCodec{key_template});
///   dogpile::Region<Flags, dogpile::A2BKey> region(backend);
///   region.get_or_create(dogpile::A2BKey{"7", "42"}, creator);
///   backend->invalidate_b("42");   // object 42 changed: drop every user's entry for it
/// \endcode
///
/// SymmetricMode::atomic (the default): every write, erase and invalidation is
/// one Lua script, so the two directions never disagree; on a Redis Cluster a
/// and b must share a hash tag ("{tenant7}user1", "{tenant7}obj1"), else the
/// write is refused with CROSSSLOT. SymmetricMode::per_node: for clusters whose
/// ids are not co-located; each step is atomic on one hash, ordered so every
/// entry keeps its mirror, with one documented gap under concurrent writes and
/// invalidations (docs/architecture.md, "The symmetric store's modes").
///
/// The serializing adapter over RedisSymmetricStore (symmetric_store.hpp); the
/// default codec needs dogpile/codec/msgpack.hpp. Payload modes, decode errors,
/// limits and statistics behave as in RedisHashBackend. Thread-safe.
#include "a2b_key.hpp"
#include "serializing_backend.hpp"
#include "symmetric_store.hpp"

namespace dogpile {

/// The symmetric store: the value of a pair (a, b) is kept under a and under b (symmetric.hpp).
/// Thread-safe.
template <class Value, class Codec = codec::MsgpackCodec<Value>>
using RedisSymmetricBackend = redis::SerializingBackend<redis::RedisSymmetricStore, Value, Codec>;

}  // namespace dogpile
