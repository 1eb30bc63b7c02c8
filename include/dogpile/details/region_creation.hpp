#pragma once
// RegionCreation: the single-key creation paths of Region::get_or_create: create
// under the key's lock after a miss, serve stale while one caller
// regenerates, early refresh (XFetch), and the hand-off to an async runner.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "../cached_value.hpp"
#include "../expiration.hpp"
#include "../region_options.hpp"
#include "random.hpp"
#include "region_locking.hpp"

namespace dogpile::details {

template <class Value, class Key, class Hash>
struct RegionCreation : RegionLocking<Value, Key, Hash> {
    using Locking = RegionLocking<Value, Key, Hash>;
    using Locking::Locking;
    using typename Locking::entry_type;
    using typename Locking::Lock;
    using Locking::acquire;
    using Locking::acquire_unless_settled;
    using Locking::backend_get;
    using Locking::backend_set;
    using Locking::classify;
    using Locking::creations;
    using Locking::early_refreshes;
    using Locking::expiry_now;
    using Locking::hits;
    using Locking::misses;
    using Locking::now;
    using Locking::options;
    using Locking::stale_served;
    using Locking::throw_lock_timeout;
    using Locking::unbudgeted;

    // --- creation ----------------------------------------------------------

    template <class Creator>
    Value create_and_store(const Key& key, Creator& creator, const GetOrCreateOptions<Value>& opts) {
        const TimePoint started = now();
        Value value = unbudgeted([&]() -> Value { return creator(); });
        creations.add();
        if (!opts.should_cache || unbudgeted([&] { return opts.should_cache(value); })) {
            const TimePoint finished = now();
            const Duration took = std::max(Duration::zero(), finished - started);
            // The caller gets the value back, so the backend only reads it
            // (const& set): moved in and out of the entry, never copied here.
            entry_type entry{std::move(value), Metadata::created_now(finished, took)};
            backend_set(key, entry);
            return std::move(entry.value);
        }
        return value;
    }

    // --- early refresh (XFetch) -----------------------------------------------

    double random_unit() const {
        if (options.random) return options.random();
        // 53 random bits as [0, 1), mirrored to (0, 1]: ln() must never see 0.
        return 1.0 - static_cast<double>(fast_random() >> 11) * 0x1.0p-53;
    }

    bool wants_early_refresh(const entry_type& entry, const ExpirationTime& expiration,
                             const GetOrCreateOptions<Value>& opts) const {
        const std::optional<EarlyRefresh>& early = opts.early_refresh ? opts.early_refresh : options.early_refresh;
        if (!early || early->beta <= 0.0 || expiration.is_never()) return false;
        const Metadata& m = entry.metadata;
        if (m.expiry_owner == ExpiryOwner::store || m.creation_time <= Duration::zero()) return false;
        using Seconds = std::chrono::duration<double>;
        const double gap = Seconds(m.created_at + *expiration.duration() - expiry_now()).count();
        const double scale = Seconds(m.creation_time).count() * early->beta;
        // Beyond 50 scales the chance is below e^-50: skip the random draw.
        if (gap > 50.0 * scale) return false;
        return -scale * std::log(random_unit()) >= gap;
    }

    // The caller that wins the key's lock recomputes; anyone else (and the
    // winner too, when an async runner takes the work) returns the fresh value.
    template <class Self, class Creator>
    Value refresh_early(const std::shared_ptr<Self>& self, const Key& key, entry_type entry, Creator& creator,
                        const GetOrCreateOptions<Value>& opts) {
        auto lock = acquire(key, Acquire::try_only);
        if (!lock) {
            hits.add();
            return std::move(entry.value);
        }
        early_refreshes.add();
        if constexpr (std::is_copy_constructible_v<std::decay_t<Creator>>) {
            if (options.async_creation_runner) {
                hand_off(self, key, std::move(*lock), creator, opts);
                hits.add();
                return std::move(entry.value);
            }
        }
        // No second read: see create_path's stale branch.
        return create_and_store(key, creator, opts);
    }

    template <class Self, class Creator>
    Value create_path(const std::shared_ptr<Self>& self, const Key& key, std::optional<entry_type> entry,
                      Freshness state, Creator& creator, const GetOrCreateOptions<Value>& opts,
                      const ExpirationTime& expiration) {
        if (state == Freshness::stale && options.stale == StalePolicy::serve_while_regenerating) {
            auto lock = acquire(key, Acquire::try_only);
            if (!lock) {
                stale_served.add();
                return std::move(entry->value);
            }
            if constexpr (std::is_copy_constructible_v<std::decay_t<Creator>>) {
                if (options.async_creation_runner) {
                    hand_off(self, key, std::move(*lock), creator, opts);
                    stale_served.add();
                    return std::move(entry->value);
                }
            }
            // No second read under the lock (as dogpile.cache): the value
            // was there and we won the lock without waiting, so at worst
            // somebody finished regenerating it in the instant between our
            // read and our lock, and it is regenerated once more. A second
            // read would cost a round trip on every regeneration to avoid that.
            return create_and_store(key, creator, opts);
        }

        misses.add();
        // Only a caller that waited re-reads here; the others read once, below.
        std::optional<entry_type> reread;
        bool settled_fresh = false;
        const std::function<bool()> settled = [&] {
            reread = backend_get(key);
            settled_fresh = classify(reread, expiration) == Freshness::fresh;
            return settled_fresh;
        };
        auto lock = acquire_unless_settled(key, settled);
        if (!lock) {
            if (options.on_lock_timeout == LockTimeoutPolicy::raise) throw_lock_timeout();
            Value value = unbudgeted([&]() -> Value { return creator(); });
            creations.add();
            return value;
        }
        if (settled_fresh) return std::move(reread->value);  // held without the distributed lock: never create
        return recheck_or_create(key, creator, opts, expiration);
    }

    // Called with the key's lock held after a miss: somebody may have
    // created the value while we waited for the lock, or between our read
    // and our lock (the one read that keeps a cold key's creation single).
    template <class Creator>
    Value recheck_or_create(const Key& key, Creator& creator, const GetOrCreateOptions<Value>& opts,
                            const ExpirationTime& expiration) {
        auto entry = backend_get(key);
        if (classify(entry, expiration) == Freshness::fresh) return std::move(entry->value);
        return create_and_store(key, creator, opts);
    }

    template <class Self, class Creator>
    void hand_off(const std::shared_ptr<Self>& self, const Key& key, Lock lock, Creator& creator,
                  const GetOrCreateOptions<Value>& opts) {
        // std::function needs a copyable callable; the lock is move-only.
        auto held = std::make_shared<Lock>(std::move(lock));
        // The regeneration is the region's own work, not the caller's: it
        // gets a budget of its own, even when the runner runs it inline.
        unbudgeted([&] {
            options.async_creation_runner([self, held, key, creator = std::decay_t<Creator>(creator), opts]() mutable {
                CallBudget::Pause outside_any_caller;
                const auto budget = self->budget_scope();
                self->create_and_store(key, creator, opts);
                held->release();
            });
        });
    }
};

}  // namespace dogpile::details
