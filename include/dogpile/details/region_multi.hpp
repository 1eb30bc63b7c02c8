#pragma once
// RegionCore: a region's shared state with all its paths; this layer adds
// Region::get_or_create_multi (one read for all keys, locks taken in key
// order with the distributed ones in batches, one creator call and one write
// for the keys still missing, the locks released together).

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../errors.hpp"
#include "../expiration.hpp"
#include "../region_options.hpp"
#include "region_creation.hpp"

namespace dogpile::details {

template <class Value, class Key, class Hash>
struct RegionCore final : RegionCreation<Value, Key, Hash> {
    using Creation = RegionCreation<Value, Key, Hash>;
    using Creation::Creation;
    using typename Creation::entry_type;
    using typename Creation::Lock;
    using Creation::acquire_all;
    using Creation::release_all;
    using Creation::backend_get_multi;
    using Creation::backend_set_multi;
    using Creation::classify;
    using Creation::creations;
    using Creation::hits;
    using Creation::mangle_all;
    using Creation::misses;
    using Creation::now;
    using Creation::options;
    using Creation::stale_served;
    using Creation::throw_lock_timeout;
    using Creation::unbudgeted;

    // One entry per distinct mangled key: two keys the mangler maps to one
    // string are one key (one lock, one creation), or the second lock would
    // wait for the first forever.
    struct Pending {
        Key original;  // what the creator sees: the smallest of the keys mangled to this one
        std::vector<std::size_t> positions;
        Freshness state = Freshness::missing;
        std::optional<entry_type> stale;
        std::optional<Lock> lock;
        bool resolved = false;
    };

    // A creator returning std::vector<std::optional<Value>> may leave keys
    // without a value (nullopt: not stored, returned as nullopt); the results
    // are then optional too.
    template <class Creator>
    static constexpr bool may_omit =
        std::is_same_v<std::decay_t<std::invoke_result_t<Creator&, const std::vector<Key>&>>,
                       std::vector<std::optional<Value>>>;

    template <class Creator>
    std::conditional_t<may_omit<Creator>, std::vector<std::optional<Value>>, std::vector<Value>> create_multi(
        const std::vector<Key>& keys, Creator& creator, const GetOrCreateOptions<Value>& opts) {
        const ExpirationTime& expiration = opts.expiration_time ? *opts.expiration_time : options.expiration_time;
        std::vector<Key> mangled_storage;
        const std::vector<Key>& mangled = mangle_all(keys, mangled_storage);
        auto entries = backend_get_multi(mangled);
        std::vector<std::optional<Value>> results(keys.size());

        // Ordered by mangled key, so every caller takes the locks in the
        // same order (no deadlock between two overlapping batches).
        std::map<Key, Pending> pending;
        std::size_t fresh_count = 0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const Freshness state = classify(entries[i], expiration);
            if (state == Freshness::fresh) {
                ++fresh_count;
                results[i] = std::move(entries[i]->value);
                continue;
            }
            auto [it, inserted] = pending.try_emplace(mangled[i]);
            Pending& p = it->second;
            if (inserted) {
                p.original = keys[i];
                p.state = state;
                if (state == Freshness::stale) p.stale = std::move(entries[i]);
            } else if (keys[i] < p.original) {
                p.original = keys[i];
            }
            p.positions.push_back(i);
        }
        hits.add(fresh_count);  // once: the counter is shared by every thread

        // Every lock of the call goes back together (one round trip for the
        // distributed ones), whichever way the call ends.
        struct ReleaseTogether {
            RegionCore& core;
            std::map<Key, Pending>& pending;
            ~ReleaseTogether() {
                std::vector<Lock*> held;
                for (auto& item : pending) {
                    if (item.second.lock) held.push_back(&*item.second.lock);
                }
                core.release_all(held);
            }
        } release_together{*this, pending};

        std::vector<typename Creation::KeyRequest> requests;
        requests.reserve(pending.size());
        for (auto& [mangled_key, p] : pending) {
            // A stale value under serve_while_regenerating is served rather than waited for.
            const bool serve_stale =
                p.state == Freshness::stale && options.stale == StalePolicy::serve_while_regenerating;
            if (!serve_stale) misses.add();
            requests.push_back({&mangled_key, serve_stale ? Acquire::try_only : Acquire::blocking});
        }
        auto locks = acquire_all(requests);

        std::vector<Key> recheck;
        std::size_t r = 0;
        for (auto& [mangled_key, p] : pending) {
            const Acquire how = requests[r].how;
            p.lock = std::move(locks[r++]);
            if (how == Acquire::try_only) {
                if (!p.lock) {
                    stale_served.add(p.positions.size());
                    for (auto pos : p.positions) results[pos] = p.stale->value;
                    p.resolved = true;
                }
                // Won without waiting while a value was there: regenerate
                // without a second read, as get_or_create does.
                continue;
            }
            if (!p.lock && options.on_lock_timeout == LockTimeoutPolicy::raise) throw_lock_timeout();
            if (p.lock) recheck.push_back(mangled_key);
        }

        if (!recheck.empty()) {
            auto fresh = backend_get_multi(recheck);
            for (std::size_t r = 0; r < recheck.size(); ++r) {
                auto& entry = fresh[r];
                if (classify(entry, expiration) != Freshness::fresh) continue;
                Pending& p = pending.find(recheck[r])->second;
                for (auto pos : p.positions) results[pos] = entry->value;
                p.resolved = true;
            }
        }

        // The creator sees the unresolved keys as the caller passed them, sorted.
        std::vector<std::pair<Key, Pending*>> to_create;
        for (auto& [mangled_key, p] : pending) {
            if (!p.resolved) to_create.emplace_back(mangled_key, &p);
        }
        std::sort(to_create.begin(), to_create.end(),
                  [](const auto& a, const auto& b) { return a.second->original < b.second->original; });
        if (!to_create.empty()) {
            std::vector<Key> originals;
            originals.reserve(to_create.size());
            for (const auto& item : to_create) originals.push_back(item.second->original);
            const TimePoint started = now();
            std::conditional_t<may_omit<Creator>, std::vector<std::optional<Value>>, std::vector<Value>> created =
                unbudgeted([&] { return creator(std::as_const(originals)); });
            if (created.size() != originals.size()) {
                throw Error("get_or_create_multi: creator returned " + std::to_string(created.size()) + " values for " +
                            std::to_string(originals.size()) + " keys");
            }
            const TimePoint finished = now();
            // Each value is stamped with the batch's duration: what a single
            // refresh of it would cost is unknown, the batch is an upper bound.
            const Metadata metadata = Metadata::created_now(finished, std::max(Duration::zero(), finished - started));
            std::vector<std::pair<Key, entry_type>> to_store;
            std::size_t made = 0;
            for (std::size_t i = 0; i < to_create.size(); ++i) {
                Value* value = value_in(created[i]);
                if (value == nullptr) continue;  // omitted: the key stays without a value
                ++made;
                Pending& p = *to_create[i].second;
                for (auto pos : p.positions) results[pos] = *value;
                // A key whose lock timed out is returned but not stored.
                if (p.lock && (!opts.should_cache || unbudgeted([&] { return opts.should_cache(*value); }))) {
                    to_store.emplace_back(to_create[i].first, entry_type{std::move(*value), metadata});
                }
            }
            creations.add(made);
            backend_set_multi(to_store);
        }

        if constexpr (may_omit<Creator>) {
            return results;
        } else {
            return unwrap_all(results);
        }
    }

private:
    static Value* value_in(Value& value) noexcept { return &value; }
    static Value* value_in(std::optional<Value>& value) noexcept { return value ? &*value : nullptr; }

    static std::vector<Value> unwrap_all(std::vector<std::optional<Value>>& results) {
        std::vector<Value> out;
        out.reserve(results.size());
        for (auto& r : results) out.push_back(std::move(*r));
        return out;
    }
};

}  // namespace dogpile::details
