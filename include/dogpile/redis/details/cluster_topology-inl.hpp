#pragma once
// Definitions of cluster_topology.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <utility>

#include "../connection.hpp"
#include "../reply.hpp"
#include "cluster_topology.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE std::shared_ptr<const SlotMap> ClusterTopology::snapshot() const {
    std::lock_guard<std::mutex> lock(map_mutex_);
    return map_;
}

DOGPILE_INLINE ClusterNodePtr ClusterTopology::node_at(const NodeAddress& address) {
    std::lock_guard<std::mutex> lock(nodes_mutex_);
    auto it = nodes_.find(address);
    if (it != nodes_.end()) return it->second;
    PoolOptions pool = options_.pool;
    pool.connection = address.apply_to(pool.connection);
    auto node = std::make_shared<ClusterNode>(address, std::move(pool));
    nodes_.emplace(address, node);
    return node;
}

DOGPILE_INLINE ConnectionPool::Lease ClusterTopology::acquire(ClusterNode& node) {
    try {
        return node.pool.acquire();
    } catch (const PoolTimeout&) {
        throw;
    } catch (const IoError&) {
        counters_.add<&ClusterStats::connect_failures>();
        throw;
    }
}

DOGPILE_INLINE ClusterNodePtr ClusterTopology::master_for(int slot) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (const auto map = snapshot()) {
            if (auto master = map->master_of(slot)) return master;
        }
        if (attempt == 0) refresh(Refresh::if_due);
    }
    throw IoError(no_owner_message(slot));
}

DOGPILE_INLINE void ClusterTopology::patch(int slot, const ClusterNodePtr& node) {
    bool changed = false;
    {
        std::lock_guard<std::mutex> lock(map_mutex_);
        auto next = map_ ? std::make_shared<SlotMap>(*map_) : std::make_shared<SlotMap>();
        const ClusterNodePtr before = next->master_of(slot);
        next->assign(slot, node);
        changed = before != node;
        map_ = std::move(next);
    }
    if (changed) slot_map_changed();
}

DOGPILE_INLINE void ClusterTopology::slot_map_changed() const noexcept {
    if (!options_.on_slot_map_change) return;
    try {
        options_.on_slot_map_change();
    } catch (...) {
        // Documented as must not throw; routing goes on regardless.
    }
}

DOGPILE_INLINE std::string ClusterTopology::no_owner_message(int slot) const {
    std::lock_guard<std::mutex> lock(error_mutex_);
    std::string message = "redis cluster: no known node serves slot " + std::to_string(slot);
    if (!last_refresh_error_.empty()) message += " (last slot map reload: " + last_refresh_error_ + ")";
    return message;
}

DOGPILE_INLINE bool ClusterTopology::refresh(Refresh how) {
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
            bool changed = false;
            {
                std::lock_guard<std::mutex> map_lock(map_mutex_);
                changed = map_ == nullptr || !map_->same_owners(*map);
                map_ = std::move(map);
            }
            if (changed) slot_map_changed();
            counters_.add<&ClusterStats::refreshes>();
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

DOGPILE_INLINE std::vector<NodeAddress> ClusterTopology::refresh_candidates() const {
    std::vector<NodeAddress> candidates;
    auto add = [&candidates](const NodeAddress& a) {
        if (std::find(candidates.begin(), candidates.end(), a) == candidates.end()) candidates.push_back(a);
    };
    if (const auto map = snapshot()) {
        const std::size_t n = map->masters.size();
        const std::size_t start = n == 0 ? 0 : static_cast<std::size_t>(counters_.load<&ClusterStats::refreshes>()) % n;
        for (std::size_t i = 0; i < n; ++i) add(map->masters[(start + i) % n]->address);
        for (const auto& rs : map->replicas) {
            for (const auto& r : rs) add(r->address);
        }
    }
    for (const auto& seed : options_.seeds) add(seed);
    return candidates;
}

}  // namespace dogpile::redis::details
