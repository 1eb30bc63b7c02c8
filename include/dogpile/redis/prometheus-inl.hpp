#pragma once
// Definitions of prometheus.hpp (details/linkage.hpp: inline when header-only).

#include <string>

#include "cluster.hpp"
#include "pool.hpp"
#include "prometheus.hpp"
#include "sentinel.hpp"

namespace dogpile::metrics {

namespace details {

inline std::string node_of(const redis::ConnectionOptions& connection) {
    if (!connection.unix_socket.empty()) return connection.unix_socket;
    return redis::NodeAddress{connection.host, connection.port}.to_string();
}

inline void append_pool_gauges(PrometheusText& out, std::string_view client, std::string_view node, std::size_t open,
                               std::size_t idle) {
    const Labels labels{{"client", client}, {"node", node}};
    out.gauge("dogpile_redis_pool_connections", "Connections that exist now: idle, leased or being opened.", labels,
              static_cast<double>(open));
    out.gauge("dogpile_redis_pool_idle_connections", "Idle connections in the pool.", labels,
              static_cast<double>(idle));
}

}  // namespace details

DOGPILE_INLINE void append_breaker(PrometheusText& out, std::string_view client, const redis::BreakerStats& stats) {
    static constexpr std::array<std::pair<redis::BreakerState, const char*>, 3> states = {{
        {redis::BreakerState::closed, "closed"},
        {redis::BreakerState::open, "open"},
        {redis::BreakerState::half_open, "half_open"},
    }};
    for (const auto& [state, name] : states) {
        out.gauge("dogpile_redis_breaker_state", "1 for the circuit breaker's current state, 0 for the others.",
                  {{"client", client}, {"state", name}}, stats.state == state ? 1.0 : 0.0);
    }
    const Labels labels{{"client", client}};
    out.counter("dogpile_redis_breaker_opened_total", "Circuit breaker transitions to open.", labels, stats.opened);
    out.counter("dogpile_redis_breaker_closed_total", "Circuit breaker transitions from half-open to closed.", labels,
                stats.closed);
    out.counter("dogpile_redis_breaker_rejected_total", "Calls failed fast while the circuit breaker was open.", labels,
                stats.rejected);
}

DOGPILE_INLINE void append_redis_client(PrometheusText& out, std::string_view client_name,
                                        const redis::Client& client) {
    out.counter("dogpile_redis_round_trips_total", "Round trips made on behalf of callers, handshakes excluded.",
                {{"client", client_name}}, client.round_trips());
    append_breaker(out, client_name, client.breaker_stats());
    if (const auto* single = dynamic_cast<const redis::SingleServerClient*>(&client)) {
        const redis::ConnectionPool& pool = single->pool();
        details::append_pool_gauges(out, client_name, details::node_of(pool.options().connection),
                                    pool.open_connections(), pool.idle_connections());
    } else if (const auto* cluster = dynamic_cast<const redis::ClusterClient*>(&client)) {
        for (const redis::ClusterNodeStats& node : cluster->node_stats()) {
            details::append_pool_gauges(out, client_name, node.address.to_string(), node.open_connections,
                                        node.idle_connections);
        }
        out.counters(cluster_counters, {{"client", client_name}}, cluster->stats());
    } else if (const auto* sentinel = dynamic_cast<const redis::SentinelClient*>(&client)) {
        out.counters(sentinel_counters, {{"client", client_name}}, sentinel->stats());
    }
}

DOGPILE_INLINE void append_tracking(PrometheusText& out, std::string_view listener_name,
                                    const redis::InvalidationListener& listener) {
    out.gauge("dogpile_redis_tracking_active", "1 while the invalidation listener tracks, else 0.",
              {{"listener", listener_name}}, listener.tracking() ? 1.0 : 0.0);
    out.counters(tracking_counters, {{"listener", listener_name}}, listener.stats());
}

}  // namespace dogpile::metrics
