#pragma once
/// @file
/// The Redis stores' and the near cache's statistics in the Prometheus text
/// format (docs/metrics.md lists the families), labelled `backend="<name>"`:
/// RedisBackendStats (decode errors, rejected keys, error replies) and
/// NearCacheStats. The breaker redis::RedisBackendStats carries is the client's:
/// export it once, with the client (redis/prometheus.hpp).
///
/// The functions are one call each into PrometheusText, so they stay in this
/// header (docs/architecture.md, "Header-only or compiled": trivial code).

#include <array>
#include <string_view>

#include "../../metrics/prometheus_text.hpp"
#include "../near_cache.hpp"
#include "backend_options.hpp"

namespace dogpile::metrics {

/// RedisBackendStats' counters and their metric families, in output order.
inline constexpr std::array<CounterField<redis::RedisBackendStats>, 3> redis_store_counters = {{
    {&redis::RedisBackendStats::decode_errors, "dogpile_redis_store_decode_errors_total",
     "Stored values that could not be decoded; each was a miss."},
    {&redis::RedisBackendStats::rejected_keys, "dogpile_redis_store_rejected_keys_total",
     "Keys get_multi refused for exceeding limits.max_key_bytes."},
    {&redis::RedisBackendStats::reply_errors, "dogpile_redis_store_reply_errors_total",
     "Error replies absorbed by get_multi."},
}};

/// NearCacheStats' counters and their metric families, in output order.
inline constexpr std::array<CounterField<NearCacheStats>, 11> near_cache_counters = {{
    {&NearCacheStats::hits, "dogpile_near_cache_hits_total", "Reads served from memory."},
    {&NearCacheStats::misses, "dogpile_near_cache_misses_total", "Reads that asked the remote backend while tracking."},
    {&NearCacheStats::bypassed, "dogpile_near_cache_bypassed_total",
     "Reads that asked the remote backend because the listener was not tracking."},
    {&NearCacheStats::uncovered, "dogpile_near_cache_uncovered_total",
     "Keys outside the listener's broadcast prefixes, never kept."},
    {&NearCacheStats::stored, "dogpile_near_cache_stored_total", "Remote results kept."},
    {&NearCacheStats::raced, "dogpile_near_cache_raced_total",
     "Remote results not kept: invalidated while the read was in flight."},
    {&NearCacheStats::untracked, "dogpile_near_cache_untracked_total",
     "Remote results not kept: read on connections not tracked in the current session."},
    {&NearCacheStats::invalidated, "dogpile_near_cache_invalidated_total",
     "Entries dropped by invalidations and local writes."},
    {&NearCacheStats::flushes, "dogpile_near_cache_flushes_total", "Times the whole near tier was dropped."},
    {&NearCacheStats::evictions, "dogpile_near_cache_evictions_total", "Entries dropped to respect the capacity."},
    {&NearCacheStats::expirations, "dogpile_near_cache_expirations_total", "Entries dropped for being older than ttl."},
}};

/// Appends a Redis store's counters (RedisHashBackend and the other Redis backends' stats()).
inline void append_redis_store(PrometheusText& out, std::string_view backend, const redis::RedisBackendStats& stats) {
    out.counters(redis_store_counters, {{"backend", backend}}, stats);
}

/// Appends a NearCacheBackend's counters.
inline void append_near_cache(PrometheusText& out, std::string_view backend, const NearCacheStats& stats) {
    out.counters(near_cache_counters, {{"backend", backend}}, stats);
}

}  // namespace dogpile::metrics
