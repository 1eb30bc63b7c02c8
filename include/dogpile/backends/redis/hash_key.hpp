#pragma once
/// \file
/// HashKey: where one entry of the Redis hash store lives, a field of a hash.
/// HashKeyScheme: the hash store's naming (docs/architecture.md, "The
/// workload"), one hash per id_a holding one field per id_b:
///
/// \code
///   HashKeyScheme calculated{"calculated-a|"};
///   calculated.key(7, 42)      // HashKey{"calculated-a|7", "42"}
///   calculated.hash_of("7")    // "calculated-a|7": what erase_hash() takes
/// \endcode
///
/// Both parts are binary-safe byte strings (Redis does not care), so ids may
/// hold any bytes; integers are written in decimal, as a Python service's
/// f"calculated-a|{id_a}" / str(id_b) would.

#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dogpile::redis {

/// Where one entry of the Redis hash store lives: a field of a hash. Both parts are binary-safe
/// byte strings.
struct HashKey {
    std::string hash;   ///< the Redis key of the hash
    std::string field;  ///< the field inside it

    /// Another name for `hash`: the Redis key of the hash.
    const std::string& key() const noexcept { return hash; }

    /// Same hash and field, byte for byte.
    friend bool operator==(const HashKey& a, const HashKey& b) noexcept {
        return a.hash == b.hash && a.field == b.field;
    }
    /// Negation of operator==.
    friend bool operator!=(const HashKey& a, const HashKey& b) noexcept { return !(a == b); }
    /// By hash, then field: sorting groups a hash's fields together.
    friend bool operator<(const HashKey& a, const HashKey& b) noexcept {
        const int by_hash = a.hash.compare(b.hash);
        return by_hash != 0 ? by_hash < 0 : a.field < b.field;
    }
    /// The order of operator<, reversed.
    friend bool operator>(const HashKey& a, const HashKey& b) noexcept { return b < a; }
    /// Not greater, in the order of operator<.
    friend bool operator<=(const HashKey& a, const HashKey& b) noexcept { return !(b < a); }
    /// Not less, in the order of operator<.
    friend bool operator>=(const HashKey& a, const HashKey& b) noexcept { return !(a < b); }

    /// For test failures and logs; bytes are written as they are.
    friend std::ostream& operator<<(std::ostream& out, const HashKey& key) {
        return out << "HashKey{\"" << key.hash << "\", \"" << key.field << "\"}";
    }
};

namespace details {

// Turns an id into its text form: string-likes as they are, integers in
// decimal. bool and character types are refused at compile time: "1" or "a"
// would be a surprising way to spell them.
template <class Id>
std::string id_text(const Id& id) {
    using T = std::decay_t<Id>;
    if constexpr (std::is_integral_v<T>) {
        static_assert(!std::is_same_v<T, bool>, "HashKeyScheme: a bool is not an id");
        static_assert(!std::is_same_v<T, char> && !std::is_same_v<T, signed char> &&
                          !std::is_same_v<T, unsigned char> && !std::is_same_v<T, wchar_t> &&
                          !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t>,
                      "HashKeyScheme: pass a character id as a string");
        return std::to_string(id);
    } else {
        static_assert(std::is_convertible_v<const Id&, std::string_view>,
                      "HashKeyScheme: ids are integers or string-likes");
        return std::string(std::string_view(id));
    }
}

// Combines two hashes (boost::hash_combine's 64-bit variant).
inline std::size_t combine_hashes(std::size_t seed, std::size_t value) noexcept {
    return seed ^ (value + static_cast<std::size_t>(0x9e3779b97f4a7c15ULL) + (seed << 6) + (seed >> 2));
}

}  // namespace details

/// The hash store's naming: one hash per id_a (prefix + id_a) holding one field per id_b. Ids are
/// integers (written in decimal) or binary-safe strings:
/// `HashKeyScheme{"calculated-a|"}.key(7, 42)` is `HashKey{"calculated-a|7", "42"}`.
class HashKeyScheme {
public:
    /// `prefix` is prepended to id_a to name the hash, e.g. "calculated-a|".
    explicit HashKeyScheme(std::string prefix) : prefix_(std::move(prefix)) {}

    /// The prefix it was made with.
    const std::string& prefix() const noexcept { return prefix_; }

    /// The hash holding all of id_a's entries (erase_hash() deletes it).
    template <class IdA>
    std::string hash_of(const IdA& id_a) const {
        return prefix_ + details::id_text(id_a);
    }

    /// The entry of (id_a, id_b): field id_b of hash_of(id_a).
    template <class IdA, class IdB>
    HashKey key(const IdA& id_a, const IdB& id_b) const {
        return HashKey{hash_of(id_a), details::id_text(id_b)};
    }

private:
    std::string prefix_;
};

}  // namespace dogpile::redis

namespace std {
/// Lets a HashKey key an unordered container.
template <>
struct hash<dogpile::redis::HashKey> {
    /// Combines the hashes of hash and field.
    size_t operator()(const dogpile::redis::HashKey& key) const noexcept {
        const hash<string> h;
        return dogpile::redis::details::combine_hashes(h(key.hash), h(key.field));
    }
};
}  // namespace std
