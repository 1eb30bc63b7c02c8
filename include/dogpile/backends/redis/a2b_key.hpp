#pragma once
/// \file
/// A2BKey: one pair (a, b) of the symmetric store (symmetric.hpp), and
/// SymmetricMode, how that store runs its multi-key operations.

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "hash_key.hpp"

namespace dogpile::redis {

/// How RedisSymmetricStore runs its multi-key operations (see its header
/// comment for exactly what is atomic in each).
enum class SymmetricMode : std::uint8_t {
    /// One Lua script per operation. On a cluster, a and b must share a hash tag.
    atomic,
    /// Steps of one hash each, ordered to keep every entry's mirror; for
    /// clusters whose ids are not co-located.
    per_node,
};

/// "atomic" or "per_node", for logs and error messages.
inline const char* to_string(SymmetricMode mode) noexcept {
    return mode == SymmetricMode::atomic ? "atomic" : "per_node";
}

}  // namespace dogpile::redis

namespace dogpile {

/// One pair of the symmetric store. Both ids are binary-safe byte strings.
struct A2BKey {
    std::string a;  ///< the id on side a
    std::string b;  ///< the id on side b

    /// Same a and same b, byte for byte.
    friend bool operator==(const A2BKey& x, const A2BKey& y) noexcept { return x.a == y.a && x.b == y.b; }
    /// Negation of operator==.
    friend bool operator!=(const A2BKey& x, const A2BKey& y) noexcept { return !(x == y); }
    /// By a, then b: sorting groups one id_a's pairs together.
    friend bool operator<(const A2BKey& x, const A2BKey& y) noexcept {
        const int by_a = x.a.compare(y.a);
        return by_a != 0 ? by_a < 0 : x.b < y.b;
    }
    /// The order of operator<, reversed.
    friend bool operator>(const A2BKey& x, const A2BKey& y) noexcept { return y < x; }
    /// Not greater, in the order of operator<.
    friend bool operator<=(const A2BKey& x, const A2BKey& y) noexcept { return !(y < x); }
    /// Not less, in the order of operator<.
    friend bool operator>=(const A2BKey& x, const A2BKey& y) noexcept { return !(x < y); }

    /// For test failures and logs; bytes are written as they are.
    friend std::ostream& operator<<(std::ostream& out, const A2BKey& key) {
        return out << "A2BKey{\"" << key.a << "\", \"" << key.b << "\"}";
    }
};

}  // namespace dogpile

namespace std {
/// Lets an A2BKey key an unordered container.
template <>
struct hash<dogpile::A2BKey> {
    /// Combines the hashes of a and b.
    size_t operator()(const dogpile::A2BKey& key) const noexcept {
        const hash<string> h;
        return dogpile::redis::details::combine_hashes(h(key.a), h(key.b));
    }
};
}  // namespace std
