#pragma once
// CachedValue<V>: a value plus the dogpile metadata that decides its freshness.

#include <chrono>
#include <cstdint>

namespace dogpile {

/// Wall-clock time: created-at stamps are compared across processes.
using WallClock = std::chrono::system_clock;
using TimePoint = WallClock::time_point;  ///< A wall-clock instant (created-at stamps).
using Duration = WallClock::duration;     ///< A span of wall-clock time.

/// Who decides when an entry expires. Backends that keep expiry in the store
/// (the Redis hash store's raw payload carries no timestamp) report `store`:
/// the region then treats the value as fresh and lets the store's TTL expire it.
enum class ExpiryOwner : std::uint8_t {
    region,  ///< the region compares created_at with its expiration_time
    store,   ///< the store's own TTL removes the entry; the region treats it as fresh
};

/// What a region stores beside each value to decide its freshness.
struct Metadata {
    /// Bumped when the meaning of the metadata changes; a region treats values
    /// of another version as misses (dogpile.cache's "v").
    static constexpr std::uint32_t current_version = 1;

    TimePoint created_at{};                          ///< when the value was created (wall clock)
    std::uint32_t version = current_version;         ///< the metadata format; see current_version
    ExpiryOwner expiry_owner = ExpiryOwner::region;  ///< who expires the value
    /// How long the creator took: early refresh (XFetch) starts sooner for
    /// values that are slow to make. Zero when unknown.
    Duration creation_time{};

    /// The metadata of a value created at `now` that took `creation_time` to make.
    static Metadata created_now(TimePoint now, Duration creation_time = {}) {
        return Metadata{now, current_version, ExpiryOwner::region, creation_time};
    }
    /// The metadata of a value whose expiry the store owns (no created-at stamp).
    static Metadata store_managed() { return Metadata{TimePoint{}, current_version, ExpiryOwner::store, {}}; }
};

/// A value plus the metadata that decides its freshness: what a backend stores.
template <class V>
struct CachedValue {
    V value;            ///< the cached value
    Metadata metadata;  ///< when and how it was created

    /// How long ago the value was created, seen from `now`.
    Duration age(TimePoint now) const { return now - metadata.created_at; }
};

}  // namespace dogpile
