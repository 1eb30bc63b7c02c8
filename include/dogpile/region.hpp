#pragma once
// Region<Value, Key>: the front object. get_or_create() returns a fresh cached
// value, or makes exactly one caller per key run the creator while the others
// wait (no value yet) or get the stale value (an expired one): the dogpile lock.
//
// Thread safety: every member function may be called from any number of
// threads at once, except configure(), which must happen before the region is
// shared. Copies of a Region share one configuration, one lock registry and one
// set of statistics; async regeneration tasks keep that shared state alive.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "cached_value.hpp"
#include "details/region_multi.hpp"
#include "errors.hpp"
#include "expiration.hpp"
#include "invalidation.hpp"
#include "region_options.hpp"

namespace dogpile {

/// The front object: get_or_create() returns a fresh cached value, or makes exactly one caller per
/// key run the creator while the others wait (no value yet) or get the stale value (an expired
/// one). Every member may be called from any number of threads at once, except configure() and
/// wrap(), which must happen before the region is shared. Copies share one configuration, lock
/// registry and set of statistics. A member other than configure() and is_configured() throws
/// ConfigurationError on an unconfigured region.
template <class Value, class Key = std::string, class Hash = std::hash<Key>>
class Region {
public:
    using value_type = Value;                  ///< the cached value type
    using key_type = Key;                      ///< the key type
    using backend_type = Backend<Value, Key>;  ///< the backend interface
    using entry_type = CachedValue<Value>;     ///< a value with its metadata
    using options_type = RegionOptions;        ///< the region's options

    // An unconfigured region; configure() it before use.
    Region() = default;

    /// A configured region; throws as configure() does.
    explicit Region(std::shared_ptr<backend_type> backend, options_type options = {}) {
        configure(std::move(backend), std::move(options));
    }

    /// Sets the backend and options. Throws ConfigurationError when already configured (unless
    /// `replace` is ReplaceExisting::yes), for a null backend, a negative lock_timeout, a non-
    /// positive backend_time_budget, or a key_mangler on non-string keys.
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
        if (options.backend_time_budget && options.backend_time_budget->count() <= 0) {
            throw ConfigurationError("backend_time_budget must be positive (nullopt: the Redis command_timeout)");
        }
        if (options.key_mangler && !std::is_same_v<Key, std::string>) {
            throw ConfigurationError(
                "key_mangler applies to std::string keys only; this region's keys are another type");
        }
        core_ = std::make_shared<Core>(std::move(backend), std::move(options));
    }

    /// Whether configure() has run.
    bool is_configured() const noexcept { return core_ != nullptr; }

    /// The outermost backend (a proxy, when the region wraps one).
    backend_type& backend() const { return *core().backend; }
    /// The backend behind any proxies (backends/proxy.hpp); backend() is the outermost.
    backend_type& actual_backend() const { return core().backend->actual_backend(); }

    /// dogpile.cache's region.wrap(): `proxy` (a ProxyBackend) now wraps the
    /// current backend and becomes the outermost. Like configure(), before the
    /// region is shared.
    template <class Proxy>
    void wrap(std::shared_ptr<Proxy> proxy) {
        static_assert(std::is_base_of_v<backend_type, Proxy>, "wrap() takes a ProxyBackend<Value, Key>");
        Core& c = core();
        if (!proxy) throw ConfigurationError("region wrap: the proxy must not be null");
        proxy->wrap(c.backend);
        c.backend = std::move(proxy);
    }

    /// The options given to configure().
    const options_type& options() const { return core().options; }

    // --- reads -------------------------------------------------------------

    /// The value when present and neither expired nor invalidated.
    std::optional<Value> get(const Key& key, const GetOptions& opts = {}) const {
        auto entry = get_value_metadata(key, opts);
        if (!entry) return std::nullopt;
        return std::move(entry->value);
    }

    /// The value with its metadata (created_at, version; age via entry.age(now)).
    std::optional<entry_type> get_value_metadata(const Key& key, const GetOptions& opts = {}) const {
        const Core& c = core();
        const auto budget = c.budget_scope();  // one backend time budget per call
        return c.with_mangled(key, [&](const Key& k) { return c.readable(c.backend_get(k), opts); });
    }

    /// get() for many keys in one backend call; results in the order of `keys`.
    std::vector<std::optional<Value>> get_multi(const std::vector<Key>& keys, const GetOptions& opts = {}) const {
        const Core& c = core();
        const auto budget = c.budget_scope();
        std::vector<Key> storage;
        auto entries = c.backend_get_multi(c.mangle_all(keys, storage));
        std::vector<std::optional<Value>> out;
        out.reserve(keys.size());
        for (auto& entry : entries) {
            auto readable = c.readable(std::move(entry), opts);
            out.push_back(readable ? std::optional<Value>(std::move(readable->value)) : std::nullopt);
        }
        return out;
    }

    // --- get_or_create -----------------------------------------------------

    /// `creator` is any callable returning Value. It is copied only when the
    /// async creation runner takes over a regeneration.
    template <class Creator>
    Value get_or_create(const Key& key, Creator&& creator, const GetOrCreateOptions<Value>& opts = {}) {
        Core& c = core();
        const auto budget = c.budget_scope();
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

    /// `creator` receives the keys that need a value (sorted, deduplicated, as
    /// passed in, i.e. unmangled) and returns their values in that order.
    /// Results are in the order of `keys`. Keys the key mangler maps to one
    /// string are one key: the creator sees the smallest of them, and its value
    /// is returned for each. A creator that may have no value for some keys
    /// returns std::vector<std::optional<Value>> (same length; nullopt: not
    /// stored); the results are then std::vector<std::optional<Value>> too.
    template <class Creator>
    auto get_or_create_multi(const std::vector<Key>& keys, Creator&& creator,
                             const GetOrCreateOptions<Value>& opts = {}) {
        Core& c = core();
        const auto budget = c.budget_scope();
        return c.create_multi(keys, creator, opts);
    }

    // --- writes ------------------------------------------------------------

    /// Stores a copy of `value`, created now.
    void set(const Key& key, const Value& value) { set(key, Value(value)); }

    /// The value is moved into the backend (Backend's rvalue set).
    void set(const Key& key, Value&& value) {
        Core& c = core();
        const auto budget = c.budget_scope();
        c.with_mangled(key, [&](const Key& k) {
            c.backend_set(k, entry_type{std::move(value), Metadata::created_now(c.now())});
        });
    }

    /// Stores every value in one backend call, all created now.
    void set_multi(const std::vector<std::pair<Key, Value>>& items) {
        Core& c = core();
        const auto budget = c.budget_scope();
        const Metadata metadata = Metadata::created_now(c.now());
        std::vector<std::pair<Key, entry_type>> entries;
        entries.reserve(items.size());
        for (const auto& [key, value] : items) entries.emplace_back(c.mangle(key), entry_type{value, metadata});
        c.backend_set_multi(entries);
    }

    /// dogpile.cache's delete().
    void erase(const Key& key) {
        Core& c = core();
        const auto budget = c.budget_scope();
        c.with_mangled(key, [&](const Key& k) { c.guard_backend("erase", [&] { c.backend->erase(k); }); });
    }

    /// erase() for many keys in one backend call.
    void erase_multi(const std::vector<Key>& keys) {
        Core& c = core();
        const auto budget = c.budget_scope();
        std::vector<Key> storage;
        const std::vector<Key>& mangled = c.mangle_all(keys, storage);
        c.guard_backend("erase_multi", [&] { c.backend->erase_multi(mangled); });
    }

    /// Marks everything created before now as a miss (hard) or as stale (soft):
    /// get() returns nothing for either; get_or_create() regenerates, for soft
    /// by one caller while the others get the stale value, with or without an
    /// expiration time. This region and its copies only, as in dogpile.cache,
    /// unless options.invalidation is a shared strategy (invalidation.hpp):
    /// then every region using its store, within its refresh interval; if the
    /// store fails, this throws (counted and reported) after taking effect
    /// here. Values whose expiry the store owns are not affected: erase them.
    void invalidate(Invalidation kind = Invalidation::hard) {
        Core& c = core();
        const auto budget = c.budget_scope();
        try {
            c.invalidation->invalidate(kind, c.now());
        } catch (...) {
            c.count_and_report("invalidate");
            throw;
        }
    }

    /// dogpile.cache's region_invalidator: the times this region checks.
    RegionInvalidationStrategy& invalidation() const { return *core().invalidation; }

    // --- introspection -----------------------------------------------------

    /// The counters since construction or reset_stats(); copies of the region share them.
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

    /// Zeroes the counters (calls running meanwhile may land on either side).
    void reset_stats() {
        Core& c = core();
        for (auto* counter : {&c.hits, &c.misses, &c.stale_served, &c.creations, &c.lock_waits, &c.lock_timeouts,
                              &c.backend_errors, &c.early_refreshes}) {
            counter->reset();
        }
    }

    /// Keys whose in-process lock is currently held or awaited.
    std::size_t lock_registry_size() const { return core().registry.size(); }

    /// Callers of this region blocked on `key`'s in-process lock while another
    /// creates its value: what a stampede looks like from outside.
    std::size_t lock_waiters(const Key& key) const {
        const Core& c = core();
        return c.with_mangled(key, [&](const Key& k) { return c.registry.waiters(k); });
    }

    /// Whether somebody is creating `key`'s value right now: this process's
    /// lock is held, or the backend's distributed mutex says it is (where its
    /// Mutex::locked() can tell). Stale as soon as it is returned.
    bool key_is_locked(const Key& key) const {
        const Core& c = core();
        const auto budget = c.budget_scope();
        return c.with_mangled(key, [&](const Key& k) { return c.is_locked(k); });
    }

private:
    using Core = details::RegionCore<Value, Key, Hash>;
    using Freshness = details::Freshness;

    Core& core() const {
        if (!core_) throw ConfigurationError("region is not configured: call configure() first");
        return *core_;
    }

    std::shared_ptr<Core> core_;
};

}  // namespace dogpile
