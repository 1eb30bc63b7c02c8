#pragma once
// Definitions of cluster.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>

#include "cluster.hpp"

namespace dogpile::redis {

DOGPILE_INLINE ClusterClient::ClusterClient(ClusterOptions options) : options_(validated(std::move(options))) {
    topology_.refresh(Refresh::now);
}

DOGPILE_INLINE Reply ClusterClient::command(std::string_view routing_key, const Command& cmd) {
    std::vector<Reply> replies = router_.execute(
        1, [&cmd](std::size_t) -> const Command& { return cmd; }, [routing_key](std::size_t) { return routing_key; },
        {});
    if (replies.front().is_error()) {
        throw ReplyError(std::string(replies.front().error_message()), "redis " + std::string(cmd.name()));
    }
    return std::move(replies.front());
}

DOGPILE_INLINE std::vector<Reply> ClusterClient::pipeline(std::string_view routing_key,
                                                          const std::vector<Command>& commands) {
    return router_.execute(
        commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
        [routing_key](std::size_t) { return routing_key; }, {});
}

DOGPILE_INLINE std::vector<Reply> ClusterClient::batch(const std::vector<KeyedCommand>& commands,
                                                       const std::vector<const Script*>& scripts) {
    return router_.execute(
        commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i].command; },
        [&commands](std::size_t i) { return std::string_view(commands[i].key); }, scripts);
}

DOGPILE_INLINE Reply ClusterClient::eval(const Script& script, const ScriptCall& call) {
    const Command cmd = script.evalsha_command(call);
    std::vector<Reply> replies = router_.execute(
        1, [&cmd](std::size_t) -> const Command& { return cmd; }, [&call](std::size_t) { return routing_key_of(call); },
        {&script});
    if (replies.front().is_error()) {
        throw ReplyError(std::string(replies.front().error_message()), "redis EVALSHA " + script.sha1().substr(0, 12));
    }
    return std::move(replies.front());
}

DOGPILE_INLINE std::vector<Reply> ClusterClient::eval_batch(const Script& script,
                                                            const std::vector<ScriptCall>& calls) {
    const std::vector<Command> commands = script.evalsha_commands(calls);
    return router_.execute(
        commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
        [&calls](std::size_t i) { return routing_key_of(calls[i]); }, {&script});
}

DOGPILE_INLINE void ClusterClient::with_connection(std::string_view routing_key,
                                                   const std::function<void(Connection&)>& fn) {
    const auto node = topology_.master_for(key_slot(routing_key));
    auto lease = topology_.acquire(*node);
    try {
        fn(*lease);
    } catch (const ReplyError& e) {
        if (auto r = e.redirection(); r && r->kind == Redirection::Kind::moved) {
            counters_.add<&ClusterStats::moved>();
            topology_.patch(r->slot, topology_.node_at(NodeAddress{r->host, r->port}));
            topology_.refresh(Refresh::if_due);
        }
        throw;
    }
}

DOGPILE_INLINE ConnectionOptions ClusterClient::connection_options(std::string_view routing_key) const {
    const auto master = master_of(routing_key);
    if (!master) throw IoError(topology_.no_owner_message(key_slot(routing_key)));
    return master->apply_to(options_.pool.connection);
}

DOGPILE_INLINE std::uint64_t ClusterClient::round_trips() const {
    std::uint64_t total = 0;
    topology_.for_each_node([&total](const details::ClusterNode& node) { total += node.pool.round_trips(); });
    return total;
}

DOGPILE_INLINE BreakerStats ClusterClient::breaker_stats() const {
    BreakerStats total;
    topology_.for_each_node(
        [&total](const details::ClusterNode& node) { accumulate(total, node.pool.breaker_stats()); });
    return total;
}

DOGPILE_INLINE std::vector<ClusterNodeStats> ClusterClient::node_stats() const {
    std::vector<ClusterNodeStats> out;
    topology_.for_each_node([&out](const details::ClusterNode& node) {
        out.push_back(ClusterNodeStats{node.address, node.pool.open_connections(), node.pool.idle_connections(),
                                       node.pool.round_trips(), node.pool.breaker_stats()});
    });
    return out;
}

DOGPILE_INLINE std::optional<NodeAddress> ClusterClient::master_of(std::string_view key) const {
    const auto map = topology_.snapshot();
    const auto master = map ? map->master_of(key_slot(key)) : nullptr;
    if (!master) return std::nullopt;
    return master->address;
}

DOGPILE_INLINE std::vector<ClusterShard> ClusterClient::topology() const {
    std::vector<ClusterShard> out;
    const auto map = topology_.snapshot();
    if (!map) return out;
    for (std::size_t m = 0; m < map->masters.size(); ++m) {
        ClusterShard shard;
        shard.master = map->masters[m]->address;
        for (const auto& r : map->replicas[m]) shard.replicas.push_back(r->address);
        out.push_back(std::move(shard));
    }
    for (int slot = 0; slot < cluster_slots; ++slot) {
        const auto owner = map->owner_of(slot);
        if (!owner) continue;
        auto& ranges = out[*owner].slot_ranges;
        if (!ranges.empty() && ranges.back().second == slot - 1) {
            ranges.back().second = slot;
        } else {
            ranges.emplace_back(slot, slot);
        }
    }
    out.erase(std::remove_if(out.begin(), out.end(), [](const ClusterShard& s) { return s.slot_ranges.empty(); }),
              out.end());
    return out;
}

DOGPILE_INLINE ClusterStats ClusterClient::stats() const noexcept { return counters_.snapshot(); }

DOGPILE_INLINE void ClusterClient::reset_stats() noexcept { counters_.reset(); }

DOGPILE_INLINE ClusterOptions ClusterClient::validated(ClusterOptions options) {
    options.validate();
    return options;
}

}  // namespace dogpile::redis
