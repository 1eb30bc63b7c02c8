#pragma once
// ConnectionPool: at most `size` Connections, opened on demand and shared by
// many threads.
//
// * acquire() waits up to acquire_timeout for a free connection (then
//   PoolTimeout).
// * A connection that broke is dropped when its lease ends, and an idle one
//   whose peer closed (a restarted server) before it is handed out; the slot is
//   reopened on demand, so the pool heals once Redis is back. The idle check
//   (one system call) runs for connections idle at least idle_check_after.
// * No command, connect or AUTH runs under the pool's lock.
// * on_acquire / on_discard let per-connection server state (CLIENT TRACKING)
//   follow the connections.
// * A lease keeps the pool's state alive, so it may outlive the pool object.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "errors.hpp"
#include "options.hpp"

namespace dogpile::redis {

struct PoolOptions {
    // Upper bound on open connections.
    std::size_t size = 8;
    // How long acquire() waits for a free connection before PoolTimeout.
    // Zero means "do not wait".
    std::chrono::milliseconds acquire_timeout{1000};
    ConnectionOptions connection;
    // An idle connection last handed out this long ago (or more) is checked
    // for a closed socket before it is handed out again. Zero (the default)
    // checks every time, so a restart or CLIENT KILL is never seen by a
    // caller. A positive value (1 s stays below the smallest idle `timeout`
    // a Redis server accepts) saves that system call on hot connections, at
    // the price of one IoError per pool for the first caller after the
    // server closed its sockets; that break then makes the pool check the rest.
    std::chrono::milliseconds idle_check_after{0};
    // Run on the acquiring thread before a connection is handed out (new or
    // idle), without the pool's lock. What it throws reaches acquire()'s
    // caller and the connection is dropped (on_discard runs). Round trips it
    // makes are not counted in round_trips(), like a connection's handshake.
    std::function<void(Connection&)> on_acquire{};
    // Run when the pool drops a connection (broken, closed by the peer while
    // idle, discarded by its lease), just before it is closed. Must not
    // throw; what it throws is swallowed.
    std::function<void(Connection&)> on_discard{};

    void validate() const {
        if (size == 0) throw ConfigurationError("redis pool options: size must be at least 1");
        if (acquire_timeout.count() < 0) throw ConfigurationError("redis pool options: acquire_timeout must not be negative");
        if (idle_check_after.count() < 0) {
            throw ConfigurationError("redis pool options: idle_check_after must not be negative");
        }
        connection.validate();
    }
};

namespace details {

struct PoolState {
    explicit PoolState(PoolOptions o) : options(std::move(o)) {}

    const PoolOptions options;
    std::mutex mutex;
    std::condition_variable returned;
    struct Idle {
        std::unique_ptr<Connection> connection;
        std::chrono::steady_clock::time_point handed_out;  // when its last lease began
        std::uint64_t breaks_seen;                         // `breaks` when its last lease began
    };
    std::vector<Idle> idle;  // most recently used last
    std::size_t open = 0;    // idle + leased + being opened
    std::size_t waiting = 0; // callers blocked in acquire()
    // Connections found broken or closed so far. A break often means the
    // server went away, taking every other socket with it, so connections
    // whose last lease began before it are checked whatever their age.
    std::uint64_t breaks = 0;

    // Written when a lease ends; read by tests and statistics.
    std::atomic<std::uint64_t> round_trips{0};
    std::atomic<std::uint64_t> created{0};
    std::atomic<std::uint64_t> discarded{0};

    void give_back(std::unique_ptr<Connection> connection, std::uint64_t round_trips_at_lease,
                   std::chrono::steady_clock::time_point handed_out, std::uint64_t breaks_at_lease) {
        round_trips.fetch_add(connection->round_trips() - round_trips_at_lease, std::memory_order_relaxed);
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

    // Called with the lock held.
    bool needs_check(const Idle& entry, std::chrono::steady_clock::time_point now) const noexcept {
        return entry.breaks_seen != breaks || now - entry.handed_out >= options.idle_check_after;
    }

    // Counts, tells on_discard and closes a connection that leaves the pool.
    void drop(std::unique_ptr<Connection> connection) noexcept {
        discarded.fetch_add(1, std::memory_order_relaxed);
        if (options.on_discard) {
            try {
                options.on_discard(*connection);
            } catch (...) {
            }
        }
        connection.reset();  // closes the socket; never under the lock
    }

    void forget_slot(bool broke = false) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            --open;
            if (broke) ++breaks;
        }
        returned.notify_one();
    }
};

}  // namespace details

class ConnectionPool {
public:
    // A connection on loan. Returns it to the pool (or drops it, if broken)
    // when destroyed.
    class Lease {
    public:
        Lease(Lease&& other) noexcept
            : state_(std::move(other.state_)),
              connection_(std::move(other.connection_)),
              start_(other.start_),
              handed_out_(other.handed_out_),
              breaks_(other.breaks_) {}
        Lease& operator=(Lease&& other) noexcept {
            if (this != &other) {
                release();
                state_ = std::move(other.state_);
                connection_ = std::move(other.connection_);
                start_ = other.start_;
                handed_out_ = other.handed_out_;
                breaks_ = other.breaks_;
            }
            return *this;
        }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { release(); }

        Connection& operator*() const noexcept { return *connection_; }
        Connection* operator->() const noexcept { return connection_.get(); }
        Connection& get() const noexcept { return *connection_; }

        // Closes the connection instead of returning it (the caller knows it
        // is in a state nobody else should inherit).
        void discard() {
            if (!connection_) return;
            state_->round_trips.fetch_add(connection_->round_trips() - start_, std::memory_order_relaxed);
            state_->drop(std::move(connection_));
            state_->forget_slot();
            state_.reset();
        }

    private:
        friend class ConnectionPool;
        Lease(std::shared_ptr<details::PoolState> state, std::unique_ptr<Connection> connection,
              std::chrono::steady_clock::time_point handed_out, std::uint64_t breaks)
            : state_(std::move(state)),
              connection_(std::move(connection)),
              start_(connection_->round_trips()),
              handed_out_(handed_out),
              breaks_(breaks) {}

        void release() noexcept {
            if (!connection_) return;
            state_->give_back(std::move(connection_), start_, handed_out_, breaks_);
            state_.reset();
        }

        std::shared_ptr<details::PoolState> state_;
        std::unique_ptr<Connection> connection_;
        std::uint64_t start_ = 0;
        std::chrono::steady_clock::time_point handed_out_{};
        std::uint64_t breaks_ = 0;
    };

    explicit ConnectionPool(PoolOptions options) : state_(make_state(std::move(options))) {}

    // Waits up to options().acquire_timeout.
    Lease acquire() { return acquire(state_->options.acquire_timeout); }

    // Throws PoolTimeout when no connection becomes free in time, or what
    // opening a new connection throws (IoError, AuthError, ...).
    Lease acquire(std::chrono::milliseconds timeout) {
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
                    auto lease =
                        hand_out(std::move(connection), now, breaks, check ? Origin::checked : Origin::unchecked);
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
                } catch (...) {
                    s.forget_slot();
                    throw;
                }
                s.created.fetch_add(1, std::memory_order_relaxed);
                return std::move(*hand_out(std::move(connection), std::chrono::steady_clock::now(), breaks,
                                           Origin::checked));
            }
            ++s.waiting;
            const bool woke = s.returned.wait_until(
                lock, deadline, [&s] { return !s.idle.empty() || s.open < s.options.size; });
            --s.waiting;
            if (!woke) {
                throw PoolTimeout("redis " + s.options.connection.describe() + ": no pooled connection became free within " +
                                  std::to_string(timeout.count()) + " ms (all " + std::to_string(s.options.size) +
                                  " connections in use; raise PoolOptions::size or acquire_timeout)");
            }
        }
    }

    const PoolOptions& options() const noexcept { return state_->options; }

    // Round trips made by commands on leased connections (handshakes of new
    // connections are not counted); updated when a lease ends.
    std::uint64_t round_trips() const noexcept { return state_->round_trips.load(std::memory_order_relaxed); }
    std::uint64_t connections_created() const noexcept { return state_->created.load(std::memory_order_relaxed); }
    std::uint64_t connections_discarded() const noexcept { return state_->discarded.load(std::memory_order_relaxed); }

    // Connections that exist now (idle, leased or being opened) and idle ones.
    std::size_t open_connections() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->open;
    }
    std::size_t idle_connections() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->idle.size();
    }
    // Callers blocked in acquire() because every connection is leased: a
    // pool that is too small for its load shows here first.
    std::size_t waiting_callers() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->waiting;
    }

private:
    enum class Origin { checked, unchecked };

    // The slot of `connection` is counted in `open`; on failure it is freed.
    // std::nullopt: on_acquire broke a connection handed out without the
    // idle check, i.e. it did the check's job (the socket was dead); the
    // caller tries again rather than failing for a connection it never used.
    std::optional<Lease> hand_out(std::unique_ptr<Connection> connection, std::chrono::steady_clock::time_point now,
                                  std::uint64_t breaks, Origin origin) {
        details::PoolState& s = *state_;
        if (s.options.on_acquire) {
            try {
                s.options.on_acquire(*connection);
            } catch (...) {
                const bool stale = origin == Origin::unchecked && connection->broken();
                s.drop(std::move(connection));
                s.forget_slot(stale);
                if (stale) return std::nullopt;
                throw;
            }
        }
        return Lease(state_, std::move(connection), now, breaks);
    }

    static std::shared_ptr<details::PoolState> make_state(PoolOptions options) {
        options.validate();
        return std::make_shared<details::PoolState>(std::move(options));
    }

    std::shared_ptr<details::PoolState> state_;
};

}  // namespace dogpile::redis
