#pragma once
// ClusterTopology: what a ClusterClient (cluster.hpp) knows of its cluster:
// one pool per node ever named, the current slot map, and the loader that
// replaces it (CLUSTER SLOTS from the known masters, their replicas, then the
// seeds; at most once per refresh_interval unless asked for now).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../details/atomic_counters.hpp"
#include "../../details/linkage.hpp"
#include "../address.hpp"
#include "../cluster_options.hpp"
#include "../connection.hpp"
#include "../errors.hpp"
#include "../pool.hpp"
#include "../reply.hpp"
#include "cluster_slot_map.hpp"
#include "interval_gate.hpp"

namespace dogpile::redis::details {

// Counters since the client was created (ClusterStats says what each counts).
using ClusterCounters =
    dogpile::details::AtomicCounters<ClusterStats, &ClusterStats::moved, &ClusterStats::ask, &ClusterStats::tryagain,
                                     &ClusterStats::clusterdown, &ClusterStats::refreshes,
                                     &ClusterStats::connect_failures, &ClusterStats::replica_reads>;

class ClusterTopology {
public:
    enum class Refresh { now, if_due };

    // `options` (validated) and `counters` must outlive the topology.
    ClusterTopology(const ClusterOptions& options, ClusterCounters& counters)
        : options_(options), counters_(counters), refresh_gate_(options.refresh_interval) {}

    std::shared_ptr<const SlotMap> snapshot() const;

    // The node at `address`, created (with its own pool) on first use.
    ClusterNodePtr node_at(const NodeAddress& address);

    template <class Fn>
    void for_each_node(Fn&& fn) const {
        std::lock_guard<std::mutex> lock(nodes_mutex_);
        for (const auto& entry : nodes_) fn(*entry.second);
    }

    // A connection of `node`, counting the connections it refuses.
    ConnectionPool::Lease acquire(ClusterNode& node);

    // The master of `slot`, reloading the map when it has none. Throws IoError.
    ClusterNodePtr master_for(int slot);

    // MOVED: record the slot's new owner without waiting for a reload.
    void patch(int slot, const ClusterNodePtr& node);

    std::string no_owner_message(int slot) const;

    // Reloads the slot map from the known masters, then replicas, then seeds
    // (each over a dedicated connection, so pools and round-trip counts are
    // untouched). if_due is skipped within refresh_interval of the last
    // reload and while another thread reloads: callers go on with the map
    // they have rather than queue behind a slow node. False if nobody answered.
    bool refresh(Refresh how);

private:
    // Tells options_.on_slot_map_change, outside the map lock.
    void slot_map_changed() const noexcept;

    // The masters (starting at a different one each reload, to spread the
    // load), their replicas, then the seeds; each once.
    std::vector<NodeAddress> refresh_candidates() const;

    const ClusterOptions& options_;
    ClusterCounters& counters_;

    mutable std::mutex map_mutex_;
    std::shared_ptr<const SlotMap> map_;

    mutable std::mutex nodes_mutex_;
    std::unordered_map<NodeAddress, ClusterNodePtr> nodes_;

    IntervalGate<> refresh_gate_;

    mutable std::mutex error_mutex_;
    std::string last_refresh_error_;
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "cluster_topology-inl.hpp"
#endif
