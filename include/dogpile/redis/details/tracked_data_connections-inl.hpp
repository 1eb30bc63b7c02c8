#pragma once
// Definitions of tracked_data_connections.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <optional>
#include <string>

#include "../command.hpp"
#include "../reply.hpp"
#include "tracked_data_connections.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE ReadProof& this_thread_read_proof() noexcept {
    thread_local ReadProof proof;
    return proof;
}

DOGPILE_INLINE void TrackedDataConnections::on_connect(Connection& c) {
    // A reconnect() of a connection tracked in this session: the keys
    // Redis tracked for its old socket are forgotten.
    const std::uint64_t s = state_->session();
    unregister(c);
    if (s != 0 && c.user_tag() == s) lose_data_connection();
    c.set_user_tag(0);
    ensure_tracked(c);
}

DOGPILE_INLINE void TrackedDataConnections::on_discard(Connection& c) noexcept {
    unregister(c);
    const std::uint64_t s = state_->session();
    if (s != 0 && c.user_tag() == s) {
        try {
            lose_data_connection();
        } catch (...) {
            // Sinks do not throw; nothing sensible is left to do.
        }
    }
}

DOGPILE_INLINE std::vector<long long> TrackedDataConnections::ids_in(std::uint64_t session) const {
    std::vector<long long> out;
    std::lock_guard<std::mutex> lock(registry_mutex_);
    for (const auto& entry : registry_) {
        if (entry.second.session == session) out.push_back(entry.second.client_id);
    }
    return out;
}

DOGPILE_INLINE void TrackedDataConnections::forget_dead(std::uint64_t session, const std::vector<long long>& checked,
                                                        const std::vector<long long>& alive) {
    bool lost = false;
    {
        std::lock_guard<std::mutex> lock(registry_mutex_);
        for (auto it = registry_.begin(); it != registry_.end();) {
            const Tracked& t = it->second;
            const bool was_checked = std::find(checked.begin(), checked.end(), t.client_id) != checked.end();
            const bool is_alive = std::find(alive.begin(), alive.end(), t.client_id) != alive.end();
            if (t.session == session && was_checked && !is_alive) {
                it = registry_.erase(it);
                lost = true;
            } else {
                ++it;
            }
        }
    }
    if (lost) lose_data_connection();
}

DOGPILE_INLINE void TrackedDataConnections::unregister(const Connection& c) noexcept {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    registry_.erase(&c);
}

DOGPILE_INLINE void TrackedDataConnections::lose_data_connection() {
    state_->counters.add(&TrackingStats::data_connections_lost);
    state_->flush(FlushReason::data_connection_lost);
}

DOGPILE_INLINE void TrackedDataConnections::prove(std::uint64_t session) noexcept {
    ReadProof& proof = this_thread_read_proof();
    if (proof.session == 0) {
        proof.session = session;
    } else if (proof.session != session) {
        proof.spoiled = true;
    }
}

DOGPILE_INLINE void TrackedDataConnections::ensure_tracked(Connection& c) {
    const std::uint64_t s = state_->session();
    if (s == 0) {
        this_thread_read_proof().spoiled = true;
        return;
    }
    if (c.user_tag() == s) {
        prove(s);
        return;
    }
    const std::optional<long long> listener_id = state_->client_id_in(s);
    if (!listener_id) {
        this_thread_read_proof().spoiled = true;  // the session just changed
        return;
    }
    // One round trip; an IoError propagates (the connection is broken
    // and will be dropped).
    const std::vector<Reply> replies =
        c.pipeline({Command{"CLIENT", "ID"}, Command{"CLIENT", "TRACKING", "on", "REDIRECT"}.arg(*listener_id)});
    if (replies[0].is_error() || replies[1].is_error() || !replies[0].is_integer()) {
        // Most likely the listener's connection has just gone (it will
        // notice); or CLIENT TRACKING is not permitted. Either way, what
        // this connection reads is not tracked.
        const Reply& bad = replies[1].is_error() ? replies[1] : replies[0];
        const std::string why =
            bad.is_error() ? std::string(bad.error_message()) : std::string("CLIENT ID: not an integer");
        state_->counters.add(&TrackingStats::tracking_failures);
        state_->record_error("CLIENT TRACKING on a data connection failed: " + why);
        this_thread_read_proof().spoiled = true;
        state_->flush(FlushReason::tracking_failed);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(registry_mutex_);
        registry_[&c] = Tracked{replies[0].as_integer(), s};
    }
    c.set_user_tag(s);
    state_->counters.add(&TrackingStats::tracked_connections);
    prove(s);
}

}  // namespace dogpile::redis::details
