#pragma once
/// @file
/// Regions' statistics (Region::stats(), RegionStats) in the Prometheus text
/// format: the `dogpile_region_*_total` counters, labelled `region="<name>"`
/// (docs/metrics.md lists them). A region has no name of its own, so the
/// caller names each one.
///
///     std::string body = dogpile::metrics::prometheus_text({{"users", users}, {"flags", flags}});
///
/// For one body that also holds backend and Redis client statistics, append
/// every source to one PrometheusText (backends/prometheus.hpp,
/// redis/prometheus.hpp). Needs the standard library only.

#include <array>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../region_options.hpp"
#include "prometheus_text.hpp"

namespace dogpile::metrics {

/// RegionStats' counters and their metric families, in output order.
inline constexpr std::array<CounterField<RegionStats>, 8> region_counters = {{
    {&RegionStats::hits, "dogpile_region_hits_total", "Fresh values returned without locking."},
    {&RegionStats::misses, "dogpile_region_misses_total", "Keys that had no usable value."},
    {&RegionStats::stale_served, "dogpile_region_stale_served_total",
     "Expired values returned while another caller regenerates."},
    {&RegionStats::creations, "dogpile_region_creations_total", "Values produced by a creator."},
    {&RegionStats::lock_waits, "dogpile_region_lock_waits_total",
     "Lock acquisitions that had to wait for another creator."},
    {&RegionStats::lock_timeouts, "dogpile_region_lock_timeouts_total", "Lock waits that gave up after lock_timeout."},
    {&RegionStats::backend_errors, "dogpile_region_backend_errors_total", "Exceptions thrown by the backend."},
    {&RegionStats::early_refreshes, "dogpile_region_early_refreshes_total", "Fresh values recomputed early."},
}};

/// Appends one region's counters, labelled `region="<name>"`.
inline void append_region(PrometheusText& out, std::string_view name, const RegionStats& stats) {
    out.counters(region_counters, {{"region", name}}, stats);
}

/// Appends one region's counters (anything whose `stats()` returns RegionStats).
template <class Region,
          class = std::enable_if_t<std::is_same_v<decltype(std::declval<const Region&>().stats()), RegionStats>>>
void append_region(PrometheusText& out, std::string_view name, const Region& region) {
    append_region(out, name, region.stats());
}

/// A region's name and statistics, read when it is made: the element of
/// prometheus_text()'s list.
struct NamedRegionStats {
    /// The name, for the `region` label.
    std::string name;
    /// The statistics.
    RegionStats stats;

    /// From statistics already read.
    NamedRegionStats(std::string region_name, const RegionStats& region_stats)
        : name(std::move(region_name)), stats(region_stats) {}

    /// Reads `region.stats()` now.
    template <class Region,
              class = std::enable_if_t<std::is_same_v<decltype(std::declval<const Region&>().stats()), RegionStats>>>
    NamedRegionStats(std::string region_name, const Region& region)
        : name(std::move(region_name)), stats(region.stats()) {}
};

/// The scrape body for a set of regions; names must differ.
inline std::string prometheus_text(const std::vector<NamedRegionStats>& regions) {
    PrometheusText out;
    for (const NamedRegionStats& r : regions) append_region(out, r.name, r.stats);
    return out.str();
}

}  // namespace dogpile::metrics
