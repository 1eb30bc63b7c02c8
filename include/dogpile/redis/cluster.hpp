#pragma once
/// \file
/// ClusterClient: the Client (client.hpp) for a Redis Cluster. Backends take
/// it where they take a SingleServerClient and run unchanged:
///
/// \code
///   auto client = std::make_shared<dogpile::redis::ClusterClient>(
///       dogpile::redis::ClusterOptions::from_url("redis://:secret@10.0.0.1:7000,10.0.0.2:7000"));
///   auto backend = std::make_shared<dogpile::RedisHashBackend<Flags, FlagsCodec>>(
///       dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)}, codec);
/// \endcode
///
/// Options: cluster_options.hpp. The slot map (CLUSTER SLOTS) is learnt from
/// any reachable seed; a command goes to the master serving the CRC16 slot of
/// its routing key (slot.hpp); every node has its own bounded ConnectionPool
/// and is reached with the same ConnectionOptions (the database must be 0).
///
/// Redirections and retries, per command (also inside a batch):
/// * MOVED: the slot is patched in the map at once, the whole map is reloaded
///   (at most every refresh_interval), and the command re-sent to the new
///   owner. ASK: re-sent to the named node after ASKING; the map is left alone.
///   At most max_redirects per command; then its last MOVED/ASK reply is the
///   result (command() throws it as ReplyError).
/// * TRYAGAIN and CLUSTERDOWN: re-sent after a backoff (retry_initial doubling
///   up to retry_max) while retry_timeout lasts; then the error is the result.
/// * A node that refuses the connection got nothing: the map is reloaded and
///   the command re-sent if the slot now has another owner (a failover that
///   completed), else the IoError propagates. An I/O error or timeout after
///   sending is never retried (a write may have happened), as on one server.
///
/// Scripts: EVALSHA goes to the node of the call's first key; NOSCRIPT is
/// answered on that node (SCRIPT LOAD, then the failed calls again: one more
/// round trip to that node only).
///
/// batch() and eval_batch() send one pipeline per node: N keys over k nodes
/// cost k round trips, never N, and all k are in flight at once (every node's
/// pipeline is written before any reply is read), so a batch takes about as
/// long as its slowest node. Its writes and reads share one command_timeout
/// (or the region call's budget). An error on one node after sending fails
/// the call (as above) once the other nodes' replies were read, so their
/// connections stay pooled. MGET, DEL, UNLINK,
/// EXISTS, TOUCH and MSET whose keys span several slots are split per slot
/// and their replies merged; like any pipeline, not atomic across slots.
///
/// ReadFrom::replica (off by default): read-only commands go round robin to
/// the slot's replicas, which may return data the master has already changed.
/// Writes and scripts always go to the master.
///
/// Thread-safe. The slot map is an immutable snapshot, so routing never waits
/// for a reload.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
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

/// One node's pool, for diagnostics and tests.
struct ClusterNodeStats {
    NodeAddress address;               ///< the node
    std::size_t open_connections = 0;  ///< connections of its pool now, leased or idle
    std::size_t idle_connections = 0;  ///< idle ones among them
    std::uint64_t round_trips = 0;     ///< round trips on its connections
    BreakerStats breaker{};            ///< each node's pool has its own breaker
};

/// One master of the slot map and what it serves, for diagnostics and tests.
struct ClusterShard {
    NodeAddress master;                            ///< the master serving the slot ranges
    std::vector<NodeAddress> replicas;             ///< its replicas, as CLUSTER SLOTS lists them
    std::vector<std::pair<int, int>> slot_ranges;  ///< inclusive
};

/// The Client for a Redis Cluster: routing by CRC16 slot, MOVED/ASK and retries as cluster.hpp
/// describes. Thread-safe.
class ClusterClient final : public Client {
public:
    /// Loads the slot map from the seeds. A cluster that cannot be reached yet
    /// is not an error here (commands throw IoError until it can); a seed that
    /// answers but is not in cluster mode is (ConfigurationError), as are
    /// invalid options.
    explicit ClusterClient(ClusterOptions options);

    using Client::batch;
    using Client::command;
    using Client::eval;

    // The overrides are declared DOGPILE_INLINE: header-only, the class has
    // no key function, so no TU emits its vtable unless it uses it; compiled,
    // the library holds the vtable.
    DOGPILE_INLINE Reply command(std::string_view routing_key, const Command& cmd) override;

    DOGPILE_INLINE std::vector<Reply> pipeline(std::string_view routing_key,
                                               const std::vector<Command>& commands) override;

    DOGPILE_INLINE std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                                            const std::vector<const Script*>& scripts) override;

    DOGPILE_INLINE Reply eval(const Script& script, const ScriptCall& call) override;

    DOGPILE_INLINE std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) override;

    /// A connection of the master that serves the key's slot now. Redirections
    /// are not followed inside `fn`; a MOVED it lets escape (as ReplyError)
    /// updates the slot map before propagating.
    DOGPILE_INLINE void with_connection(std::string_view routing_key,
                                        const std::function<void(Connection&)>& fn) override;

    /// Throws IoError when the current slot map names no master for the key.
    DOGPILE_INLINE ConnectionOptions connection_options(std::string_view routing_key) const override;

    /// Over all nodes ever used.
    DOGPILE_INLINE std::uint64_t round_trips() const override;
    DOGPILE_INLINE BreakerStats breaker_stats() const override;

    /// Every node the client has heard of, in no particular order.
    std::vector<ClusterNodeStats> node_stats() const;

    /// The master serving `key` in the current slot map, if any.
    std::optional<NodeAddress> master_of(std::string_view key) const;

    /// The current slot map, by master.
    std::vector<ClusterShard> topology() const;

    /// Reloads the slot map now (ignoring refresh_interval). Returns false when
    /// no node could be asked.
    bool refresh_topology() { return topology_.refresh(Refresh::now); }

    /// Redirections, retries and reloads since creation or reset_stats().
    ClusterStats stats() const noexcept;
    /// Sets every counter of stats() to 0.
    void reset_stats() noexcept;

    /// The options it was made with.
    const ClusterOptions& options() const noexcept { return options_; }

private:
    using Refresh = details::ClusterTopology::Refresh;

    static ClusterOptions validated(ClusterOptions options);

    const ClusterOptions options_;
    details::ClusterCounters counters_;
    details::ClusterTopology topology_{options_, counters_};
    details::ClusterRouter router_{options_, topology_, counters_};
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "cluster-inl.hpp"
#endif
