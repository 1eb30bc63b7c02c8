#pragma once
/// \file
/// KeyedBytes: one write to a Redis byte store (RedisStringStore,
/// RedisHashStore, RedisSymmetricStore): a key and the bytes to store under
/// it. set_multi takes them by value so the bytes move into the commands.

#include <string>

namespace dogpile::redis {

/// One write to a Redis byte store (RedisStringStore, RedisHashStore, RedisSymmetricStore): a key
/// and the bytes to store under it. set_multi() takes them by value, so the bytes move into the
/// commands.
template <class Key>
struct KeyedBytes {
    /// The key; it must outlive the write.
    const Key& key;
    std::string bytes;  ///< the serialized value
};

}  // namespace dogpile::redis
