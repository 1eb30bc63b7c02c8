#pragma once
// The near-cache glue of standard-mode tracking: the pool hooks that run
// CLIENT TRACKING on REDIRECT <listener> on every data connection before it
// serves a read in a session, the registry of tracked connections (a
// dropped one takes its tracked keys with it, so the sinks are flushed), and
// the per-thread proof that a read ran on tracked connections only.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../details/linkage.hpp"
#include "../command.hpp"
#include "../connection.hpp"
#include "../pool.hpp"
#include "../reply.hpp"
#include "../tracking_options.hpp"
#include "tracking_state.hpp"

namespace dogpile::redis::details {

// Which tracking session the data connections used by this thread's current
// remote read were set up for. Reset by InvalidationListener::begin_read(),
// filled by the pool hooks, read by read_was_tracked(): the proof that a
// value came through a tracked connection of the session the near tier
// trusts, even if the remote backend was (wrongly) built on another client.
struct ReadProof {
    std::uint64_t session = 0;
    bool spoiled = false;  // an untracked connection took part
};

ReadProof& this_thread_read_proof() noexcept;

class TrackedDataConnections {
public:
    // The CLIENT ID a data connection redirects its invalidations to while
    // `session` is current; nullopt once it is not. One listener: its own
    // (the default); a cluster: the listener of the connection's node.
    using ListenerIdOf = std::function<std::optional<long long>(std::uint64_t session, const Connection& c)>;

    explicit TrackedDataConnections(std::shared_ptr<TrackingState> state, ListenerIdOf listener_id_of = {})
        : state_(std::move(state)), listener_id_of_(std::move(listener_id_of)) {}

    // --- pool hooks (pool threads) ------------------------------------------

    void on_connect(Connection& c);

    void on_acquire(Connection& c) { ensure_tracked(c); }

    void on_discard(Connection& c) noexcept;

    // --- liveness (listener thread) -----------------------------------------

    // CLIENT IDs of the data connections tracked in `session`.
    std::vector<long long> ids_in(std::uint64_t session) const;

    // `checked` were asked about; `alive` are those the server still has. A
    // tracked connection the server closed by itself (its idle `timeout`, a
    // CLIENT KILL, an output buffer limit) took its tracked keys with it,
    // and the pool would only notice when it next hands it out.
    void forget_dead(std::uint64_t session, const std::vector<long long>& checked, const std::vector<long long>& alive);

private:
    struct Tracked {
        long long client_id = 0;
        std::uint64_t session = 0;
    };

    void unregister(const Connection& c) noexcept;

    void lose_data_connection();

    static void prove(std::uint64_t session) noexcept;

    void ensure_tracked(Connection& c);

    const std::shared_ptr<TrackingState> state_;
    const ListenerIdOf listener_id_of_;

    // An entry leaves when its connection is dropped or reconnects, or is
    // found dead.
    mutable std::mutex registry_mutex_;
    std::unordered_map<const Connection*, Tracked> registry_;
};

// `pool` with hooks (chained after any already set) that make `tracked`
// track every connection before it is used in a session.
PoolOptions with_tracking_hooks(PoolOptions pool, const std::shared_ptr<TrackedDataConnections>& tracked);

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "tracked_data_connections-inl.hpp"
#endif
