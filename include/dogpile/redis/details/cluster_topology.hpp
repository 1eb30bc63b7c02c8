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
struct ClusterCounters {
    std::atomic<std::uint64_t> moved{0}, ask{0}, tryagain{0}, clusterdown{0}, refreshes{0}, connect_failures{0},
        replica_reads{0};
};

class ClusterTopology {
public:
    enum class Refresh { now, if_due };

    // `options` (validated) and `counters` must outlive the topology.
    ClusterTopology(const ClusterOptions& options, ClusterCounters& counters)
        : options_(options), counters_(counters), refresh_gate_(options.refresh_interval) {}

    std::shared_ptr<const SlotMap> snapshot() const {
        std::lock_guard<std::mutex> lock(map_mutex_);
        return map_;
    }

    // The node at `address`, created (with its own pool) on first use.
    ClusterNodePtr node_at(const NodeAddress& address) {
        std::lock_guard<std::mutex> lock(nodes_mutex_);
        auto it = nodes_.find(address);
        if (it != nodes_.end()) return it->second;
        PoolOptions pool = options_.pool;
        pool.connection = address.apply_to(pool.connection);
        auto node = std::make_shared<ClusterNode>(address, std::move(pool));
        nodes_.emplace(address, node);
        return node;
    }

    template <class Fn>
    void for_each_node(Fn&& fn) const {
        std::lock_guard<std::mutex> lock(nodes_mutex_);
        for (const auto& entry : nodes_) fn(*entry.second);
    }

    // A connection of `node`, counting the connections it refuses.
    ConnectionPool::Lease acquire(ClusterNode& node) {
        try {
            return node.pool.acquire();
        } catch (const PoolTimeout&) {
            throw;
        } catch (const IoError&) {
            counters_.connect_failures.fetch_add(1, std::memory_order_relaxed);
            throw;
        }
    }

    // The master of `slot`, reloading the map when it has none. Throws IoError.
    ClusterNodePtr master_for(int slot) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (const auto map = snapshot()) {
                if (auto master = map->master_of(slot)) return master;
            }
            if (attempt == 0) refresh(Refresh::if_due);
        }
        throw IoError(no_owner_message(slot));
    }

    // MOVED: record the slot's new owner without waiting for a reload.
    void patch(int slot, const ClusterNodePtr& node) {
        std::lock_guard<std::mutex> lock(map_mutex_);
        auto next = map_ ? std::make_shared<SlotMap>(*map_) : std::make_shared<SlotMap>();
        next->assign(slot, node);
        map_ = std::move(next);
    }

    std::string no_owner_message(int slot) const {
        std::lock_guard<std::mutex> lock(error_mutex_);
        std::string message = "redis cluster: no known node serves slot " + std::to_string(slot);
        if (!last_refresh_error_.empty()) message += " (last slot map reload: " + last_refresh_error_ + ")";
        return message;
    }

    // Reloads the slot map from the known masters, then replicas, then seeds
    // (each over a dedicated connection, so pools and round-trip counts are
    // untouched). if_due is skipped within refresh_interval of the last
    // reload and while another thread reloads: callers go on with the map
    // they have rather than queue behind a slow node. False if nobody answered.
    bool refresh(Refresh how) {
        const auto pass = how == Refresh::now ? refresh_gate_.enter_now() : refresh_gate_.enter_if_due();
        if (!pass) return true;

        std::string errors;
        for (const auto& address : refresh_candidates()) {
            try {
                Connection connection(address.apply_to(options_.pool.connection));
                const Reply reply = connection.command({"CLUSTER", "SLOTS"});
                auto map = parse_cluster_slots(reply, address, [this](const NodeAddress& a) { return node_at(a); });
                if (map == nullptr) {
                    errors += address.to_string() + ": serves no slots yet; ";
                    continue;
                }
                {
                    std::lock_guard<std::mutex> map_lock(map_mutex_);
                    map_ = std::move(map);
                }
                counters_.refreshes.fetch_add(1, std::memory_order_relaxed);
                std::lock_guard<std::mutex> error_lock(error_mutex_);
                last_refresh_error_.clear();
                return true;
            } catch (const AuthError&) {
                throw;
            } catch (const ReplyError& e) {
                if (e.message().find("cluster support disabled") != std::string::npos) {
                    throw ConfigurationError("redis cluster: " + address.to_string() +
                                             " is not in cluster mode (cluster-enabled no); use SingleServerClient");
                }
                errors += address.to_string() + ": " + e.what() + "; ";
            } catch (const RedisError& e) {
                errors += address.to_string() + ": " + e.what() + "; ";
            }
        }
        std::lock_guard<std::mutex> error_lock(error_mutex_);
        last_refresh_error_ = errors.empty() ? std::string("no node to ask") : errors;
        return false;
    }

private:
    // The masters (starting at a different one each reload, to spread the
    // load), their replicas, then the seeds; each once.
    std::vector<NodeAddress> refresh_candidates() const {
        std::vector<NodeAddress> candidates;
        auto add = [&candidates](const NodeAddress& a) {
            if (std::find(candidates.begin(), candidates.end(), a) == candidates.end()) candidates.push_back(a);
        };
        if (const auto map = snapshot()) {
            const std::size_t n = map->masters.size();
            const std::size_t start = n == 0 ? 0 : static_cast<std::size_t>(counters_.refreshes.load()) % n;
            for (std::size_t i = 0; i < n; ++i) add(map->masters[(start + i) % n]->address);
            for (const auto& rs : map->replicas) {
                for (const auto& r : rs) add(r->address);
            }
        }
        for (const auto& seed : options_.seeds) add(seed);
        return candidates;
    }

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
