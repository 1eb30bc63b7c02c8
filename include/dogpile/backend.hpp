#pragma once
// Backend<Value, Key>: what a storage backend implements. A minimal backend
// overrides get, set and erase; the *_multi defaults loop over them, the
// rvalue set forwards to the const& one, get_mutex defaults to "no
// distributed lock" (the region's in-process lock), and lock_requirement to
// "one creator per key" (the dogpile lock). Proxies (backends/proxy.hpp) wrap
// a backend and forward all of these.
//
// Thread safety: a region calls its backend from many threads at once, so a
// backend must be safe for concurrent use. Errors are reported by throwing
// (ideally a dogpile::BackendError); the region counts them and degrades.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cached_value.hpp"
#include "mutex.hpp"

namespace dogpile {

/// Whether a region must let only one caller per key run the creator.
enum class LockRequirement {
    dogpile_lock,  ///< the default: one creator per key, the others wait or get the stale value
    none,          ///< nothing is stored (NullBackend): a lock would only make callers queue
};

/// What a storage backend implements: get, set and erase at least. A region calls it from
/// many threads at once, so it must be safe for concurrent use; it reports errors by
/// throwing (ideally a BackendError), which the region counts and degrades on.
template <class Value, class Key = std::string>
class Backend {
public:
    using value_type = Value;               ///< the cached value type
    using key_type = Key;                   ///< the key type
    using entry_type = CachedValue<Value>;  ///< a value with its metadata

    virtual ~Backend() = default;

    /// The entry stored under `key`, or std::nullopt for a miss.
    virtual std::optional<entry_type> get(const Key& key) = 0;
    /// Stores `entry` under `key`, replacing any previous entry.
    virtual void set(const Key& key, const entry_type& entry) = 0;
    /// Removes the entry under `key`; no error when there is none.
    virtual void erase(const Key& key) = 0;

    /// The region hands over a value it just created and no longer needs; a
    /// backend that stores the value itself (or encodes it) can take it
    /// without a copy by overriding this one too.
    virtual void set(const Key& key, entry_type&& entry) { set(key, static_cast<const entry_type&>(entry)); }

    /// Results in the order of `keys`; std::nullopt for a miss.
    virtual std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) {
        std::vector<std::optional<entry_type>> out;
        out.reserve(keys.size());
        for (const auto& key : keys) out.push_back(get(key));
        return out;
    }

    /// Stores every entry; the default calls set() for each.
    virtual void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) {
        for (const auto& [key, entry] : entries) set(key, entry);
    }

    /// Removes every key; the default calls erase() for each.
    virtual void erase_multi(const std::vector<Key>& keys) {
        for (const auto& key : keys) erase(key);
    }

    /// A cross-process mutex for `key`, or nullptr when in-process locking is enough.
    virtual std::unique_ptr<Mutex> get_mutex(const Key& /*key*/) { return nullptr; }

    /// Asked on every creation, so a proxy may forward it; keep it cheap.
    virtual LockRequirement lock_requirement() const { return LockRequirement::dogpile_lock; }

    /// The backend that stores the data: this one, or the innermost one behind
    /// a chain of proxies (dogpile.cache's actual_backend).
    virtual Backend& actual_backend() { return *this; }
};

}  // namespace dogpile
