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

// Whether a region must let only one caller per key run the creator.
enum class LockRequirement {
    dogpile_lock,  // the default: one creator per key, the others wait or get the stale value
    none,          // nothing is stored (NullBackend): a lock would only make callers queue
};

template <class Value, class Key = std::string>
class Backend {
public:
    using value_type = Value;
    using key_type = Key;
    using entry_type = CachedValue<Value>;

    virtual ~Backend() = default;

    virtual std::optional<entry_type> get(const Key& key) = 0;
    virtual void set(const Key& key, const entry_type& entry) = 0;
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

    virtual void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) {
        for (const auto& [key, entry] : entries) set(key, entry);
    }

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
