#pragma once
// RegionState: what a Region's copies share (backend, options, lock registry,
// invalidation stamps, statistics) and the checks every path makes: key
// mangling, freshness, and backend calls whose errors are counted, reported
// and, by policy, swallowed. The paths themselves are in region_creation.hpp
// and region_multi.hpp.

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../cached_value.hpp"
#include "../clock.hpp"
#include "../errors.hpp"
#include "../expiration.hpp"
#include "../invalidation.hpp"
#include "../lock.hpp"
#include "../region_options.hpp"
#include "call_budget.hpp"
#include "striped_counter.hpp"

namespace dogpile::details {

enum class Freshness { fresh, stale, missing };

template <class Value, class Key, class Hash>
struct RegionState {
    using backend_type = Backend<Value, Key>;
    using entry_type = CachedValue<Value>;
    using options_type = RegionOptions;
    static constexpr bool mangles_keys = std::is_same_v<Key, std::string>;
    using Registry = MutexRegistry<Key, Hash>;

    RegionState(std::shared_ptr<backend_type> b, options_type o)
        : backend(std::move(b)),
          options(std::move(o)),
          invalidation(options.invalidation ? options.invalidation : std::make_shared<InProcessInvalidation>()) {}

    std::shared_ptr<backend_type> backend;
    options_type options;
    mutable Registry registry;
    // Never null: options.invalidation, or this region's own in-process times.
    const std::shared_ptr<RegionInvalidationStrategy> invalidation;
    mutable StripedCounter hits, misses, stale_served, creations, lock_waits, lock_timeouts, backend_errors,
        early_refreshes;

    // One backend time budget for a whole public region call; a call made
    // inside another (memoize, a creator's own cache calls) is handled by
    // CallBudget itself (docs/architecture.md, "Deadlines").
    CallBudget::Scope budget_scope() const {
        if (!options.backend_time_budget) return CallBudget::Scope();
        return CallBudget::Scope(std::chrono::duration_cast<CallBudget::duration>(*options.backend_time_budget));
    }

    // User code called during a region call (a creator, should_cache): its
    // time, and any cache calls it makes, are not charged to the caller's budget.
    template <class F>
    static decltype(auto) unbudgeted(F&& f) {
        CallBudget::Pause pause;
        return f();
    }

    // For what is written and compared exactly: created-at stamps,
    // invalidation stamps, how long a creator took.
    TimePoint now() const { return dogpile::now(options.clock, ClockPolicy::precise); }

    // For the checks on reads, whose only cost is this read: the region's
    // clock policy (an entry may live up to one coarse tick longer).
    TimePoint expiry_now() const { return dogpile::now(options.clock, options.clock_policy); }

    // Calls f with the mangled key, copying the key only when a mangler is set.
    template <class F>
    decltype(auto) with_mangled(const Key& key, F&& f) const {
        if constexpr (mangles_keys) {
            if (options.key_mangler) {
                const Key mangled = options.key_mangler(key);
                return f(mangled);
            }
        }
        return f(key);
    }

    Key mangle(const Key& key) const {
        if constexpr (mangles_keys) {
            if (options.key_mangler) return options.key_mangler(key);
        }
        return key;
    }

    // The keys as the backend sees them: `keys` itself without a mangler (a
    // batch of 100 hash keys would otherwise cost 200 string copies), else
    // the mangled keys, kept in `storage`.
    const std::vector<Key>& mangle_all(const std::vector<Key>& keys, std::vector<Key>& storage) const {
        if constexpr (mangles_keys) {
            if (options.key_mangler) {
                storage.clear();
                storage.reserve(keys.size());
                for (const auto& key : keys) storage.push_back(options.key_mangler(key));
                return storage;
            }
        }
        return keys;
    }

    // Reads the clock only when an expiration time applies: the hit path of
    // a never-expiring region does not pay for it.
    Freshness classify(const std::optional<entry_type>& entry, const ExpirationTime& expiration) const {
        if (!entry) return Freshness::missing;
        const Metadata& m = entry->metadata;
        if (m.version != Metadata::current_version) return Freshness::missing;
        if (m.expiry_owner == ExpiryOwner::store) return Freshness::fresh;
        // A shared strategy's load errors never reach the caller: the last
        // known times stay in force (invalidation.hpp).
        invalidation->refresh_if_due([this] { count_and_report("invalidation_load"); });
        const auto created = m.created_at.time_since_epoch().count();
        if (invalidation->is_hard_invalidated(created)) return Freshness::missing;
        // Stale whatever the expiration time, as dogpile.cache's get_or_create
        // with a per-call expiration_time: regenerated by one caller while the
        // others get the stale value; get() returns nothing (readable()).
        if (invalidation->is_soft_invalidated(created)) return Freshness::stale;
        if (!expiration.is_never() && expiration.expired(m.created_at, expiry_now())) return Freshness::stale;
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
                CallBudget::Pause hook_time_is_not_the_callers;
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
                throw BackendError("backend get_multi returned " + std::to_string(entries.size()) + " results for " +
                                   std::to_string(keys.size()) + " keys");
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

    // The entry is the region's to give away: a backend may move from it.
    void backend_set(const Key& key, entry_type&& entry) const {
        guard_backend("set", [&] { backend->set(key, std::move(entry)); });
    }
};

}  // namespace dogpile::details
