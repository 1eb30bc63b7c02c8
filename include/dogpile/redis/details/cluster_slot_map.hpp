#pragma once
// The slot map of a Redis Cluster: which master, and which replicas, serve
// each of the 16384 slots, as CLUSTER SLOTS tells it. Internal to
// ClusterClient (cluster.hpp).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../../details/linkage.hpp"
#include "../address.hpp"
#include "../errors.hpp"
#include "../pool.hpp"
#include "../reply.hpp"
#include "../slot.hpp"

namespace dogpile::redis::details {

// A node and its pool; slot maps old and new share it.
struct ClusterNode {
    ClusterNode(NodeAddress a, PoolOptions options) : address(std::move(a)), pool(std::move(options)) {}
    const NodeAddress address;
    ConnectionPool pool;
};

using ClusterNodePtr = std::shared_ptr<ClusterNode>;

// Published as an immutable snapshot: a change copies it.
struct SlotMap {
    std::vector<ClusterNodePtr> masters;
    std::vector<std::vector<ClusterNodePtr>> replicas;  // per master
    std::array<std::int16_t, cluster_slots> owner;      // index into masters, -1: unserved

    SlotMap() { owner.fill(-1); }

    // Index of `slot`'s master in `masters`, if the slot is served.
    std::optional<std::size_t> owner_of(int slot) const noexcept {
        const int m = owner[static_cast<std::size_t>(slot)];
        if (m < 0) return std::nullopt;
        return static_cast<std::size_t>(m);
    }

    // The master serving `slot`, or null.
    ClusterNodePtr master_of(int slot) const;

    void assign(int slot, const ClusterNodePtr& master);

    // Index of `node` in `masters`, adding it (with no replicas) if new.
    std::size_t master_index(const ClusterNodePtr& node);
};

// The slot map of a CLUSTER SLOTS reply (received from `asked`):
// [[start, end, [host, port, id, ...] (master), [host, port, id, ...] (replicas)...]...].
// An empty host means "the address you reached me at". node_at(address)
// gives the node of an address. Null when the reply names no slots (a node
// not yet part of a cluster); a malformed reply throws ProtocolError.
template <class NodeAt>
std::shared_ptr<SlotMap> parse_cluster_slots(const Reply& reply, const NodeAddress& asked, NodeAt&& node_at) {
    auto map = std::make_shared<SlotMap>();
    bool any = false;
    auto address_of = [&asked](const Reply& node) {
        NodeAddress a{node.at(0).as_string(), static_cast<int>(node.at(1).as_integer())};
        if (a.host.empty() || a.host == "?") a.host = asked.host;
        return a;
    };
    for (const Reply& range : reply.elements()) {
        if (range.size() < 3) throw ProtocolError("redis CLUSTER SLOTS: a range with no master");
        const long long start = range.at(0).as_integer();
        const long long end = range.at(1).as_integer();
        if (start < 0 || end >= cluster_slots || start > end) {
            throw ProtocolError("redis CLUSTER SLOTS: bad slot range " + std::to_string(start) + "-" +
                                std::to_string(end));
        }
        const std::size_t m = map->master_index(node_at(address_of(range.at(2))));
        for (std::size_t r = 3; r < range.size(); ++r) {
            ClusterNodePtr replica = node_at(address_of(range.at(r)));
            auto& list = map->replicas[m];
            if (std::find(list.begin(), list.end(), replica) == list.end()) list.push_back(std::move(replica));
        }
        for (long long slot = start; slot <= end; ++slot) {
            map->owner[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(m);
        }
        any = true;
    }
    return any ? map : nullptr;
}

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "cluster_slot_map-inl.hpp"
#endif
