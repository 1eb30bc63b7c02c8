#pragma once
// Definitions of pool.hpp (details/linkage.hpp: inline when header-only).

#include "pool.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void PoolOptions::validate() const {
    if (size == 0) throw ConfigurationError("redis pool options: size must be at least 1");
    if (acquire_timeout.count() < 0)
        throw ConfigurationError("redis pool options: acquire_timeout must not be negative");
    if (idle_check_after.count() < 0) {
        throw ConfigurationError("redis pool options: idle_check_after must not be negative");
    }
    connection.validate();
    breaker.validate();
}

DOGPILE_INLINE void details::PoolState::give_back(std::unique_ptr<Connection> connection,
                                                  std::uint64_t round_trips_at_lease,
                                                  std::chrono::steady_clock::time_point handed_out,
                                                  std::uint64_t breaks_at_lease, CircuitBreaker::Admission admission) {
    const std::uint64_t trips = connection->round_trips() - round_trips_at_lease;
    round_trips.fetch_add(trips, std::memory_order_relaxed);
    judge(*connection, trips, admission);
    if (connection->broken()) {
        drop(std::move(connection));
        forget_slot(true);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex);
        idle.push_back(Idle{std::move(connection), handed_out, breaks_at_lease});
    }
    returned.notify_one();
}

DOGPILE_INLINE void details::PoolState::judge(const Connection& connection, std::uint64_t round_trips_in_lease,
                                              CircuitBreaker::Admission admission) {
    if (connection.broken()) {
        breaker.record_failure(admission, "a connection broke (I/O error or command timeout)");
    } else if (round_trips_in_lease > 0) {
        breaker.record_success(admission);
    } else if (admission == CircuitBreaker::Admission::probe) {
        breaker.abandon_probe();
    }
}

DOGPILE_INLINE void details::PoolState::drop(std::unique_ptr<Connection> connection) noexcept {
    discarded.fetch_add(1, std::memory_order_relaxed);
    if (options.on_discard) {
        try {
            options.on_discard(*connection);
        } catch (...) {
        }
    }
    connection.reset();  // closes the socket; never under the lock
}

DOGPILE_INLINE void details::PoolState::forget_slot(bool broke) {
    {
        std::lock_guard<std::mutex> lock(mutex);
        --open;
        if (broke) ++breaks;
    }
    returned.notify_one();
}

DOGPILE_INLINE void ConnectionPool::Lease::discard() {
    if (!connection_) return;
    const std::uint64_t trips = connection_->round_trips() - start_;
    state_->round_trips.fetch_add(trips, std::memory_order_relaxed);
    // Discarded on purpose (a wrong role, an unfinished transaction): a
    // healthy discard is no evidence about the server.
    state_->judge(*connection_, connection_->broken() ? trips : 0, admission_);
    state_->drop(std::move(connection_));
    state_->forget_slot();
    state_.reset();
}

DOGPILE_INLINE ConnectionPool::Lease ConnectionPool::acquire(std::chrono::milliseconds timeout) {
    const CircuitBreaker::Admission admission = state_->breaker.admit();  // throws CircuitOpenError, no I/O
    try {
        return acquire_admitted(timeout, admission);
    } catch (...) {
        // A probe that got no connection to try (a pool timeout, an
        // on_acquire refusal) lets the next caller probe; one whose connect
        // failed was judged already, and re-opened the breaker.
        if (admission == CircuitBreaker::Admission::probe) state_->breaker.abandon_probe();
        throw;
    }
}

DOGPILE_INLINE ConnectionPool::Lease ConnectionPool::acquire_admitted(std::chrono::milliseconds timeout,
                                                                      CircuitBreaker::Admission admission) {
    details::PoolState& s = *state_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(s.mutex);
    for (;;) {
        if (!s.idle.empty()) {
            const auto now = std::chrono::steady_clock::now();
            const bool check = s.needs_check(s.idle.back(), now);
            std::unique_ptr<Connection> connection = std::move(s.idle.back().connection);
            s.idle.pop_back();
            const std::uint64_t breaks = s.breaks;
            lock.unlock();
            if (!check || connection->usable_after_idle()) {
                auto lease = hand_out(std::move(connection), now, breaks, check ? Origin::checked : Origin::unchecked,
                                      admission);
                if (lease) return std::move(*lease);
                lock.lock();
                continue;
            }
            s.drop(std::move(connection));
            lock.lock();
            --s.open;  // its slot is ours to reuse below
            ++s.breaks;
            continue;
        }
        if (s.open < s.options.size) {
            ++s.open;
            const std::uint64_t breaks = s.breaks;
            lock.unlock();
            std::unique_ptr<Connection> connection;
            try {
                connection = std::make_unique<Connection>(s.options.connection);
            } catch (const IoError& e) {
                s.forget_slot();
                s.breaker.record_failure(admission, e.what());
                throw;
            } catch (...) {
                s.forget_slot();
                throw;
            }
            s.created.fetch_add(1, std::memory_order_relaxed);
            return std::move(
                *hand_out(std::move(connection), std::chrono::steady_clock::now(), breaks, Origin::checked, admission));
        }
        ++s.waiting;
        const bool woke =
            s.returned.wait_until(lock, deadline, [&s] { return !s.idle.empty() || s.open < s.options.size; });
        --s.waiting;
        if (!woke) {
            throw PoolTimeout("redis " + s.options.connection.describe() +
                              ": no pooled connection became free within " + std::to_string(timeout.count()) +
                              " ms (all " + std::to_string(s.options.size) +
                              " connections in use; raise PoolOptions::size or acquire_timeout)");
        }
    }
}

DOGPILE_INLINE std::size_t ConnectionPool::open_connections() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->open;
}

DOGPILE_INLINE std::size_t ConnectionPool::idle_connections() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->idle.size();
}

DOGPILE_INLINE std::size_t ConnectionPool::waiting_callers() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->waiting;
}

DOGPILE_INLINE std::optional<ConnectionPool::Lease> ConnectionPool::hand_out(std::unique_ptr<Connection> connection,
                                                                             std::chrono::steady_clock::time_point now,
                                                                             std::uint64_t breaks, Origin origin,
                                                                             CircuitBreaker::Admission admission) {
    details::PoolState& s = *state_;
    if (s.options.on_acquire) {
        try {
            s.options.on_acquire(*connection);
        } catch (...) {
            const bool stale = origin == Origin::unchecked && connection->broken();
            // A dead idle socket found by on_acquire is the idle check's job,
            // not a failure of the server; any other break is.
            if (!stale && connection->broken()) {
                s.breaker.record_failure(admission, "on_acquire broke the connection (I/O error or command timeout)");
            }
            s.drop(std::move(connection));
            s.forget_slot(stale);
            if (stale) return std::nullopt;
            throw;
        }
    }
    return Lease(state_, std::move(connection), now, breaks, admission);
}

DOGPILE_INLINE std::shared_ptr<details::PoolState> ConnectionPool::make_state(PoolOptions options) {
    options.validate();
    return std::make_shared<details::PoolState>(std::move(options));
}

}  // namespace dogpile::redis
