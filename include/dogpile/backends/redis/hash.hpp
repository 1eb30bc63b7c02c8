#pragma once
/// \file
/// RedisHashBackend: the hash store (docs/architecture.md, "The workload"). An entry
/// is a field of a Redis hash (HashKey{hash, field}), typically one hash per
/// id_a (`calculated-a|<id_a>`) with one field per id_b; the TTL lives on the
/// hash and is set by an atomic Lua script according to the TTL policy:
///
/// \code
///   auto backend = std::make_shared<dogpile::RedisHashBackend<Flags, FlagsCodec>>(
///       dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)},
///       FlagsCodec{key_template});
///   dogpile::Region<Flags, dogpile::HashKey> region(backend);
///   HashKeyScheme calculated{"calculated-a|"};
///   region.get_or_create(calculated.key(id_a, id_b), [&] { return compute(id_a, id_b); });
///   backend->erase_hash(calculated.hash_of(id_a));      // log user a out: one DEL
/// \endcode
///
/// It is the serializing adapter (serializing_backend.hpp) over the byte store
/// RedisHashStore (hash_store.hpp), which lists the commands each operation
/// sends. The default codec needs dogpile/codec/msgpack.hpp.
///
/// Payloads: PayloadMode::raw (the default) stores exactly the codec's bytes,
/// the interface a Python service reads (values-only msgpack); the region sees
/// them as always fresh (Metadata::store_managed()) and the hash's TTL expires
/// them. PayloadMode::envelope prefixes dogpile's metadata so the region's
/// expiration_time and soft invalidation apply.
///
/// A value that cannot be decoded (corrupt, truncated, written for another key
/// template, over limits.max_payload_bytes) is never served: get() throws
/// DecodeError, which a region counts as a backend error and treats as a miss
/// (it then regenerates and overwrites the entry); get_multi() returns
/// std::nullopt for that entry only and reports it through options.error_hook.
/// Either way stats().decode_errors counts it.

#include "hash_key.hpp"
#include "hash_store.hpp"
#include "serializing_backend.hpp"

namespace dogpile {

/// The hash store: an entry is a field of a Redis hash, the TTL lives on the hash (hash.hpp).
/// Thread-safe.
template <class Value, class Codec = codec::MsgpackCodec<Value>>
using RedisHashBackend = redis::SerializingBackend<redis::RedisHashStore, Value, Codec>;

}  // namespace dogpile
