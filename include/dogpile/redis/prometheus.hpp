#pragma once
/// @file
/// The Redis client's statistics in the Prometheus text format
/// (docs/metrics.md lists the families): round trips, the circuit breakers
/// (state and transitions), the pools' connections, and what the client's
/// kind adds (ClusterStats, SentinelStats); the invalidation listener's
/// TrackingStats. Labelled `client="<name>"` (`listener="<name>"`).
///
/// Append them to the PrometheusText that holds the regions
/// (metrics/prometheus.hpp) to serve one body. Part of the client layer
/// (docs/architecture.md, "Layers"): bytes and commands, no codec, no store.

#include <array>
#include <string_view>

#include "../details/linkage.hpp"
#include "../metrics/prometheus_text.hpp"
#include "circuit_breaker.hpp"
#include "client.hpp"
#include "cluster_options.hpp"
#include "invalidation_listener.hpp"
#include "sentinel_options.hpp"
#include "tracking_options.hpp"

namespace dogpile::metrics {

/// ClusterStats' counters and their metric families, in output order.
inline constexpr std::array<CounterField<redis::ClusterStats>, 7> cluster_counters = {{
    {&redis::ClusterStats::moved, "dogpile_redis_cluster_moved_total", "MOVED redirections followed."},
    {&redis::ClusterStats::ask, "dogpile_redis_cluster_ask_total", "ASK redirections followed."},
    {&redis::ClusterStats::tryagain, "dogpile_redis_cluster_tryagain_total", "TRYAGAIN replies retried."},
    {&redis::ClusterStats::clusterdown, "dogpile_redis_cluster_clusterdown_total", "CLUSTERDOWN replies retried."},
    {&redis::ClusterStats::refreshes, "dogpile_redis_cluster_refreshes_total", "Slot maps loaded."},
    {&redis::ClusterStats::connect_failures, "dogpile_redis_cluster_connect_failures_total",
     "Connections a cluster node refused or timed out."},
    {&redis::ClusterStats::replica_reads, "dogpile_redis_cluster_replica_reads_total",
     "Commands answered by a replica."},
}};

/// SentinelStats' counters and their metric families, in output order.
inline constexpr std::array<CounterField<redis::SentinelStats>, 5> sentinel_counters = {{
    {&redis::SentinelStats::discoveries, "dogpile_redis_sentinel_discoveries_total", "Successful master look-ups."},
    {&redis::SentinelStats::master_changes, "dogpile_redis_sentinel_master_changes_total",
     "Failovers followed (a different master found)."},
    {&redis::SentinelStats::role_mismatches, "dogpile_redis_sentinel_role_mismatches_total",
     "Servers named as master whose ROLE said otherwise."},
    {&redis::SentinelStats::retried, "dogpile_redis_sentinel_retried_total",
     "Commands re-sent to a new master (not sent, or READONLY)."},
    {&redis::SentinelStats::switch_notices, "dogpile_redis_sentinel_switch_notices_total",
     "+switch-master messages received for this master."},
}};

/// TrackingStats' counters and their metric families, in output order.
inline constexpr std::array<CounterField<redis::TrackingStats>, 9> tracking_counters = {{
    {&redis::TrackingStats::sessions, "dogpile_redis_tracking_sessions_total",
     "Invalidation subscriptions established, the first included."},
    {&redis::TrackingStats::connection_failures, "dogpile_redis_tracking_connection_failures_total",
     "Listener connects that failed and sessions lost."},
    {&redis::TrackingStats::invalidation_messages, "dogpile_redis_tracking_invalidation_messages_total",
     "Invalidation messages received."},
    {&redis::TrackingStats::invalidated_keys, "dogpile_redis_tracking_invalidated_keys_total",
     "Keys named by invalidation messages."},
    {&redis::TrackingStats::flush_messages, "dogpile_redis_tracking_flush_messages_total",
     "FLUSHALL and FLUSHDB seen."},
    {&redis::TrackingStats::flushes, "dogpile_redis_tracking_flushes_total",
     "Flushes delivered to sinks, every reason."},
    {&redis::TrackingStats::tracked_connections, "dogpile_redis_tracking_tracked_connections_total",
     "CLIENT TRACKING runs on data connections."},
    {&redis::TrackingStats::tracking_failures, "dogpile_redis_tracking_failures_total",
     "CLIENT TRACKING runs that Redis refused."},
    {&redis::TrackingStats::data_connections_lost, "dogpile_redis_tracking_data_connections_lost_total",
     "Tracked data connections dropped."},
}};

/// Appends the breaker families (`dogpile_redis_breaker_state` with one
/// series per state, 1 for the current one; opened, closed and rejected
/// counters) for `stats`, labelled `client="<client>"`.
void append_breaker(PrometheusText& out, std::string_view client, const redis::BreakerStats& stats);

/// Appends everything `client` counts: round trips, its breakers
/// (append_breaker()), its pools' connections (per `node`), and for a
/// ClusterClient or SentinelClient their own counters.
void append_redis_client(PrometheusText& out, std::string_view client_name, const redis::Client& client);

/// Appends an invalidation listener's TrackingStats and whether it tracks now
/// (`dogpile_redis_tracking_active`), labelled `listener="<name>"`.
void append_tracking(PrometheusText& out, std::string_view listener_name, const redis::InvalidationListener& listener);

}  // namespace dogpile::metrics

#if DOGPILE_INCLUDE_DEFINITIONS
#include "prometheus-inl.hpp"
#endif
