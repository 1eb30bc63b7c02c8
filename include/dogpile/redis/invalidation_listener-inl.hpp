#pragma once
// Definitions of invalidation_listener.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <exception>

#include "invalidation_listener.hpp"

namespace dogpile::redis {

DOGPILE_INLINE InvalidationListener::InvalidationListener(TrackingOptions options)
    : state_(std::make_shared<details::TrackingState>(validated(std::move(options)))),
      data_connections_(std::make_shared<details::TrackedDataConnections>(state_)),
      thread_(
          details::PushThread::Backoff{state_->options.reconnect_backoff_min, state_->options.reconnect_backoff_max},
          [this](details::PushThread& thread, bool& established) { serve(thread, established); },
          [this](bool established, std::optional<std::string_view> failure) { ended(established, failure); }) {}

DOGPILE_INLINE bool InvalidationListener::wait_until_tracking(std::chrono::milliseconds timeout) const {
    return state_->wait(timeout, [](std::uint64_t s) { return s != 0; });
}

DOGPILE_INLINE bool InvalidationListener::wait_for_new_session(std::uint64_t previous,
                                                               std::chrono::milliseconds timeout) const {
    return state_->wait(timeout, [previous](std::uint64_t s) { return s != 0 && s != previous; });
}

DOGPILE_INLINE PoolOptions InvalidationListener::instrument(PoolOptions pool) const {
    if (state_->options.mode == TrackingMode::broadcast) return pool;
    const std::shared_ptr<details::TrackedDataConnections> tracked = data_connections_;
    pool.connection.on_connect = [tracked, previous = std::move(pool.connection.on_connect)](Connection& c) {
        if (previous) previous(c);
        tracked->on_connect(c);
    };
    pool.on_acquire = [tracked, previous = std::move(pool.on_acquire)](Connection& c) {
        if (previous) previous(c);
        tracked->on_acquire(c);
    };
    pool.on_discard = [tracked, previous = std::move(pool.on_discard)](Connection& c) {
        if (previous) {
            try {
                previous(c);
            } catch (...) {
            }
        }
        tracked->on_discard(c);
    };
    return pool;
}

DOGPILE_INLINE std::uint64_t InvalidationListener::begin_read() const noexcept {
    details::this_thread_read_proof() = details::ReadProof{};
    return state_->session();
}

DOGPILE_INLINE bool InvalidationListener::read_was_tracked(std::uint64_t session) const noexcept {
    if (session == 0 || state_->session() != session) return false;
    if (state_->options.mode == TrackingMode::broadcast) return true;
    const details::ReadProof& proof = details::this_thread_read_proof();
    return !proof.spoiled && proof.session == session;
}

DOGPILE_INLINE InvalidationListener::Subscription::Subscription(Subscription&& other) noexcept
    : state_(std::move(other.state_)), sink_(other.sink_) {
    other.sink_ = nullptr;
}

DOGPILE_INLINE InvalidationListener::Subscription& InvalidationListener::Subscription::operator=(
    Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        state_ = std::move(other.state_);
        sink_ = other.sink_;
        other.sink_ = nullptr;
    }
    return *this;
}

DOGPILE_INLINE void InvalidationListener::Subscription::reset() noexcept {
    if (state_ && sink_ != nullptr) state_->remove_sink(sink_);
    state_.reset();
    sink_ = nullptr;
}

DOGPILE_INLINE InvalidationListener::Subscription InvalidationListener::subscribe(InvalidationSink& sink) {
    state_->add_sink(&sink);
    return Subscription(state_, &sink);
}

DOGPILE_INLINE TrackingOptions InvalidationListener::validated(TrackingOptions options) {
    options.connection.on_connect = nullptr;
    options.validate();
    return options;
}

DOGPILE_INLINE void InvalidationListener::ended(bool established, std::optional<std::string_view> failure) noexcept {
    if (failure) {
        try {
            state_->counters.add(&TrackingStats::connection_failures);
            state_->record_error("invalidation listener: " + std::string(*failure));
        } catch (...) {
        }
    }
    if (!established) return;
    try {
        state_->go_down();
    } catch (...) {
        // Sinks do not throw; nothing sensible is left to do.
    }
}

DOGPILE_INLINE void InvalidationListener::serve(details::PushThread& thread, bool& established) {
    const TrackingOptions& o = state_->options;
    PushConnection push(o.connection);
    if (thread.stopping()) return;
    const long long id = push.command({"CLIENT", "ID"}).as_integer();
    if (o.mode == TrackingMode::broadcast) {
        Command tracking{"CLIENT", "TRACKING", "on", "REDIRECT"};
        tracking.arg(id).arg("BCAST");
        for (const auto& p : o.prefixes) tracking.arg("PREFIX").arg(p);
        const Reply reply = push.command(tracking);
        if (!reply.is_ok()) throw ProtocolError("redis CLIENT TRACKING BCAST: expected OK");
    }
    push.subscribe(details::invalidation_channel);
    state_->go_up(id);
    established = true;

    auto last_traffic = Clock::now();
    // When the PING now awaiting its answer was sent (awaiting_pong). Two
    // plain members rather than an optional: g++ -O3 sees the optional's
    // payload as maybe-uninitialized.
    bool awaiting_pong = false;
    Clock::time_point ping_sent{};
    // Standard mode: tracked data connections the server closed by itself
    // are looked for at the health check interval.
    bool check_connections = o.mode == TrackingMode::standard;
    auto next_check = last_traffic + o.health_check_interval;
    std::optional<Connection> control;  // for CLIENT LIST, opened on demand
    for (;;) {
        while (const std::optional<PushedMessage> pushed = push.next_buffered()) {
            last_traffic = Clock::now();
            if (handle(*pushed)) awaiting_pong = false;
        }
        if (thread.stopping()) return;
        auto now = Clock::now();
        if (check_connections && now >= next_check) {
            check_data_connections(control, check_connections);
            now = Clock::now();
            next_check = now + o.health_check_interval;
            continue;  // messages may have arrived meanwhile
        }
        const auto deadline =
            awaiting_pong ? ping_sent + o.connection.command_timeout : last_traffic + o.health_check_interval;
        if (now >= deadline) {
            if (awaiting_pong) {
                throw TimeoutError("redis invalidation listener: no answer to PING within " +
                                   std::to_string(o.connection.command_timeout.count()) + " ms");
            }
            push.send(Command{"PING"});
            ping_sent = now;
            awaiting_pong = true;
            continue;
        }
        const auto wake_at = check_connections ? std::min(deadline, next_check) : deadline;
        const auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now) + std::chrono::milliseconds(1);
        thread.receive(push, wait);
    }
}

DOGPILE_INLINE void InvalidationListener::check_data_connections(std::optional<Connection>& control, bool& enabled) {
    const std::uint64_t session = state_->session();
    const std::vector<long long> ids = data_connections_->ids_in(session);
    if (session == 0 || ids.empty()) return;
    try {
        if (!control || control->broken()) {
            control.reset();
            control.emplace(state_->options.connection);
        }
        Command list{"CLIENT", "LIST", "ID"};
        for (long long id : ids) list.arg(id);
        const Reply reply = control->command(list);
        data_connections_->forget_dead(session, ids, client_ids_in(reply.view()));
    } catch (const ReplyError& e) {
        // CLIENT LIST ID needs Redis 6.2; without it, a dropped data
        // connection is noticed when the pool next hands it out.
        enabled = false;
        state_->record_error(std::string("invalidation listener: data connection check disabled: ") + e.what());
    } catch (const std::exception& e) {
        control.reset();  // tried again at the next interval
        state_->record_error(std::string("invalidation listener: data connection check failed: ") + e.what());
    }
}

DOGPILE_INLINE std::vector<long long> InvalidationListener::client_ids_in(std::string_view list) {
    std::vector<long long> out;
    while (!list.empty()) {
        const auto end = list.find('\n');
        std::string_view line = list.substr(0, end);
        list = end == std::string_view::npos ? std::string_view{} : list.substr(end + 1);
        if (line.substr(0, 3) != "id=") continue;
        long long id = 0;
        bool digits = false;
        for (std::size_t i = 3; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
            id = id * 10 + (line[i] - '0');
            digits = true;
        }
        if (digits) out.push_back(id);
    }
    return out;
}

DOGPILE_INLINE bool InvalidationListener::handle(const PushedMessage& pushed) {
    if (pushed.kind() == PushedMessage::Kind::pong) return true;
    if (pushed.kind() != PushedMessage::Kind::message || pushed.channel() != details::invalidation_channel) {
        return false;
    }
    const Reply payload = pushed.payload();
    if (payload.is_nil()) {
        state_->flush(FlushReason::server_flush);
        state_->counters.add(&TrackingStats::flush_messages);
        return false;
    }
    std::vector<std::string_view> keys;
    if (payload.is_array()) {
        const std::size_t n = payload.size();
        if (n == 0) {
            // Not sent by Redis today; an empty list naming nothing would
            // be a protocol change, so be safe.
            state_->flush(FlushReason::server_flush);
            return false;
        }
        keys.reserve(n);
        for (std::size_t i = 0; i < n; ++i) keys.push_back(payload.at(i).view());
    } else {
        keys.push_back(payload.view());
    }
    state_->invalidate(keys);
    return false;
}

DOGPILE_INLINE std::shared_ptr<Client> make_tracked_client(const InvalidationListener& listener, PoolOptions pool) {
    return std::make_shared<SingleServerClient>(listener.instrument(std::move(pool)));
}

}  // namespace dogpile::redis
