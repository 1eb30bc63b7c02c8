#pragma once
/// \file
/// InvalidationListener: the connection that receives Redis' invalidation
/// messages and hands them to its sinks (the near caches), and the session a
/// near tier trusts. How it tracks, and what it cannot see: redis/tracking.hpp.
///
/// \code
///   auto listener = std::make_shared<redis::InvalidationListener>(redis::TrackingOptions{connection_options});
///   auto client = redis::make_tracked_client(*listener, pool_options);   // data connections
/// \endcode

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
#include "client.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/push_thread.hpp"
#include "details/tracked_data_connections.hpp"
#include "details/tracking_state.hpp"
#include "errors.hpp"
#include "invalidation_source.hpp"
#include "pool.hpp"
#include "push_connection.hpp"
#include "reply.hpp"
#include "tracking_options.hpp"

namespace dogpile::redis {

namespace details {
inline constexpr std::string_view invalidation_channel = "__redis__:invalidate";
}  // namespace details

/// The connection that receives Redis' invalidation messages and hands them to its sinks (the near
/// caches), and the session a near tier trusts (InvalidationSource). How it tracks, and what it
/// cannot see: tracking.hpp. Thread-safe.
class InvalidationListener final : public InvalidationSource {
public:
    /// Starts the listener thread; it connects in the background (see
    /// tracking() and wait_until_tracking()). Throws ConfigurationError for
    /// invalid options.
    explicit InvalidationListener(TrackingOptions options);

    /// Stops the thread at once (a connect in progress finishes within its
    /// timeout); the sinks are flushed if a session was up.
    ~InvalidationListener() = default;

    InvalidationListener(const InvalidationListener&) = delete;
    InvalidationListener& operator=(const InvalidationListener&) = delete;

    /// Pool options whose connections serve reads a near tier may keep:
    /// standard mode adds hooks (chained after any already set) that run
    /// CLIENT TRACKING on REDIRECT `<listener>` on each connection before it is
    /// used in a session, and flush the sinks when a tracked connection is
    /// dropped. Broadcast mode needs none and returns `pool` unchanged.
    PoolOptions instrument(PoolOptions pool) const;

    /// The CLIENT ID of the listener's connection while `session` is current
    /// (what data connections redirect to); nullopt once it is not.
    std::optional<long long> client_id_in(std::uint64_t session) const { return state_->client_id_in(session); }

    /// The options it was made with.
    const TrackingOptions& options() const noexcept { return state_->options; }

private:
    using Clock = std::chrono::steady_clock;

    static TrackingOptions validated(TrackingOptions options);

    // After each session (listener thread). The failure is counted before
    // tracking() turns false, so whoever waits for that sees it.
    void ended(bool established, std::optional<std::string_view> failure) noexcept;

    // One session: returns when stopping, throws when the connection is lost.
    void serve(details::PushThread& thread, bool& established);

    // Asks the server which of the data connections tracked in this session
    // it still has (one CLIENT LIST ID round trip on a separate connection).
    void check_data_connections(std::optional<Connection>& control, bool& enabled);

    // The ids of CLIENT LIST's lines ("id=12 addr=... \n").
    static std::vector<long long> client_ids_in(std::string_view list);

    // Returns true for a PING answer.
    bool handle(const PushedMessage& pushed);

    std::shared_ptr<details::TrackedDataConnections> data_connections_;
    details::PushThread thread_;  // last: started once everything else exists, stopped first
};

/// A client whose data connections are tracked by `listener` (standard mode;
/// in broadcast mode a plain client).
std::shared_ptr<Client> make_tracked_client(const InvalidationListener& listener, PoolOptions pool);

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "invalidation_listener-inl.hpp"
#endif
