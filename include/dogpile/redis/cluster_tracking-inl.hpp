#pragma once
// Definitions of cluster_tracking.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <exception>
#include <string_view>
#include <utility>

#include "cluster_tracking.hpp"

namespace dogpile::redis {

DOGPILE_INLINE TrackingOptions ClusterTrackingOptions::for_node(const NodeAddress& node,
                                                                const ConnectionOptions& connection) const {
    TrackingOptions t;
    t.connection = node.apply_to(connection);
    t.mode = mode;
    t.prefixes = prefixes;
    t.reconnect_backoff_min = reconnect_backoff_min;
    t.reconnect_backoff_max = reconnect_backoff_max;
    t.health_check_interval = health_check_interval;
    return t;
}

DOGPILE_INLINE void ClusterTrackingOptions::validate() const {
    const ConnectionOptions any;
    for_node(NodeAddress{any.host, any.port}, any).validate();
}

namespace details {

DOGPILE_INLINE void ClusterTrust::distrust() {
    {
        std::lock_guard<std::mutex> lock(mutex);
        ++epoch;
    }
    state->go_down();
    wake.notify_all();
}

DOGPILE_INLINE std::optional<long long> ClusterTrust::listener_id(std::uint64_t session, const Connection& c) const {
    std::lock_guard<std::mutex> lock(mutex);
    if (ids_session != session || state->session() != session) return std::nullopt;
    const auto it = listener_ids.find(NodeAddress{c.options().host, c.options().port});
    if (it == listener_ids.end()) return std::nullopt;
    return it->second;
}

}  // namespace details

struct ClusterTracking::Node {
    // Hands the listener's messages to the cluster's sinks; its session
    // edges end the cluster's session.
    struct Forward final : InvalidationSink {
        explicit Forward(details::ClusterTrust& t) : trust(t) {}
        void invalidate(const std::vector<std::string_view>& redis_keys) override {
            trust.state->invalidate(redis_keys);
        }
        void flush(FlushReason reason) override {
            if (reason == FlushReason::listener_down || reason == FlushReason::listener_up) {
                trust.distrust();
            } else {
                trust.state->flush(reason);
            }
        }
        details::ClusterTrust& trust;
    };

    Node(NodeAddress a, TrackingOptions o, details::ClusterTrust& trust)
        : address(std::move(a)), forward(trust), listener(std::move(o)), subscription(listener.subscribe(forward)) {}

    const NodeAddress address;
    Forward forward;
    InvalidationListener listener;
    InvalidationSource::Subscription subscription;
    std::uint64_t trusted_session = 0;  // the listener's session the cluster's current one relies on
};

DOGPILE_INLINE ClusterTracking::ClusterTracking(ClusterTrackingOptions options)
    : InvalidationSource(std::make_shared<details::TrackingState>(
          validated(options).for_node(NodeAddress{ConnectionOptions{}.host, ConnectionOptions{}.port}, {}))),
      options_(std::move(options)),
      trust_(std::make_shared<details::ClusterTrust>(state_)),
      data_connections_(std::make_shared<details::TrackedDataConnections>(
          state_,
          [trust = trust_](std::uint64_t session, const Connection& c) { return trust->listener_id(session, c); })),
      coordinator_([this] { run(); }) {}

DOGPILE_INLINE ClusterTracking::~ClusterTracking() {
    {
        std::lock_guard<std::mutex> lock(trust_->mutex);
        trust_->stopping = true;
    }
    trust_->wake.notify_all();
    coordinator_.join();
    {
        std::lock_guard<std::mutex> lock(nodes_mutex_);
        nodes_.clear();
    }
    try {
        if (state_->session() != 0) state_->go_down();
    } catch (...) {
        // Sinks do not throw; nothing sensible is left to do.
    }
}

DOGPILE_INLINE ClusterOptions ClusterTracking::instrument(ClusterOptions cluster) const {
    if (cluster.read_from == ReadFrom::replica) {
        throw ConfigurationError(
            "ClusterTracking: replica reads (ReadFrom::replica) cannot be tracked: replicas have no listener");
    }
    if (options_.mode == TrackingMode::standard) {
        cluster.pool = details::with_tracking_hooks(std::move(cluster.pool), data_connections_);
    }
    cluster.on_slot_map_change = [trust = trust_, previous = std::move(cluster.on_slot_map_change)] {
        if (previous) previous();
        trust->distrust();
    };
    return cluster;
}

DOGPILE_INLINE std::vector<ClusterTrackingNode> ClusterTracking::nodes() const {
    std::vector<ClusterTrackingNode> out;
    std::lock_guard<std::mutex> lock(nodes_mutex_);
    for (const auto& node : nodes_) {
        out.push_back(ClusterTrackingNode{node->address, node->listener.tracking(), node->listener.stats(),
                                          node->listener.last_error()});
    }
    return out;
}

DOGPILE_INLINE ClusterTrackingOptions ClusterTracking::validated(ClusterTrackingOptions options) {
    options.validate();
    return options;
}

DOGPILE_INLINE void ClusterTracking::attach(const std::shared_ptr<ClusterClient>& client) {
    {
        std::lock_guard<std::mutex> lock(trust_->mutex);
        if (attached_) {
            throw ConfigurationError(
                "ClusterTracking: it already tracks a client; call make_tracked_cluster() once per ClusterTracking");
        }
        attached_ = true;
        client_ = client;
        ++trust_->epoch;
    }
    trust_->wake.notify_all();
}

DOGPILE_INLINE void ClusterTracking::run() {
    std::unique_lock<std::mutex> lock(trust_->mutex);
    std::uint64_t handled = trust_->epoch;
    for (;;) {
        // While down, listeners coming up are polled for (their session
        // starts just after they told the sinks); while up, every node's
        // session is checked again at the health check interval.
        const auto interval = tracking() ? options_.health_check_interval : std::chrono::milliseconds(10);
        trust_->wake.wait_for(lock, interval, [&] { return trust_->stopping || trust_->epoch != handled; });
        if (trust_->stopping) return;
        handled = trust_->epoch;
        lock.unlock();
        try {
            reconcile(handled);
        } catch (const std::exception& e) {
            try {
                state_->record_error(std::string("cluster tracking: ") + e.what());
            } catch (...) {
            }
        }
        lock.lock();
    }
}

DOGPILE_INLINE void ClusterTracking::reconcile(std::uint64_t epoch) {
    std::shared_ptr<ClusterClient> client;
    {
        std::lock_guard<std::mutex> lock(trust_->mutex);
        client = client_.lock();
    }
    if (!client) return;
    std::vector<NodeAddress> masters;
    for (const ClusterShard& shard : client->topology()) masters.push_back(shard.master);

    std::unique_lock<std::mutex> nodes_lock(nodes_mutex_);
    const auto is_master = [&masters](const std::unique_ptr<Node>& node) {
        return std::find(masters.begin(), masters.end(), node->address) != masters.end();
    };
    bool changed = false;
    const auto gone = std::stable_partition(nodes_.begin(), nodes_.end(), is_master);
    if (gone != nodes_.end()) {
        nodes_.erase(gone, nodes_.end());
        changed = true;
    }
    for (const NodeAddress& master : masters) {
        const bool known = std::any_of(nodes_.begin(), nodes_.end(), [&master](const std::unique_ptr<Node>& node) {
            return node->address == master;
        });
        if (known) continue;
        nodes_.push_back(
            std::make_unique<Node>(master, options_.for_node(master, client->options().pool.connection), *trust_));
        changed = true;
    }
    const auto all_trusted = [this] {
        return std::all_of(nodes_.begin(), nodes_.end(), [](const std::unique_ptr<Node>& node) {
            return node->trusted_session != 0 && node->listener.session() == node->trusted_session;
        });
    };
    if (state_->session() != 0) {
        if (changed || !all_trusted()) state_->go_down();
        return;
    }
    if (nodes_.empty()) return;

    // Down: a new session once every master's listener tracks.
    std::unordered_map<NodeAddress, long long> ids;
    for (const auto& node : nodes_) {
        const std::uint64_t s = node->listener.session();
        const std::optional<long long> id = node->listener.client_id_in(s);
        if (s == 0 || !id) {
            nodes_lock.unlock();
            reload_while_down(*client);
            return;
        }
        node->trusted_session = s;
        ids.emplace(node->address, *id);
    }
    {
        std::lock_guard<std::mutex> lock(trust_->mutex);
        if (trust_->epoch != epoch) return;  // changed meanwhile: the next pass sees it
        trust_->listener_ids = std::move(ids);
        trust_->ids_session = 0;
    }
    const std::uint64_t session = state_->go_up(0);
    bool still = false;
    {
        std::lock_guard<std::mutex> lock(trust_->mutex);
        still = trust_->epoch == epoch;
        if (still) trust_->ids_session = session;
    }
    // A listener that went down (or a slot that moved) while the session
    // opened has distrusted before or after it: after, it ended it itself.
    if (!still || !all_trusted()) state_->go_down();
}

DOGPILE_INLINE void ClusterTracking::reload_while_down(ClusterClient& client) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_reload_) return;
    next_reload_ = now + options_.health_check_interval;
    client.refresh_topology();
}

DOGPILE_INLINE std::shared_ptr<ClusterClient> make_tracked_cluster(ClusterTracking& tracking, ClusterOptions cluster) {
    auto client = std::make_shared<ClusterClient>(tracking.instrument(std::move(cluster)));
    tracking.attach(client);
    return client;
}

}  // namespace dogpile::redis
