#pragma once
/// \file
/// RedisInvalidationStrategy: a region's invalidation times kept in Redis
/// (invalidation.hpp), so that invalidate() in one process takes effect in
/// every process whose region uses the same key, within refresh_interval plus
/// one read.
///
/// The times are one hash, by default `dogpile:invalidation:<region_name>`,
/// with fields `hard` and `soft`: nanoseconds since the Unix epoch of the
/// invalidating process's wall clock, in decimal. invalidate() writes with a
/// script that keeps the later time (EVALSHA, one round trip); a region reads
/// them with HMGET at most once per refresh_interval, one thread at a time,
/// the others using the last times read. A read that fails keeps those times,
/// is counted in the region's backend_errors and reported to its error_hook as
/// "invalidation_load"; a get never throws for it. A failed write throws from
/// invalidate() (after taking effect in this process).
///
/// Clocks: entries are compared by their created-at stamps (each writer's
/// wall clock) with the invalidating process's clock. A writer whose clock
/// is behind by d keeps stamping values as older than an invalidation for d
/// after it, so it regenerates them (hard) or sees them stale (soft) for up to
/// d; a writer ahead by d has values created up to d before the invalidation
/// survive it. Keep the clocks synchronised (NTP) well below the expiry times
/// that matter; docs/architecture.md, "Invalidation across processes".
///
/// Thread-safe: the client's pool serves concurrent calls; one strategy may
/// serve several regions (they are then invalidated together).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "../../details/linkage.hpp"
#include "../../invalidation.hpp"
#include "../../redis/client.hpp"

namespace dogpile {

/// Where a RedisInvalidationStrategy keeps a region's invalidation times, and how often regions
/// read them.
struct RedisInvalidationOptions {
    std::shared_ptr<redis::Client> client{};  ///< the connection to Redis; required
    /// The name the processes' regions share (dogpile.cache's region name).
    std::string region_name{};
    /// The hash holding the times; nullopt: "dogpile:invalidation:" + region_name.
    std::optional<std::string> key{};
    /// A region reads the times again at most this often: the bound on how
    /// long another process's invalidate() takes to reach it (plus one read).
    std::chrono::milliseconds refresh_interval{1000};

    /// The hash's name.
    std::string redis_key() const;

    /// Throws ConfigurationError for options that cannot work.
    void validate() const;
};

namespace redis {

/// A region's invalidation times kept in one Redis hash, so that invalidate() in one process
/// reaches every process sharing the key within refresh_interval plus one read
/// (invalidation_strategy.hpp has the clock caveats). Thread-safe.
class RedisInvalidationStrategy final : public RegionInvalidationStrategy {
public:
    /// Throws ConfigurationError for invalid options (see validate()).
    explicit RedisInvalidationStrategy(RedisInvalidationOptions options);

    /// The Redis hash holding the times.
    const std::string& key() const noexcept { return key_; }

private:
    DOGPILE_INLINE void record(Invalidation kind, TimePoint at) override;
    DOGPILE_INLINE InvalidationTimes load() override;

    std::shared_ptr<Client> client_;
    std::string key_;
};

}  // namespace redis
}  // namespace dogpile

#if DOGPILE_INCLUDE_DEFINITIONS
#include "invalidation_strategy-inl.hpp"
#endif
