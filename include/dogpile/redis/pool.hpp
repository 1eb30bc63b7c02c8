#pragma once
/// \file
/// ConnectionPool: at most `size` Connections, opened on demand and shared by
/// many threads.
///
/// * acquire() waits up to acquire_timeout for a free connection (then
///   PoolTimeout).
/// * A connection that broke is dropped when its lease ends, and an idle one
///   whose peer closed (a restarted server) before it is handed out; the slot is
///   reopened on demand, so the pool heals once Redis is back. The idle check
///   (one system call) runs for connections idle at least idle_check_after.
/// * No command, connect or AUTH runs under the pool's lock.
/// * on_acquire / on_discard let per-connection server state (CLIENT TRACKING)
///   follow the connections.
/// * A lease keeps the pool's state alive, so it may outlive the pool object.
/// * A circuit breaker (circuit_breaker.hpp, PoolOptions::breaker) counts
///   leases that come back broken and failed connects; once open, acquire()
///   throws CircuitOpenError at once, without I/O, until one probe succeeds.

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

#include "../details/linkage.hpp"
#include "circuit_breaker.hpp"
#include "connection.hpp"
#include "errors.hpp"
#include "options.hpp"

namespace dogpile::redis {

/// How many connections a ConnectionPool opens, how long a caller waits for one, and the hooks and
/// circuit breaker around them.
struct PoolOptions {
    /// Upper bound on open connections.
    std::size_t size = 8;
    /// How long acquire() waits for a free connection before PoolTimeout.
    /// Zero means "do not wait".
    std::chrono::milliseconds acquire_timeout{1000};
    ConnectionOptions connection;  ///< how each connection is opened
    /// An idle connection last handed out this long ago (or more) is checked
    /// for a closed socket before it is handed out again. Zero (the default)
    /// checks every time, so a restart or CLIENT KILL is never seen by a
    /// caller. A positive value (1 s stays below the smallest idle `timeout`
    /// a Redis server accepts) saves that system call on hot connections, at
    /// the price of one IoError per pool for the first caller after the
    /// server closed its sockets; that break then makes the pool check the rest.
    std::chrono::milliseconds idle_check_after{0};
    /// Run on the acquiring thread before a connection is handed out (new or
    /// idle), without the pool's lock. What it throws reaches acquire()'s
    /// caller and the connection is dropped (on_discard runs). Round trips it
    /// makes are not counted in round_trips(), like a connection's handshake.
    std::function<void(Connection&)> on_acquire{};
    /// Run when the pool drops a connection (broken, closed by the peer while
    /// idle, discarded by its lease), just before it is closed. Must not
    /// throw; what it throws is swallowed.
    std::function<void(Connection&)> on_discard{};
    /// Fails callers fast while the server keeps failing (circuit_breaker.hpp).
    /// On by default; failure_threshold = nullopt turns it off.
    BreakerOptions breaker{};

    /// Throws ConfigurationError naming the bad field (a zero size, a negative timeout, bad
    /// connection or breaker options).
    void validate() const;
};

namespace details {

struct PoolState {
    explicit PoolState(PoolOptions o)
        : options(std::move(o)), breaker(options.breaker, options.connection.describe()) {}

    const PoolOptions options;
    CircuitBreaker breaker;
    std::mutex mutex;
    std::condition_variable returned;
    struct Idle {
        std::unique_ptr<Connection> connection;
        std::chrono::steady_clock::time_point handed_out;  // when its last lease began
        std::uint64_t breaks_seen;                         // `breaks` when its last lease began
    };
    std::vector<Idle> idle;   // most recently used last
    std::size_t open = 0;     // idle + leased + being opened
    std::size_t waiting = 0;  // callers blocked in acquire()
    // Connections found broken or closed so far. A break often means the
    // server went away, taking every other socket with it, so connections
    // whose last lease began before it are checked whatever their age.
    std::uint64_t breaks = 0;

    // Written when a lease ends; read by tests and statistics.
    std::atomic<std::uint64_t> round_trips{0};
    std::atomic<std::uint64_t> created{0};
    std::atomic<std::uint64_t> discarded{0};

    void give_back(std::unique_ptr<Connection> connection, std::uint64_t round_trips_at_lease,
                   std::chrono::steady_clock::time_point handed_out, std::uint64_t breaks_at_lease,
                   CircuitBreaker::Admission admission);

    // Tells the breaker how a lease ended: broken, healthy after a round
    // trip, or without evidence either way.
    void judge(const Connection& connection, std::uint64_t round_trips_in_lease, CircuitBreaker::Admission admission);

    // Called with the lock held.
    bool needs_check(const Idle& entry, std::chrono::steady_clock::time_point now) const noexcept {
        return entry.breaks_seen != breaks || now - entry.handed_out >= options.idle_check_after;
    }

    // Counts, tells on_discard and closes a connection that leaves the pool.
    void drop(std::unique_ptr<Connection> connection) noexcept;

    void forget_slot(bool broke = false);
};

}  // namespace details

/// At most PoolOptions::size Connections, opened on demand and shared by many threads (the rules
/// are in pool.hpp). Thread-safe.
class ConnectionPool {
public:
    /// A connection on loan. Returns it to the pool (or drops it, if broken)
    /// when destroyed.
    class Lease {
    public:
        /// Takes over `other`'s connection; `other` holds none afterwards.
        Lease(Lease&& other) noexcept
            : state_(std::move(other.state_)),
              connection_(std::move(other.connection_)),
              start_(other.start_),
              handed_out_(other.handed_out_),
              breaks_(other.breaks_),
              admission_(other.admission_) {}
        /// Returns this lease's connection, then takes over `other`'s.
        Lease& operator=(Lease&& other) noexcept {
            if (this != &other) {
                release();
                state_ = std::move(other.state_);
                connection_ = std::move(other.connection_);
                start_ = other.start_;
                handed_out_ = other.handed_out_;
                breaks_ = other.breaks_;
                admission_ = other.admission_;
            }
            return *this;
        }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { release(); }

        /// The leased connection, for this lease's lifetime.
        Connection& operator*() const noexcept { return *connection_; }
        /// The leased connection, for this lease's lifetime.
        Connection* operator->() const noexcept { return connection_.get(); }
        /// The leased connection, for this lease's lifetime.
        Connection& get() const noexcept { return *connection_; }

        /// Closes the connection instead of returning it (the caller knows it
        /// is in a state nobody else should inherit).
        void discard();

    private:
        friend class ConnectionPool;
        Lease(std::shared_ptr<details::PoolState> state, std::unique_ptr<Connection> connection,
              std::chrono::steady_clock::time_point handed_out, std::uint64_t breaks,
              CircuitBreaker::Admission admission)
            : state_(std::move(state)),
              connection_(std::move(connection)),
              start_(connection_->round_trips()),
              handed_out_(handed_out),
              breaks_(breaks),
              admission_(admission) {}

        void release() noexcept {
            if (!connection_) return;
            state_->give_back(std::move(connection_), start_, handed_out_, breaks_, admission_);
            state_.reset();
        }

        std::shared_ptr<details::PoolState> state_;
        std::unique_ptr<Connection> connection_;
        std::uint64_t start_ = 0;
        std::chrono::steady_clock::time_point handed_out_{};
        std::uint64_t breaks_ = 0;
        CircuitBreaker::Admission admission_ = CircuitBreaker::Admission::regular;
    };

    /// Opens no connection yet. Throws ConfigurationError for invalid options.
    explicit ConnectionPool(PoolOptions options) : state_(make_state(std::move(options))) {}

    /// Waits up to options().acquire_timeout.
    Lease acquire() { return acquire(state_->options.acquire_timeout); }

    /// Throws PoolTimeout when no connection becomes free in time,
    /// CircuitOpenError while the breaker is open (at once, without I/O), or
    /// what opening a new connection throws (IoError, AuthError, ...).
    Lease acquire(std::chrono::milliseconds timeout);

    /// The options it was made with.
    const PoolOptions& options() const noexcept { return state_->options; }

    /// Round trips made by commands on leased connections (handshakes of new
    /// connections are not counted); updated when a lease ends.
    std::uint64_t round_trips() const noexcept { return state_->round_trips.load(std::memory_order_relaxed); }
    /// Connections opened since the pool was made.
    std::uint64_t connections_created() const noexcept { return state_->created.load(std::memory_order_relaxed); }
    /// Connections dropped since the pool was made (broken, closed while idle, discarded).
    std::uint64_t connections_discarded() const noexcept { return state_->discarded.load(std::memory_order_relaxed); }

    /// Connections that exist now: idle, leased or being opened.
    std::size_t open_connections() const;
    /// Idle connections among them, ready to be handed out.
    std::size_t idle_connections() const;
    /// Callers blocked in acquire() because every connection is leased: a
    /// pool that is too small for its load shows here first.
    std::size_t waiting_callers() const;

    /// The circuit breaker's state and how often it opened, closed and failed a caller fast.
    BreakerStats breaker_stats() const { return state_->breaker.stats(); }

private:
    enum class Origin { checked, unchecked };

    // The slot of `connection` is counted in `open`; on failure it is freed.
    // std::nullopt: on_acquire broke a connection handed out without the
    // idle check, i.e. it did the check's job (the socket was dead); the
    // caller tries again rather than failing for a connection it never used.
    std::optional<Lease> hand_out(std::unique_ptr<Connection> connection, std::chrono::steady_clock::time_point now,
                                  std::uint64_t breaks, Origin origin, CircuitBreaker::Admission admission);

    Lease acquire_admitted(std::chrono::milliseconds timeout, CircuitBreaker::Admission admission);

    static std::shared_ptr<details::PoolState> make_state(PoolOptions options);

    std::shared_ptr<details::PoolState> state_;
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "pool-inl.hpp"
#endif
