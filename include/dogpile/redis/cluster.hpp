#pragma once
// ClusterClient: the Client (client.hpp) for a Redis Cluster. Backends take
// it where they take a SingleServerClient and run unchanged:
//
//   auto client = std::make_shared<dogpile::redis::ClusterClient>(
//       dogpile::redis::ClusterOptions::from_url("redis://:secret@10.0.0.1:7000,10.0.0.2:7000"));
//   auto backend = std::make_shared<dogpile::RedisHashBackend<Flags, FlagsCodec>>(
//       dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)}, codec);
//
// Options: cluster_options.hpp. The slot map (CLUSTER SLOTS) is learnt from
// any reachable seed; a command goes to the master serving the CRC16 slot of
// its routing key (slot.hpp); every node has its own bounded ConnectionPool
// and is reached with the same ConnectionOptions (the database must be 0).
//
// Redirections and retries, per command (also inside a batch):
// * MOVED: the slot is patched in the map at once, the whole map is reloaded
//   (at most every refresh_interval), and the command re-sent to the new
//   owner. ASK: re-sent to the named node after ASKING; the map is left alone.
//   At most max_redirects per command; then its last MOVED/ASK reply is the
//   result (command() throws it as ReplyError).
// * TRYAGAIN and CLUSTERDOWN: re-sent after a backoff (retry_initial doubling
//   up to retry_max) while retry_timeout lasts; then the error is the result.
// * A node that refuses the connection got nothing: the map is reloaded and
//   the command re-sent if the slot now has another owner (a failover that
//   completed), else the IoError propagates. An I/O error or timeout after
//   sending is never retried (a write may have happened), as on one server.
//
// Scripts: EVALSHA goes to the node of the call's first key; NOSCRIPT is
// answered on that node (SCRIPT LOAD, then the failed calls again: one more
// round trip to that node only).
//
// batch() and eval_batch() send one pipeline per node: N keys over k nodes
// cost k round trips (one after the other), never N. MGET, DEL, UNLINK,
// EXISTS, TOUCH and MSET whose keys span several slots are split per slot
// and their replies merged; like any pipeline, not atomic across slots.
//
// ReadFrom::replica (off by default): read-only commands go round robin to
// the slot's replicas, which may return data the master has already changed.
// Writes and scripts always go to the master.
//
// Thread-safe. The slot map is an immutable snapshot, so routing never waits
// for a reload.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "address.hpp"
#include "client.hpp"
#include "cluster_options.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/cluster_router.hpp"
#include "details/cluster_slot_map.hpp"
#include "details/cluster_topology.hpp"
#include "errors.hpp"
#include "reply.hpp"
#include "script.hpp"
#include "slot.hpp"

namespace dogpile::redis {

// Counters since the client was created (or reset_stats()).
struct ClusterStats {
    std::uint64_t moved = 0;             // MOVED redirections followed
    std::uint64_t ask = 0;               // ASK redirections followed
    std::uint64_t tryagain = 0;          // TRYAGAIN replies retried
    std::uint64_t clusterdown = 0;       // CLUSTERDOWN replies retried
    std::uint64_t refreshes = 0;         // slot maps loaded
    std::uint64_t connect_failures = 0;  // connections a node refused or timed out
    std::uint64_t replica_reads = 0;     // commands answered by a replica
};

// One node's pool, for diagnostics and tests.
struct ClusterNodeStats {
    NodeAddress address;
    std::size_t open_connections = 0;
    std::size_t idle_connections = 0;
    std::uint64_t round_trips = 0;
};

// One master of the slot map and what it serves, for diagnostics and tests.
struct ClusterShard {
    NodeAddress master;
    std::vector<NodeAddress> replicas;
    std::vector<std::pair<int, int>> slot_ranges;  // inclusive
};

class ClusterClient final : public Client {
public:
    // Loads the slot map from the seeds. A cluster that cannot be reached yet
    // is not an error here (commands throw IoError until it can); a seed that
    // answers but is not in cluster mode is (ConfigurationError), as are
    // invalid options.
    explicit ClusterClient(ClusterOptions options)
        : options_(validated(std::move(options))) {
        topology_.refresh(Refresh::now);
    }

    using Client::batch;
    using Client::command;
    using Client::eval;

    Reply command(std::string_view routing_key, const Command& cmd) override {
        std::vector<Reply> replies = router_.execute(
            1, [&cmd](std::size_t) -> const Command& { return cmd; }, [routing_key](std::size_t) { return routing_key; },
            {});
        if (replies.front().is_error()) {
            throw ReplyError(std::string(replies.front().error_message()), "redis " + std::string(cmd.name()));
        }
        return std::move(replies.front());
    }

    std::vector<Reply> pipeline(std::string_view routing_key, const std::vector<Command>& commands) override {
        return router_.execute(
            commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
            [routing_key](std::size_t) { return routing_key; }, {});
    }

    std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                             const std::vector<const Script*>& scripts) override {
        return router_.execute(
            commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i].command; },
            [&commands](std::size_t i) { return std::string_view(commands[i].key); }, scripts);
    }

    Reply eval(const Script& script, const ScriptCall& call) override {
        const Command cmd = script.evalsha_command(call);
        std::vector<Reply> replies = router_.execute(
            1, [&cmd](std::size_t) -> const Command& { return cmd; },
            [&call](std::size_t) { return routing_key_of(call); }, {&script});
        if (replies.front().is_error()) {
            throw ReplyError(std::string(replies.front().error_message()), "redis EVALSHA " + script.sha1().substr(0, 12));
        }
        return std::move(replies.front());
    }

    std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) override {
        std::vector<Command> commands;
        commands.reserve(calls.size());
        for (const auto& call : calls) commands.push_back(script.evalsha_command(call));
        return router_.execute(
            commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
            [&calls](std::size_t i) { return routing_key_of(calls[i]); }, {&script});
    }

    // A connection of the master that serves the key's slot now. Redirections
    // are not followed inside `fn`; a MOVED it lets escape (as ReplyError)
    // updates the slot map before propagating.
    void with_connection(std::string_view routing_key, const std::function<void(Connection&)>& fn) override {
        const auto node = topology_.master_for(key_slot(routing_key));
        auto lease = topology_.acquire(*node);
        try {
            fn(*lease);
        } catch (const ReplyError& e) {
            if (auto r = e.redirection(); r && r->kind == Redirection::Kind::moved) {
                counters_.moved.fetch_add(1, std::memory_order_relaxed);
                topology_.patch(r->slot, topology_.node_at(NodeAddress{r->host, r->port}));
                topology_.refresh(Refresh::if_due);
            }
            throw;
        }
    }

    // Throws IoError when the current slot map names no master for the key.
    ConnectionOptions connection_options(std::string_view routing_key) const override {
        const auto master = master_of(routing_key);
        if (!master) throw IoError(topology_.no_owner_message(key_slot(routing_key)));
        return master->apply_to(options_.pool.connection);
    }

    // Over all nodes ever used.
    std::uint64_t round_trips() const override {
        std::uint64_t total = 0;
        topology_.for_each_node([&total](const details::ClusterNode& node) { total += node.pool.round_trips(); });
        return total;
    }

    // Every node the client has heard of, in no particular order.
    std::vector<ClusterNodeStats> node_stats() const {
        std::vector<ClusterNodeStats> out;
        topology_.for_each_node([&out](const details::ClusterNode& node) {
            out.push_back(ClusterNodeStats{node.address, node.pool.open_connections(), node.pool.idle_connections(),
                                           node.pool.round_trips()});
        });
        return out;
    }

    // The master serving `key` in the current slot map, if any.
    std::optional<NodeAddress> master_of(std::string_view key) const {
        const auto map = topology_.snapshot();
        const auto master = map ? map->master_of(key_slot(key)) : nullptr;
        if (!master) return std::nullopt;
        return master->address;
    }

    // The current slot map, by master.
    std::vector<ClusterShard> topology() const {
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

    // Reloads the slot map now (ignoring refresh_interval). Returns false when
    // no node could be asked.
    bool refresh_topology() { return topology_.refresh(Refresh::now); }

    ClusterStats stats() const noexcept {
        ClusterStats s;
        s.moved = counters_.moved.load(std::memory_order_relaxed);
        s.ask = counters_.ask.load(std::memory_order_relaxed);
        s.tryagain = counters_.tryagain.load(std::memory_order_relaxed);
        s.clusterdown = counters_.clusterdown.load(std::memory_order_relaxed);
        s.refreshes = counters_.refreshes.load(std::memory_order_relaxed);
        s.connect_failures = counters_.connect_failures.load(std::memory_order_relaxed);
        s.replica_reads = counters_.replica_reads.load(std::memory_order_relaxed);
        return s;
    }
    void reset_stats() noexcept {
        for (auto* c : {&counters_.moved, &counters_.ask, &counters_.tryagain, &counters_.clusterdown,
                        &counters_.refreshes, &counters_.connect_failures, &counters_.replica_reads}) {
            c->store(0, std::memory_order_relaxed);
        }
    }

    const ClusterOptions& options() const noexcept { return options_; }

private:
    using Refresh = details::ClusterTopology::Refresh;

    static ClusterOptions validated(ClusterOptions options) {
        options.validate();
        return options;
    }

    const ClusterOptions options_;
    details::ClusterCounters counters_;
    details::ClusterTopology topology_{options_, counters_};
    details::ClusterRouter router_{options_, topology_, counters_};
};

}  // namespace dogpile::redis
