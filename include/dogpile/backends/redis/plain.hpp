#pragma once
/// \file
/// RedisBackend: one Redis string per cache key (dogpile.cache's redis
/// backend). The stored bytes are codec/envelope.hpp's header {created_at,
/// version} followed by the codec's payload, so a region's expiration_time and
/// soft invalidation work across processes; options.ttl additionally
/// lets Redis drop entries nobody reads any more. It is the serializing
/// adapter (serializing_backend.hpp) over the byte store RedisStringStore
/// (string_store.hpp), which lists the commands each operation sends.
///
/// \code
///   #include <dogpile/codec/msgpack.hpp>   // for the default codec
///   auto client = dogpile::redis::make_client("redis://127.0.0.1:6379");
///   auto backend = std::make_shared<dogpile::RedisBackend<std::string>>(
///       dogpile::RedisBackendOptions{client, "myapp:"});
///   dogpile::RegionOptions region_options;
///   region_options.expiration_time = std::chrono::minutes(5);
///   dogpile::Region<std::string> region(backend, region_options);
/// \endcode
///
/// A stored value that cannot be decoded is never served: get() throws
/// DecodeError (a region counts it and treats it as a miss, then overwrites
/// it); get_multi() returns std::nullopt for that entry only and reports it
/// through options.error_hook. stats().decode_errors counts both.

#include "serializing_backend.hpp"
#include "string_store.hpp"

namespace dogpile {

/// One Redis string per cache key, holding the envelope and the codec's bytes (plain.hpp).
/// Thread-safe.
template <class Value, class Codec = codec::MsgpackCodec<Value>>
using RedisBackend = redis::SerializingBackend<redis::RedisStringStore, Value, Codec>;

}  // namespace dogpile
