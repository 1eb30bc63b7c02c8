#pragma once
/// \file
/// ClusterTracking: server-assisted client-side caching on a Redis Cluster,
/// the InvalidationSource a near cache (backends/near_cache.hpp) trusts when
/// its remote backend runs on a ClusterClient (cluster.hpp).
///
/// \code
///   auto tracking = std::make_shared<redis::ClusterTracking>();
///   auto client = redis::make_tracked_cluster(*tracking, cluster_options);   // data connections
///   ... a Redis backend on `client`, a NearCacheBackend (listener = tracking) in front of it ...
/// \endcode
///
/// How it works. Tracking is per node: a master only announces changes of
/// keys read on its own connections, to a listener connected to itself. So
/// there is one InvalidationListener per master of the slot map (on the
/// cluster's connection settings), and in standard mode every data
/// connection of a node runs `CLIENT TRACKING on REDIRECT <that node's
/// listener>` before it serves a read (the pool hooks make_tracked_cluster()
/// installs); in broadcast mode each listener announces its own node's
/// changes under the prefixes. Every listener's messages reach the sinks.
///
/// Trust. The cluster tracks (session() != 0) while every master of the
/// current slot map has a tracking listener. Any of these ends the session
/// and flushes the sinks, all entries of all nodes (simpler than per node,
/// and each is rare): a listener's connection lost or re-established, a slot
/// given to another master (MOVED, a reload after a failover or a
/// resharding), a master added or gone. A coordinator thread then starts and
/// stops listeners to match the new masters, and opens a new session once
/// they all track; data connections re-run CLIENT TRACKING for it before
/// their reads may be kept. While a listener is down it reloads the slot map
/// every health_check_interval, so a failover is noticed even when no
/// command fails. A key moved by a resharding is deleted on its old node,
/// which announces it (standard mode) before the slot changes owner.
///
/// What remains, beyond what redis/tracking.hpp says for one server: a data
/// connection a node closes while it sits idle in the pool is noticed when it
/// is next used (no CLIENT LIST check per node). NearCacheOptions::ttl bounds
/// it. Replica reads (ReadFrom::replica) are refused: replicas would need
/// listeners of their own.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../details/linkage.hpp"
#include "address.hpp"
#include "cluster.hpp"
#include "cluster_options.hpp"
#include "connection.hpp"
#include "details/tracked_data_connections.hpp"
#include "details/tracking_state.hpp"
#include "invalidation_listener.hpp"
#include "invalidation_source.hpp"
#include "tracking_options.hpp"

namespace dogpile::redis {

/// How a ClusterTracking tracks keys: TrackingOptions without the connection
/// (each master's listener uses the cluster's ConnectionOptions and the
/// master's address).
struct ClusterTrackingOptions {
    TrackingMode mode = TrackingMode::standard;  ///< standard: per connection; broadcast: by prefix
    /// Broadcast mode: the key prefixes announced by every master.
    std::vector<std::string> prefixes{};
    std::chrono::milliseconds reconnect_backoff_min{20};    ///< each listener's reconnect backoff, from
    std::chrono::milliseconds reconnect_backoff_max{2000};  ///< ... up to
    /// Each listener's PING interval (see TrackingOptions), and how often the
    /// slot map is reloaded while a listener is down.
    std::chrono::milliseconds health_check_interval{1000};

    /// The options of the listener of the master at `node`, reached with `connection`.
    TrackingOptions for_node(const NodeAddress& node, const ConnectionOptions& connection) const;

    /// Throws ConfigurationError naming the bad field.
    void validate() const;
};

/// One master's listener, for diagnostics and tests (ClusterTracking::nodes()).
struct ClusterTrackingNode {
    NodeAddress address;     ///< the master
    bool tracking = false;   ///< its listener is subscribed
    TrackingStats stats{};   ///< its listener's counters
    std::string last_error;  ///< its listener's last error
};

namespace details {

// What the coordinator shares with the hooks of the client's pools and its
// slot-map callback (which may outlive the ClusterTracking: they then find
// no session and do nothing).
struct ClusterTrust {
    explicit ClusterTrust(std::shared_ptr<TrackingState> s) : state(std::move(s)) {}

    // Ends the session (flushing the sinks) and wakes the coordinator.
    void distrust();

    // The CLIENT ID of the listener on `c`'s node while `session` is current.
    std::optional<long long> listener_id(std::uint64_t session, const Connection& c) const;

    const std::shared_ptr<TrackingState> state;
    mutable std::mutex mutex;
    std::condition_variable wake;
    std::uint64_t epoch = 0;  // distrust() calls so far
    bool stopping = false;
    std::uint64_t ids_session = 0;  // the session `listener_ids` are for
    std::unordered_map<NodeAddress, long long> listener_ids;
};

}  // namespace details

/// Client-side caching on a Redis Cluster: one InvalidationListener per
/// master, their messages delivered to the sinks, and the session a near tier
/// trusts (cluster_tracking.hpp says when it ends). Thread-safe.
class ClusterTracking final : public InvalidationSource {
public:
    /// Starts the coordinator thread; listeners start once a client is made
    /// with make_tracked_cluster(). Throws ConfigurationError for invalid options.
    explicit ClusterTracking(ClusterTrackingOptions options = {});

    /// Stops the coordinator and every listener.
    ~ClusterTracking();

    ClusterTracking(const ClusterTracking&) = delete;
    ClusterTracking& operator=(const ClusterTracking&) = delete;

    /// Cluster options whose pools' connections serve reads a near tier may
    /// keep (standard mode: CLIENT TRACKING on REDIRECT to their node's
    /// listener, hooks chained after any already set), and whose slot-map
    /// changes end the session. Throws ConfigurationError for replica reads.
    ClusterOptions instrument(ClusterOptions cluster) const;

    /// The masters' listeners now.
    std::vector<ClusterTrackingNode> nodes() const;

    /// The options it was made with.
    const ClusterTrackingOptions& options() const noexcept { return options_; }

private:
    friend std::shared_ptr<ClusterClient> make_tracked_cluster(ClusterTracking& tracking, ClusterOptions cluster);

    // One master's listener; members die in reverse order: the subscription
    // first, then the listener, then the sink it fed.
    struct Node;

    static ClusterTrackingOptions validated(ClusterTrackingOptions options);

    void attach(const std::shared_ptr<ClusterClient>& client);

    void run();

    // One pass of the coordinator: listeners to match the masters, then the
    // session opened, checked or ended.
    void reconcile(std::uint64_t epoch);

    // While some listener is down: reload the slot map at most every
    // health_check_interval (a failover may have replaced its master).
    void reload_while_down(ClusterClient& client);

    const ClusterTrackingOptions options_;
    const std::shared_ptr<details::ClusterTrust> trust_;
    const std::shared_ptr<details::TrackedDataConnections> data_connections_;

    mutable std::mutex nodes_mutex_;  // guards nodes_ (the coordinator changes it, nodes() reads it)
    std::vector<std::unique_ptr<Node>> nodes_;
    std::weak_ptr<ClusterClient> client_;  // written once, under trust_->mutex
    bool attached_ = false;
    std::chrono::steady_clock::time_point next_reload_{};
    std::thread coordinator_;  // last: started once everything else exists
};

/// A ClusterClient whose data connections are tracked by `tracking`, which
/// starts one listener per master of its slot map. One client per
/// ClusterTracking (a second call throws ConfigurationError).
std::shared_ptr<ClusterClient> make_tracked_cluster(ClusterTracking& tracking, ClusterOptions cluster);

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "cluster_tracking-inl.hpp"
#endif
