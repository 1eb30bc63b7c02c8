#pragma once
// CachedValue<V>: a value plus the dogpile metadata that decides its freshness.

#include <chrono>
#include <cstdint>

namespace dogpile {

// Wall-clock time: created-at stamps are compared across processes.
using WallClock = std::chrono::system_clock;
using TimePoint = WallClock::time_point;
using Duration = WallClock::duration;

// Who decides when an entry expires. Backends that keep expiry in the store
// (the Redis hash store's raw payload carries no timestamp) report `store`:
// the region then treats the value as fresh and lets the store's TTL expire it.
enum class ExpiryOwner : std::uint8_t { region, store };

struct Metadata {
    /// Bumped when the meaning of the metadata changes; a region treats values
    /// of another version as misses (dogpile.cache's "v").
    static constexpr std::uint32_t current_version = 1;

    TimePoint created_at{};
    std::uint32_t version = current_version;
    ExpiryOwner expiry_owner = ExpiryOwner::region;
    /// How long the creator took: early refresh (XFetch) starts sooner for
    /// values that are slow to make. Zero when unknown.
    Duration creation_time{};

    static Metadata created_now(TimePoint now, Duration creation_time = {}) {
        return Metadata{now, current_version, ExpiryOwner::region, creation_time};
    }
    static Metadata store_managed() { return Metadata{TimePoint{}, current_version, ExpiryOwner::store, {}}; }
};

template <class V>
struct CachedValue {
    V value;
    Metadata metadata;

    Duration age(TimePoint now) const { return now - metadata.created_at; }
};

}  // namespace dogpile
