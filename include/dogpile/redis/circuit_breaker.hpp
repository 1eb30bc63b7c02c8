#pragma once
/// \file
/// CircuitBreaker: stops a pool from sending callers into a server that keeps
/// failing (docs/architecture.md, "Deadlines").
///
/// * closed: calls go through. failure_threshold consecutive failures (a
///   connection that broke during its lease: I/O error, timeout; or a failed
///   connect) open it.
/// * open: admit() throws CircuitOpenError at once, without any I/O, until
///   probe_interval has passed since it opened.
/// * half-open: exactly one caller (the probe) is let through; the others
///   still fail fast. The probe's success closes the breaker, its failure
///   re-opens it for another probe_interval.
///
/// Successes are leases that made at least one round trip and came back
/// healthy; a lease that made none proves nothing and changes nothing.
///
/// Thread safety: every member may be called from any thread. on_state_change
/// runs on the thread that caused the change, outside the breaker's lock.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "../details/linkage.hpp"
#include "errors.hpp"

namespace dogpile::redis {

/// A circuit breaker's state: closed (calls go through), open (calls fail fast) or half_open (one
/// probe is let through); see circuit_breaker.hpp.
enum class BreakerState { closed, open, half_open };

/// "closed", "open" or "half-open", for logs and metrics.
std::string_view to_string(BreakerState state) noexcept;

/// A state change, as reported to BreakerOptions::on_state_change.
struct BreakerEvent {
    BreakerState from;   ///< the state before the change
    BreakerState to;     ///< the state after it
    std::string server;  ///< ConnectionOptions::describe() of the pool's server
    /// Why: the last failure's description when opening, the probe's outcome otherwise.
    std::string message;
    /// 1, 2, 3, ... per breaker, in the order the changes happened. Changes
    /// made on different threads may reach the observer in another order.
    std::uint64_t sequence = 0;
};

/// When a pool's circuit breaker opens and probes (PoolOptions::breaker).
struct BreakerOptions {
    /// Consecutive failures that open the breaker. nullopt: never opens (no breaker).
    std::optional<std::size_t> failure_threshold = 3;
    /// How long the breaker stays open before one probe is let through.
    std::chrono::milliseconds probe_interval{1000};
    /// Told of every state change; must not throw (what it throws is swallowed).
    /// The Redis backends' configuration wires it to their error hook
    /// (backends/redis/backend_options.hpp, report_breaker_to()).
    std::function<void(const BreakerEvent&)> on_state_change{};

    /// Throws ConfigurationError naming the bad field (a zero threshold or a non-positive
    /// interval).
    void validate() const;
};

/// A breaker's state and counters since it was created.
struct BreakerStats {
    BreakerState state = BreakerState::closed;  ///< the state now
    std::uint64_t opened = 0;                   ///< closed or half-open -> open
    std::uint64_t closed = 0;                   ///< half-open -> closed (a probe succeeded)
    std::uint64_t rejected = 0;                 ///< calls failed fast while open
};

/// Several breakers as one (a cluster's nodes, a Sentinel's masters): the
/// counts added up, the state the most alarming one (open, then half-open).
void accumulate(BreakerStats& total, const BreakerStats& one) noexcept;

/// Fails a pool's callers fast while its server keeps failing; the states and rules are in
/// circuit_breaker.hpp. Thread-safe.
class CircuitBreaker {
public:
    /// What admit() let through: a regular call, or the half-open breaker's single probe.
    enum class Admission { regular, probe };

    /// `server` names the server in events and CircuitOpenError messages
    /// (ConnectionOptions::describe()). Throws ConfigurationError for invalid options.
    CircuitBreaker(BreakerOptions options, std::string server);

    /// Before any I/O for a caller. Throws CircuitOpenError while open (and
    /// while half-open with the probe still out); otherwise says whether this
    /// caller is the probe, whose outcome must be recorded or abandoned.
    Admission admit();

    /// The outcome of a caller admit() let through. While half-open only the
    /// probe's outcome counts: leases handed out before the breaker opened
    /// may still come back either way.
    void record_success(Admission admission);
    /// `what` describes the failure; it becomes the message of the event that opens the breaker.
    void record_failure(Admission admission, std::string_view what);
    /// The probe ended without telling anything (it made no round trip, or
    /// failed for a reason that is not the server's): the next caller probes.
    void abandon_probe() noexcept;

    /// The state and counters now.
    BreakerStats stats() const;
    /// The options it was made with.
    const BreakerOptions& options() const noexcept { return options_; }

private:
    using SteadyClock = std::chrono::steady_clock;

    // Called with the lock held; returns the event to report once it is released.
    BreakerEvent open_locked(BreakerState from, std::string_view why);
    void notify(const std::optional<BreakerEvent>& event) const noexcept;

    const BreakerOptions options_;
    const std::string server_;
    mutable std::mutex mutex_;
    // Read without the lock on the fast paths (closed, no failures).
    std::atomic<BreakerState> state_{BreakerState::closed};
    std::atomic<std::size_t> consecutive_failures_{0};
    bool probe_out_ = false;
    SteadyClock::time_point next_probe_{};
    std::chrono::system_clock::time_point opened_at_{};
    std::string last_failure_;
    std::atomic<std::uint64_t> opened_{0}, closed_{0}, rejected_{0};
    std::uint64_t changes_ = 0;  // the last BreakerEvent::sequence
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "circuit_breaker-inl.hpp"
#endif
