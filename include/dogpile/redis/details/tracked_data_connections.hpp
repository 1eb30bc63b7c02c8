#pragma once
// The near-cache glue of standard-mode tracking: the pool hooks that run
// CLIENT TRACKING on REDIRECT <listener> on every data connection before it
// serves a read in a session, the registry of tracked connections (a
// dropped one takes its tracked keys with it, so the sinks are flushed), and
// the per-thread proof that a read ran on tracked connections only.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../command.hpp"
#include "../connection.hpp"
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

inline ReadProof& this_thread_read_proof() noexcept {
    thread_local ReadProof proof;
    return proof;
}

class TrackedDataConnections {
public:
    explicit TrackedDataConnections(std::shared_ptr<TrackingState> state) : state_(std::move(state)) {}

    // --- pool hooks (pool threads) ------------------------------------------

    void on_connect(Connection& c) {
        // A reconnect() of a connection tracked in this session: the keys
        // Redis tracked for its old socket are forgotten.
        const std::uint64_t s = state_->session();
        unregister(c);
        if (s != 0 && c.user_tag() == s) lose_data_connection();
        c.set_user_tag(0);
        ensure_tracked(c);
    }

    void on_acquire(Connection& c) { ensure_tracked(c); }

    void on_discard(Connection& c) noexcept {
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

    // --- liveness (listener thread) -----------------------------------------

    // CLIENT IDs of the data connections tracked in `session`.
    std::vector<long long> ids_in(std::uint64_t session) const {
        std::vector<long long> out;
        std::lock_guard<std::mutex> lock(registry_mutex_);
        for (const auto& entry : registry_) {
            if (entry.second.session == session) out.push_back(entry.second.client_id);
        }
        return out;
    }

    // `checked` were asked about; `alive` are those the server still has. A
    // tracked connection the server closed by itself (its idle `timeout`, a
    // CLIENT KILL, an output buffer limit) took its tracked keys with it,
    // and the pool would only notice when it next hands it out.
    void forget_dead(std::uint64_t session, const std::vector<long long>& checked, const std::vector<long long>& alive) {
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

private:
    struct Tracked {
        long long client_id = 0;
        std::uint64_t session = 0;
    };

    void unregister(const Connection& c) noexcept {
        std::lock_guard<std::mutex> lock(registry_mutex_);
        registry_.erase(&c);
    }

    void lose_data_connection() {
        state_->counters.add(&TrackingStats::data_connections_lost);
        state_->flush(FlushReason::data_connection_lost);
    }

    static void prove(std::uint64_t session) noexcept {
        ReadProof& proof = this_thread_read_proof();
        if (proof.session == 0) {
            proof.session = session;
        } else if (proof.session != session) {
            proof.spoiled = true;
        }
    }

    void ensure_tracked(Connection& c) {
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
            const std::string why = bad.is_error() ? std::string(bad.error_message()) : std::string("CLIENT ID: not an integer");
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

    const std::shared_ptr<TrackingState> state_;

    // An entry leaves when its connection is dropped or reconnects, or is
    // found dead.
    mutable std::mutex registry_mutex_;
    std::unordered_map<const Connection*, Tracked> registry_;
};

}  // namespace dogpile::redis::details
