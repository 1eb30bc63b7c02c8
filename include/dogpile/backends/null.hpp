#pragma once
// NullBackend: stores nothing, so every get is a miss. Useful to switch caching
// off without touching the code that uses a region, and in tests that want
// every call to reach the creator. Callers are not serialised: with nothing
// stored, a dogpile lock would only make concurrent creators of one key queue
// (lock_requirement() is LockRequirement::none), so each runs its own creator.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"

namespace dogpile {

/// Stores nothing, so every get is a miss: switches caching off without touching the code that uses
/// a region. Callers are not serialised (lock_requirement() is LockRequirement::none): each runs
/// its own creator.
template <class Value, class Key = std::string>
class NullBackend final : public Backend<Value, Key> {
public:
    using entry_type = CachedValue<Value>;  ///< a value with its metadata

    /// Always a miss.
    std::optional<entry_type> get(const Key& /*key*/) override { return std::nullopt; }
    /// Does nothing.
    void set(const Key& /*key*/, const entry_type& /*entry*/) override {}
    /// Does nothing.
    void erase(const Key& /*key*/) override {}

    /// A miss for every key.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        return std::vector<std::optional<entry_type>>(keys.size());
    }
    /// Does nothing.
    void set_multi(const std::vector<std::pair<Key, entry_type>>& /*entries*/) override {}
    /// Does nothing.
    void erase_multi(const std::vector<Key>& /*keys*/) override {}

    /// LockRequirement::none: with nothing stored, a lock would only make callers queue.
    LockRequirement lock_requirement() const override { return LockRequirement::none; }
};

}  // namespace dogpile
