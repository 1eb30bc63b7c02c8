#pragma once
// The knobs of a Region, and of a single call.

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cached_value.hpp"
#include "clock.hpp"
#include "errors.hpp"
#include "expiration.hpp"

namespace dogpile {

class RegionInvalidationStrategy;  // invalidation.hpp

/// dogpile.cache's invalidate(hard=True/False).
enum class Invalidation {
    hard,  ///< everything created before now is a miss
    soft,  ///< everything created before now is stale: served while one caller regenerates
};

/// What a caller gets when the value is expired and another caller is recreating it.
enum class StalePolicy {
    /// dogpile.cache's behaviour: an expired value is returned while one caller recreates it.
    serve_while_regenerating,
    never_serve,  ///< expired values are never returned: callers wait for the new one
};

/// What a caller does when RegionOptions::lock_timeout passes while another caller creates.
enum class LockTimeoutPolicy {
    raise,         ///< throw LockTimeout
    create_value,  ///< call the creator without the lock and return its value without storing it
};

/// What a region does when its backend throws.
enum class BackendErrorPolicy {
    degrade,  ///< treat a failed read as a miss, a failed write as done; count and report it
    raise,    ///< count, report, then rethrow to the caller
};

/// Whether configuring something already configured (or registering a taken name) replaces it.
enum class ReplaceExisting {
    no,   ///< refuse with ConfigurationError
    yes,  ///< replace what was there
};

/// Probabilistic early recomputation (XFetch; Vattani, Chierichetti and
/// Lowenstein, "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015).
/// A caller that reads a still-fresh value recomputes it early when
/// `now - creation_time * beta * ln(random()) >= created_at + expiration_time`,
/// with random() uniform in (0, 1] and creation_time how long the last creator
/// took. Slow values and values close to expiry refresh sooner; only the caller
/// that wins the key's lock refreshes, everyone else keeps getting the fresh
/// value without waiting.
struct EarlyRefresh {
    double beta = 1.0;  ///< > 1 refreshes earlier; 0 never refreshes early
};

/// Runs a regeneration somewhere else (a thread pool, an executor). The task
/// owns the key's lock and releases it when it finishes or is destroyed, so a
/// runner that drops the task never leaves the key locked.
using AsyncCreationRunner = std::function<void(std::function<void()> regenerate)>;

/// Turns a key into the one the backend sees (see key_mangler.hpp).
using KeyMangler = std::function<std::string(const std::string&)>;

/// The same options for every key and value type: Region<Value, Key> takes a
/// plain RegionOptions.
struct RegionOptions {
    /// How old a value may be before get_or_create() recreates it; never by default.
    ExpirationTime expiration_time = ExpirationTime::never();
    /// Applied to every key before it reaches the backend. String keys only: a
    /// region with another key type refuses a mangler (ConfigurationError).
    KeyMangler key_mangler{};
    /// When set, an expired value is returned at once and its regeneration handed to this runner;
    /// empty: the caller that wins the lock regenerates inline.
    AsyncCreationRunner async_creation_runner{};
    /// How long a caller waits for another caller's creation. nullopt: no limit.
    std::optional<std::chrono::milliseconds> lock_timeout{};
    /// What a caller does when lock_timeout passes.
    LockTimeoutPolicy on_lock_timeout = LockTimeoutPolicy::raise;
    /// Whether an expired value is served while another caller recreates it.
    StalePolicy stale = StalePolicy::serve_while_regenerating;
    /// What a backend error does to the call: degrade (a miss, or a write skipped) or raise.
    BackendErrorPolicy on_backend_error = BackendErrorPolicy::degrade;
    /// Called (on the calling thread) for every backend error; must not throw.
    std::function<void(const BackendErrorEvent&)> error_hook{};
    /// Off by default. Early refreshes go to async_creation_runner when one is set.
    std::optional<EarlyRefresh> early_refresh{};
    /// Tests inject their own wall clock: when set, it is used for everything
    /// (created-at stamps, expiry checks, invalidation, creator timing) and
    /// clock_policy is ignored.
    std::function<TimePoint()> clock{};
    /// Uniform in (0, 1], for early refresh; tests inject their own.
    std::function<double()> random{};
    /// The clock that expiry checks on reads (and early refresh) compare
    /// created-at stamps with (clock.hpp). Stamps, invalidation and creator
    /// timing always read the precise clock. With `coarse`, an entry may be
    /// served up to one tick (coarse_clock_granularity()) after it expired.
    // Last, so positional initialisation of the fields above still works.
    ClockPolicy clock_policy = default_clock_policy;
    /// Where invalidate() records its times and reads check them
    /// (invalidation.hpp); null: this region's own in-process times, as in
    /// dogpile.cache. Shared strategies carry invalidate() to other processes.
    std::shared_ptr<RegionInvalidationStrategy> invalidation{};
    /// How long one region call (get, get_or_create, get_or_create_multi, set,
    /// erase, ...) may wait on the backend in total, across all its round trips
    /// (docs/architecture.md, "Deadlines"): a frozen Redis costs one budget per
    /// call, not one timeout per key or per step. When it is spent, the Redis
    /// client fails the call's remaining round trips at once (TimeoutError),
    /// which the region handles like any backend error (on_backend_error). The
    /// creator's own time is not charged, and cache calls a creator makes get a
    /// budget of their own. nullopt: the command_timeout of the connection the
    /// call first uses. Must be positive. Backends without a transport budget
    /// (memory) ignore it.
    std::optional<std::chrono::milliseconds> backend_time_budget{};
};

/// Per-call options of Region::get(), get_value_metadata() and get_multi().
struct GetOptions {
    /// Overrides the region's expiration_time for this call.
    std::optional<ExpirationTime> expiration_time{};
    /// Return whatever is stored, expired or invalidated (dogpile.cache's ignore_expiration).
    bool ignore_expiration = false;
};

/// Per-call options of Region::get_or_create() and get_or_create_multi().
template <class Value>
struct GetOrCreateOptions {
    /// Overrides the region's expiration_time for this call.
    std::optional<ExpirationTime> expiration_time{};
    /// Values for which this returns false are returned but not stored.
    std::function<bool(const Value&)> should_cache{};
    /// Overrides the region's early refresh for this call (EarlyRefresh{0} turns it off).
    std::optional<EarlyRefresh> early_refresh{};
};

/// What Region::stats() returns: counters since construction or reset_stats().
struct RegionStats {
    std::uint64_t hits = 0;             ///< fresh values returned without locking
    std::uint64_t misses = 0;           ///< keys that had no usable value
    std::uint64_t stale_served = 0;     ///< expired values returned while another caller regenerates
    std::uint64_t creations = 0;        ///< values produced by a creator
    std::uint64_t lock_waits = 0;       ///< lock acquisitions that had to wait for another creator
    std::uint64_t lock_timeouts = 0;    ///< waits that gave up after lock_timeout
    std::uint64_t backend_errors = 0;   ///< exceptions thrown by the backend
    std::uint64_t early_refreshes = 0;  ///< fresh values recomputed early (XFetch)
};

}  // namespace dogpile
