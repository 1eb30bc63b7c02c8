#pragma once
// Region<Value, Key>: the front object. get_or_create() returns a fresh cached
// value, or makes exactly one caller per key run the creator while the others
// wait (no value yet) or get the stale value (an expired one): the dogpile lock.
//
// Thread safety: every member function may be called from any number of
// threads at once, except configure(), which must happen before the region is
// shared. Copies of a Region share one configuration, one lock registry and one
// set of statistics; async regeneration tasks keep that shared state alive.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "cached_value.hpp"
#include "details/striped_counter.hpp"
#include "errors.hpp"
#include "expiration.hpp"
#include "lock.hpp"
#include "region_options.hpp"

namespace dogpile {

template <class Value, class Key = std::string, class Hash = std::hash<Key>>
class Region {
public:
    using value_type = Value;
    using key_type = Key;
    using backend_type = Backend<Value, Key>;
    using entry_type = CachedValue<Value>;
    using options_type = RegionOptions<Key>;

    // An unconfigured region; configure() it before use.
    Region() = default;

    explicit Region(std::shared_ptr<backend_type> backend, options_type options = {}) {
        configure(std::move(backend), std::move(options));
    }

    void configure(std::shared_ptr<backend_type> backend, options_type options = {},
                   ReplaceExisting replace = ReplaceExisting::no) {
        if (core_ && replace == ReplaceExisting::no) {
            throw ConfigurationError(
                "region is already configured; pass ReplaceExisting::yes to replace its backend and options");
        }
        if (!backend) throw ConfigurationError("region backend must not be null");
        if (options.lock_timeout && options.lock_timeout->count() < 0) {
            throw ConfigurationError("lock_timeout must not be negative");
        }
        core_ = std::make_shared<Core>(std::move(backend), std::move(options));
    }

    bool is_configured() const noexcept { return core_ != nullptr; }

    backend_type& backend() const { return *core().backend; }
    const options_type& options() const { return core().options; }

    // --- reads -------------------------------------------------------------

    // The value when present and neither expired nor invalidated.
    std::optional<Value> get(const Key& key, const GetOptions& opts = {}) const {
        auto entry = get_value_metadata(key, opts);
        if (!entry) return std::nullopt;
        return std::move(entry->value);
    }

    // The value with its metadata (created_at, version; age via entry.age(now)).
    std::optional<entry_type> get_value_metadata(const Key& key, const GetOptions& opts = {}) const {
        const Core& c = core();
        return c.with_mangled(key, [&](const Key& k) { return c.readable(c.backend_get(k), opts); });
    }

    std::vector<std::optional<Value>> get_multi(const std::vector<Key>& keys, const GetOptions& opts = {}) const {
        const Core& c = core();
        auto entries = c.backend_get_multi(c.mangle_all(keys));
        std::vector<std::optional<Value>> out;
        out.reserve(keys.size());
        for (auto& entry : entries) {
            auto readable = c.readable(std::move(entry), opts);
            out.push_back(readable ? std::optional<Value>(std::move(readable->value)) : std::nullopt);
        }
        return out;
    }

    // --- get_or_create -----------------------------------------------------

    // `creator` is any callable returning Value. It is copied only when the
    // async creation runner takes over a regeneration.
    template <class Creator>
    Value get_or_create(const Key& key, Creator&& creator, const GetOrCreateOptions<Value>& opts = {}) {
        Core& c = core();
        return c.with_mangled(key, [&](const Key& k) -> Value {
            const ExpirationTime& expiration = opts.expiration_time ? *opts.expiration_time : c.options.expiration_time;
            auto entry = c.backend_get(k);
            const Freshness state = c.classify(entry, expiration);
            if (state == Freshness::fresh) {
                if (c.wants_early_refresh(*entry, expiration, opts)) {
                    return c.refresh_early(core_, k, std::move(*entry), creator, opts);
                }
                c.hits.add();
                return std::move(entry->value);
            }
            return c.create_path(core_, k, std::move(entry), state, creator, opts, expiration);
        });
    }

    // `creator` receives the keys that need a value (sorted, deduplicated, as
    // passed in, i.e. unmangled) and returns their values in that order.
    // Results are in the order of `keys`. Keys the key mangler maps to one
    // string are one key: the creator sees the smallest of them, and its value
    // is returned for each.
    template <class Creator>
    std::vector<Value> get_or_create_multi(const std::vector<Key>& keys, Creator&& creator,
                                           const GetOrCreateOptions<Value>& opts = {}) {
        return core().create_multi(keys, creator, opts);
    }

    // --- writes ------------------------------------------------------------

    void set(const Key& key, const Value& value) {
        Core& c = core();
        c.with_mangled(key, [&](const Key& k) { c.backend_set(k, entry_type{value, Metadata::created_now(c.now())}); });
    }

    void set_multi(const std::vector<std::pair<Key, Value>>& items) {
        Core& c = core();
        const Metadata metadata = Metadata::created_now(c.now());
        std::vector<std::pair<Key, entry_type>> entries;
        entries.reserve(items.size());
        for (const auto& [key, value] : items) entries.emplace_back(c.mangle(key), entry_type{value, metadata});
        c.backend_set_multi(entries);
    }

    // dogpile.cache's delete().
    void erase(const Key& key) {
        Core& c = core();
        c.with_mangled(key, [&](const Key& k) { c.guard_backend("erase", [&] { c.backend->erase(k); }); });
    }

    void erase_multi(const std::vector<Key>& keys) {
        Core& c = core();
        auto mangled = c.mangle_all(keys);
        c.guard_backend("erase_multi", [&] { c.backend->erase_multi(mangled); });
    }

    // Marks everything created before now as a miss (hard) or as stale (soft).
    // Affects this region (and its copies) only, as in dogpile.cache; values
    // whose expiry the store owns are not affected: erase them instead.
    void invalidate(Invalidation kind = Invalidation::hard) {
        Core& c = core();
        const auto stamp = c.now().time_since_epoch().count();
        if (kind == Invalidation::soft) {
            if (c.options.expiration_time.is_never()) {
                throw ConfigurationError("soft invalidation needs a region expiration_time (as in dogpile.cache)");
            }
            c.soft_invalidated_at.store(stamp, std::memory_order_release);
        } else {
            c.hard_invalidated_at.store(stamp, std::memory_order_release);
        }
    }

    // --- introspection -----------------------------------------------------

    RegionStats stats() const {
        const Core& c = core();
        RegionStats s;
        s.hits = c.hits.load();
        s.misses = c.misses.load();
        s.stale_served = c.stale_served.load();
        s.creations = c.creations.load();
        s.lock_waits = c.lock_waits.load();
        s.lock_timeouts = c.lock_timeouts.load();
        s.backend_errors = c.backend_errors.load();
        s.early_refreshes = c.early_refreshes.load();
        return s;
    }

    void reset_stats() {
        Core& c = core();
        for (auto* counter : {&c.hits, &c.misses, &c.stale_served, &c.creations, &c.lock_waits, &c.lock_timeouts,
                              &c.backend_errors, &c.early_refreshes}) {
            counter->reset();
        }
    }

    // Keys whose in-process lock is currently held or awaited.
    std::size_t lock_registry_size() const { return core().registry.size(); }

    // Callers of this region blocked on `key`'s in-process lock while another
    // creates its value: what a stampede looks like from outside.
    std::size_t lock_waiters(const Key& key) const {
        const Core& c = core();
        return c.with_mangled(key, [&](const Key& k) { return c.registry.waiters(k); });
    }

private:
    enum class Freshness { fresh, stale, missing };
    enum class Acquire { try_only, blocking };

    using Registry = MutexRegistry<Key, Hash>;
    using Lock = KeyLock<Key, Hash>;

    struct Core {
        Core(std::shared_ptr<backend_type> b, options_type o) : backend(std::move(b)), options(std::move(o)) {}

        std::shared_ptr<backend_type> backend;
        options_type options;
        mutable Registry registry;
        std::atomic<TimePoint::rep> hard_invalidated_at{0};
        std::atomic<TimePoint::rep> soft_invalidated_at{0};
        mutable details::StripedCounter hits, misses, stale_served, creations, lock_waits, lock_timeouts,
            backend_errors, early_refreshes;

        TimePoint now() const { return options.clock ? options.clock() : WallClock::now(); }

        // Calls f with the mangled key, copying the key only when a mangler is set.
        template <class F>
        decltype(auto) with_mangled(const Key& key, F&& f) const {
            if (!options.key_mangler) return f(key);
            const Key mangled = options.key_mangler(key);
            return f(mangled);
        }

        Key mangle(const Key& key) const { return options.key_mangler ? options.key_mangler(key) : key; }

        std::vector<Key> mangle_all(const std::vector<Key>& keys) const {
            if (!options.key_mangler) return keys;
            std::vector<Key> out;
            out.reserve(keys.size());
            for (const auto& key : keys) out.push_back(options.key_mangler(key));
            return out;
        }

        // Reads the clock only when an expiration time applies: the hit path of
        // a never-expiring region does not pay for it.
        Freshness classify(const std::optional<entry_type>& entry, const ExpirationTime& expiration) const {
            if (!entry) return Freshness::missing;
            const Metadata& m = entry->metadata;
            if (m.version != Metadata::current_version) return Freshness::missing;
            if (m.expiry_owner == ExpiryOwner::store) return Freshness::fresh;
            const auto created = m.created_at.time_since_epoch().count();
            const auto hard = hard_invalidated_at.load(std::memory_order_acquire);
            if (hard != 0 && created < hard) return Freshness::missing;
            const auto soft = soft_invalidated_at.load(std::memory_order_acquire);
            if (soft != 0 && created < soft) return Freshness::stale;
            if (!expiration.is_never() && expiration.expired(m.created_at, now())) return Freshness::stale;
            return Freshness::fresh;
        }

        std::optional<entry_type> readable(std::optional<entry_type> entry, const GetOptions& opts) const {
            if (!entry) return std::nullopt;
            if (opts.ignore_expiration) return entry;
            const ExpirationTime& expiration = opts.expiration_time ? *opts.expiration_time : options.expiration_time;
            if (classify(entry, expiration) != Freshness::fresh) return std::nullopt;
            return entry;
        }

        // --- backend calls: errors are counted, reported and, by policy, swallowed

        // Called inside a catch block. A value the backend cannot encode, or one
        // over a configured limit, is the caller's problem rather than the
        // store's: degrading would silently never cache it, so it is rethrown
        // whatever the policy (after being counted and reported).
        void on_backend_error(std::string_view operation) const {
            const bool callers_fault = count_and_report(operation);
            if (callers_fault || options.on_backend_error == BackendErrorPolicy::raise) {
                std::rethrow_exception(std::current_exception());
            }
        }

        // Counts and reports the current exception, never rethrows it: for a
        // failed release of the distributed lock, which may happen while the
        // stack unwinds. True when the error is the caller's fault.
        bool count_and_report(std::string_view operation) const {
            backend_errors.add();
            std::exception_ptr error = std::current_exception();
            std::string message;
            bool callers_fault = false;
            try {
                std::rethrow_exception(error);
            } catch (const EncodeError& e) {
                message = e.what();
                callers_fault = true;
            } catch (const LimitExceeded& e) {
                message = e.what();
                callers_fault = true;
            } catch (const std::exception& e) {
                message = e.what();
            } catch (...) {
                message = "unknown error";
            }
            if (options.error_hook) {
                try {
                    options.error_hook(BackendErrorEvent{operation, error, message});
                } catch (...) {
                    // A failing hook must not turn a degraded read into a crash.
                }
            }
            return callers_fault;
        }

        template <class F>
        void guard_backend(std::string_view operation, F&& f) const {
            try {
                f();
            } catch (...) {
                on_backend_error(operation);
            }
        }

        std::optional<entry_type> backend_get(const Key& key) const {
            try {
                return backend->get(key);
            } catch (...) {
                on_backend_error("get");
                return std::nullopt;
            }
        }

        std::vector<std::optional<entry_type>> backend_get_multi(const std::vector<Key>& keys) const {
            try {
                auto entries = backend->get_multi(keys);
                if (entries.size() != keys.size()) {
                    throw BackendError("backend get_multi returned " + std::to_string(entries.size()) +
                                       " results for " + std::to_string(keys.size()) + " keys");
                }
                return entries;
            } catch (...) {
                on_backend_error("get_multi");
                return std::vector<std::optional<entry_type>>(keys.size());
            }
        }

        void backend_set(const Key& key, const entry_type& entry) const {
            guard_backend("set", [&] { backend->set(key, entry); });
        }

        void backend_set_multi(const std::vector<std::pair<Key, entry_type>>& entries) const {
            if (entries.empty()) return;
            guard_backend("set_multi", [&] { backend->set_multi(entries); });
        }

        // --- locking -----------------------------------------------------------

        // The key's lock: in-process first, then the backend's distributed mutex
        // if it has one, both within the one lock_timeout.
        std::optional<Lock> acquire(const Key& key, Acquire how) {
            using Clock = std::chrono::steady_clock;
            const auto started = Clock::now();
            Contention contention = Contention::none;
            auto local = how == Acquire::try_only ? registry.try_lock(key)
                                                  : registry.lock(key, options.lock_timeout, &contention);
            if (!local) {
                if (how == Acquire::blocking) lock_timeouts.add();
                return std::nullopt;
            }
            std::unique_ptr<Mutex> distributed;
            try {
                distributed = backend->get_mutex(key);
            } catch (...) {
                on_backend_error("get_mutex");  // degrade: the in-process lock still holds
            }
            if (distributed) {
                bool locked = false;
                try {
                    locked = distributed->try_lock();
                    if (!locked && how == Acquire::blocking) {
                        contention = Contention::waited;
                        std::optional<std::chrono::milliseconds> remaining;
                        if (options.lock_timeout) {
                            const auto spent =
                                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
                            remaining = std::max(std::chrono::milliseconds(0), *options.lock_timeout - spent);
                        }
                        locked = distributed->lock(remaining);
                    }
                } catch (...) {
                    on_backend_error("lock");
                    distributed.reset();  // degrade: carry on under the in-process lock
                    locked = true;
                }
                if (!locked) {
                    if (how == Acquire::blocking) lock_timeouts.add();
                    return std::nullopt;
                }
            }
            if (contention == Contention::waited) lock_waits.add();
            if (!distributed) return Lock(std::move(*local));
            // A release that fails leaves the lock to expire (after its TTL other
            // creators wait for nothing): worth counting and reporting.
            return Lock(std::move(*local), std::move(distributed), [this] { count_and_report("unlock"); });
        }

        [[noreturn]] void throw_lock_timeout() const {
            if (options.lock_timeout) {
                throw LockTimeout("timed out after " + std::to_string(options.lock_timeout->count()) +
                                  " ms waiting for another caller to create the value");
            }
            // No region lock_timeout: only a distributed lock gives up, after its own wait limit.
            throw LockTimeout("gave up waiting for another process to create the value: the distributed lock's "
                              "wait limit passed (redis::LockOptions::max_wait)");
        }

        // --- creation ----------------------------------------------------------

        template <class Creator>
        Value create_and_store(const Key& key, Creator& creator, const GetOrCreateOptions<Value>& opts) {
            const TimePoint started = now();
            Value value = creator();
            creations.add();
            if (!opts.should_cache || opts.should_cache(value)) {
                const TimePoint finished = now();
                const Duration took = std::max(Duration::zero(), finished - started);
                backend_set(key, entry_type{value, Metadata::created_now(finished, took)});
            }
            return value;
        }

        // --- early refresh (XFetch) -----------------------------------------------

        double random_unit() const {
            if (options.random) return options.random();
            thread_local std::mt19937_64 engine{std::random_device{}()};
            // [0, 1) mirrored to (0, 1]: ln() must never see 0.
            return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(engine);
        }

        bool wants_early_refresh(const entry_type& entry, const ExpirationTime& expiration,
                                 const GetOrCreateOptions<Value>& opts) const {
            const std::optional<EarlyRefresh>& early = opts.early_refresh ? opts.early_refresh : options.early_refresh;
            if (!early || early->beta <= 0.0 || expiration.is_never()) return false;
            const Metadata& m = entry.metadata;
            if (m.expiry_owner == ExpiryOwner::store || m.creation_time <= Duration::zero()) return false;
            using Seconds = std::chrono::duration<double>;
            const double gap = Seconds(m.created_at + *expiration.duration() - now()).count();
            const double scale = Seconds(m.creation_time).count() * early->beta;
            // Beyond 50 scales the chance is below e^-50: skip the random draw.
            if (gap > 50.0 * scale) return false;
            return -scale * std::log(random_unit()) >= gap;
        }

        // The caller that wins the key's lock recomputes; anyone else (and the
        // winner too, when an async runner takes the work) returns the fresh value.
        template <class Creator>
        Value refresh_early(const std::shared_ptr<Core>& self, const Key& key, entry_type entry, Creator& creator,
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

        template <class Creator>
        Value create_path(const std::shared_ptr<Core>& self, const Key& key, std::optional<entry_type> entry,
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
            auto lock = acquire(key, Acquire::blocking);
            if (!lock) {
                if (options.on_lock_timeout == LockTimeoutPolicy::raise) throw_lock_timeout();
                Value value = creator();
                creations.add();
                return value;
            }
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

        template <class Creator>
        void hand_off(const std::shared_ptr<Core>& self, const Key& key, Lock lock, Creator& creator,
                      const GetOrCreateOptions<Value>& opts) {
            // std::function needs a copyable callable; the lock is move-only.
            auto held = std::make_shared<Lock>(std::move(lock));
            options.async_creation_runner(
                [self, held, key, creator = std::decay_t<Creator>(creator), opts]() mutable {
                    self->create_and_store(key, creator, opts);
                    held->release();
                });
        }

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

        template <class Creator>
        std::vector<Value> create_multi(const std::vector<Key>& keys, Creator& creator,
                                        const GetOrCreateOptions<Value>& opts) {
            const ExpirationTime& expiration = opts.expiration_time ? *opts.expiration_time : options.expiration_time;
            const std::vector<Key> mangled = mangle_all(keys);
            auto entries = backend_get_multi(mangled);
            std::vector<std::optional<Value>> results(keys.size());

            // Ordered by mangled key, so every caller takes the locks in the
            // same order (no deadlock between two overlapping batches).
            std::map<Key, Pending> pending;
            for (std::size_t i = 0; i < keys.size(); ++i) {
                const Freshness state = classify(entries[i], expiration);
                if (state == Freshness::fresh) {
                    hits.add();
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

            std::vector<Key> recheck;
            for (auto& [mangled_key, p] : pending) {
                if (p.state == Freshness::stale && options.stale == StalePolicy::serve_while_regenerating) {
                    p.lock = acquire(mangled_key, Acquire::try_only);
                    if (!p.lock) {
                        stale_served.add(p.positions.size());
                        for (auto pos : p.positions) results[pos] = p.stale->value;
                        p.resolved = true;
                    }
                    // Won without waiting while a value was there: regenerate
                    // without a second read, as get_or_create does.
                    continue;
                }
                misses.add();
                p.lock = acquire(mangled_key, Acquire::blocking);
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
                std::vector<Value> created = creator(std::as_const(originals));
                if (created.size() != originals.size()) {
                    throw Error("get_or_create_multi: creator returned " + std::to_string(created.size()) +
                                " values for " + std::to_string(originals.size()) + " keys");
                }
                creations.add(created.size());
                const TimePoint finished = now();
                // Each value is stamped with the batch's duration: what a single
                // refresh of it would cost is unknown, the batch is an upper bound.
                const Metadata metadata =
                    Metadata::created_now(finished, std::max(Duration::zero(), finished - started));
                std::vector<std::pair<Key, entry_type>> to_store;
                for (std::size_t i = 0; i < to_create.size(); ++i) {
                    Pending& p = *to_create[i].second;
                    for (auto pos : p.positions) results[pos] = created[i];
                    // A key whose lock timed out is returned but not stored.
                    if (p.lock && (!opts.should_cache || opts.should_cache(created[i]))) {
                        to_store.emplace_back(to_create[i].first, entry_type{std::move(created[i]), metadata});
                    }
                }
                backend_set_multi(to_store);
            }

            std::vector<Value> out;
            out.reserve(results.size());
            for (auto& r : results) out.push_back(std::move(*r));
            return out;
        }
    };

    Core& core() const {
        if (!core_) throw ConfigurationError("region is not configured: call configure() first");
        return *core_;
    }

    std::shared_ptr<Core> core_;
};

}  // namespace dogpile
