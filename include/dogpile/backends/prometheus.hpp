#pragma once
/// @file
/// The in-process backends' statistics in the Prometheus text format
/// (docs/metrics.md lists the families), labelled `backend="<name>"`:
///
/// * MetricsProxy (metrics_proxy.hpp): per operation, a latency histogram in
///   seconds, errors, and the keys get/get_multi found or not;
/// * MemoryBackend (memory.hpp): evictions, expirations, writes too heavy.
///
/// Append them to the PrometheusText that holds the regions
/// (metrics/prometheus.hpp). Needs the standard library only.

#include <array>
#include <chrono>
#include <cstddef>
#include <limits>
#include <string_view>
#include <vector>

#include "../metrics/prometheus_text.hpp"
#include "memory.hpp"
#include "metrics_proxy.hpp"

namespace dogpile::metrics {

/// MetricsProxy's latency buckets as histogram buckets in seconds: bucket i
/// ends at 2^i µs (LatencyHistogram::upper_bound), the last is unbounded.
/// LatencyHistogram's bounds are exclusive and Prometheus' `le` inclusive: a
/// call of exactly 2^i µs is counted one bucket up, an error far below the
/// bucket width.
inline std::vector<HistogramBucket> latency_buckets(const LatencyHistogram& latency) {
    std::vector<HistogramBucket> buckets;
    buckets.reserve(LatencyHistogram::bucket_count);
    for (std::size_t i = 0; i < LatencyHistogram::bucket_count; ++i) {
        const auto bound = LatencyHistogram::upper_bound(i);
        const double seconds =
            bound ? std::chrono::duration<double>(*bound).count() : std::numeric_limits<double>::infinity();
        buckets.push_back({seconds, latency.counts[i]});
    }
    return buckets;
}

/// Appends a MetricsProxy snapshot: `dogpile_backend_operation_duration_seconds`
/// (histogram) and `dogpile_backend_operation_errors_total` per operation,
/// `dogpile_backend_hits_total` and `dogpile_backend_misses_total`.
inline void append_backend_metrics(PrometheusText& out, std::string_view backend, const BackendMetrics& metrics) {
    for (std::size_t op = 0; op < backend_operation_count; ++op) {
        const OperationMetrics& m = metrics.operations[op];
        const Labels labels{{"backend", backend}, {"operation", to_string(static_cast<BackendOperation>(op))}};
        out.histogram("dogpile_backend_operation_duration_seconds",
                      "Latency of backend calls, those that threw included.", labels, latency_buckets(m.latency),
                      std::chrono::duration<double>(m.total_latency).count());
    }
    for (std::size_t op = 0; op < backend_operation_count; ++op) {
        out.counter("dogpile_backend_operation_errors_total", "Backend calls that threw.",
                    {{"backend", backend}, {"operation", to_string(static_cast<BackendOperation>(op))}},
                    metrics.operations[op].errors);
    }
    out.counter("dogpile_backend_hits_total", "Keys get and get_multi found.", {{"backend", backend}}, metrics.hits);
    out.counter("dogpile_backend_misses_total", "Keys get and get_multi did not find.", {{"backend", backend}},
                metrics.misses);
}

/// MemoryBackendStats' counters and their metric families, in output order.
inline constexpr std::array<CounterField<MemoryBackendStats>, 3> memory_backend_counters = {{
    {&MemoryBackendStats::evictions, "dogpile_memory_backend_evictions_total",
     "Live entries dropped to respect the capacity."},
    {&MemoryBackendStats::expirations, "dogpile_memory_backend_expirations_total",
     "Entries removed because they outlived the ttl."},
    {&MemoryBackendStats::rejected_too_heavy, "dogpile_memory_backend_rejected_too_heavy_total",
     "Writes heavier than a shard's share of max_weight, not stored."},
}};

/// Appends a MemoryBackend's counters (MemoryBackendStats).
inline void append_memory_backend(PrometheusText& out, std::string_view backend, const MemoryBackendStats& stats) {
    out.counters(memory_backend_counters, {{"backend", backend}}, stats);
}

}  // namespace dogpile::metrics
