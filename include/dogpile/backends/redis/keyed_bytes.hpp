#pragma once
// KeyedBytes: one write to a Redis byte store (RedisStringStore,
// RedisHashStore, RedisSymmetricStore): a key and the bytes to store under
// it. set_multi takes them by value so the bytes move into the commands.

#include <string>

namespace dogpile::redis {

template <class Key>
struct KeyedBytes {
    const Key& key;  // must outlive the write
    std::string bytes;
};

}  // namespace dogpile::redis
