#pragma once
/// \file
/// PipelinedClient: a Client (client.hpp) that multiplexes concurrent callers
/// onto a few shared connections and pipelines their commands automatically
/// (docs/architecture.md, "Auto-pipelining").
///
/// * A caller queues its commands on a shared connection (a "lane"). Whoever
///   finds nobody writing becomes the writer: it sends every command queued so
///   far in one write, and again for what queued meanwhile. Nobody waits for
///   a batch to fill: a lone caller's round trip is the one it would make on
///   a pooled connection.
/// * The replies are read by one of the waiting callers for everyone, while
///   new writes go on (several writes in flight), and handed out in order;
///   each caller is woken on its own slot. Once its own reply is in, the
///   reader hands the reading to the caller whose reply comes next.
/// * A caller blocks at most the connection's command_timeout or what is left
///   of the region call's budget (details/call_budget.hpp). A caller that
///   gives up before its commands were written takes them out of the queue;
///   after, its replies are read and dropped, so the lane stays in step. The
///   connection times out when command_timeout passes without any reply.
/// * A connection lost or timed out with commands in flight fails exactly the
///   callers of those commands (IoError or TimeoutError); the next writer
///   reconnects. Replies are matched by position on one connection, and a
///   dropped connection takes its unanswered callers with it, so no caller
///   can receive another's reply.
/// * Never on a lane, always on a connection leased from the client's own
///   ConnectionPool: the commands named by needs_own_connection(), which
///   change the state of their connection or may block it (SUBSCRIBE and the
///   other pub/sub modes, CLIENT (TRACKING, SETNAME, ...), WATCH/MULTI/EXEC/
///   DISCARD, SELECT, AUTH/HELLO/RESET/QUIT, MONITOR, SYNC, READONLY/
///   READWRITE/ASKING, BLPOP and the other blocking pops, XREAD(GROUP),
///   WAIT/WAITAOF); any pipeline or batch containing one; every
///   with_connection() caller; and every call when the pool has an on_acquire
///   hook (a tracked client for a near cache, InvalidationListener::
///   instrument(): the hook must run on the connection serving the caller).
/// * A circuit breaker like the pool's (PoolOptions::breaker) admits and
///   judges the lane calls; the pool's on_acquire/on_discard hooks apply to
///   the pool's connections only; the lanes connect with pool.connection.
/// * EVALSHA calls recover from NOSCRIPT as with every client (script.hpp).
/// * make_client(url) still makes the pooled client: docs/performance.md,
///   "Throughput under concurrency", says why.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
#include "client.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "options.hpp"
#include "circuit_breaker.hpp"
#include "pool.hpp"
#include "reply.hpp"
#include "script.hpp"

namespace dogpile::redis {

/// How a PipelinedClient shares its connections.
struct PipelinedOptions {
    /// Shared connections (lanes) the callers' commands are multiplexed onto;
    /// callers take them in turn.
    std::size_t connections = 1;
    /// The pool for the commands that need a connection of their own; its
    /// connection options are the lanes' too, its breaker options the lanes'
    /// breaker's.
    PoolOptions pool{};

    /// Throws ConfigurationError for zero connections or invalid pool options.
    void validate() const;
};

/// True for a command that must not share a connection with other callers:
/// it changes the connection's state (SELECT, CLIENT ..., WATCH, MULTI,
/// SUBSCRIBE, ...) or may block it (BLPOP, XREAD, WAIT, ...).
bool needs_own_connection(const Command& cmd) noexcept;

namespace details {

/// One shared connection and the callers queued on it (redis/pipelined_client.hpp;
/// docs/architecture.md, "Auto-pipelining").
class PipelinedLane {
public:
    /// Connects on first use, with `options`.
    explicit PipelinedLane(ConnectionOptions options) : options_(std::move(options)) {}
    PipelinedLane(const PipelinedLane&) = delete;
    PipelinedLane& operator=(const PipelinedLane&) = delete;

    /// Runs get(0..count-1) in one write shared with other callers;
    /// replies in order, error replies included.
    template <class GetCommand>
    std::vector<Reply> run(std::size_t count, const GetCommand& get) {
        return run_erased(count, &get, [](const void* context, std::size_t i) -> const Command& {
            return (*static_cast<const GetCommand*>(context))(i);
        });
    }

    /// Writes on the shared connection (each carries every command queued when it began).
    std::uint64_t round_trips() const noexcept { return round_trips_.load(std::memory_order_relaxed); }
    /// Connections opened (the first one and reconnects).
    std::uint64_t connects() const noexcept { return connects_.load(std::memory_order_relaxed); }
    /// Commands whose write has returned (handed to the socket), answered or not.
    std::uint64_t commands_written() const noexcept { return commands_written_.load(std::memory_order_relaxed); }

private:
    using Clock = std::chrono::steady_clock;
    using CommandAt = const Command& (*)(const void*, std::size_t);

    // One caller's commands and the slot its caller waits on: each caller
    // has its own condition variable, woken only for its own reply or to
    // take over the reading.
    struct Request {
        const void* context = nullptr;
        CommandAt command_at = nullptr;
        std::size_t count = 0;
        std::size_t reply_limit = 0;   // the caller's ReplyLimitScope
        Clock::time_point deadline{};  // when its caller gives up
        std::vector<Reply> replies;
        std::exception_ptr error;
        bool written = false;    // formatted into a write: its replies will come
        bool abandoned = false;  // written, then its caller gave up: replies dropped
        bool done = false;
        bool reads = false;  // its caller reads the connection for everyone
        std::condition_variable wake;
    };
    using RequestPtr = std::shared_ptr<Request>;

    std::vector<Reply> run_erased(std::size_t count, const void* context, CommandAt command_at);
    // The writer: sends everything queued (connecting first if needed) until
    // the queue is empty. Lock held on entry and on return.
    void write_queued(std::unique_lock<std::mutex>& lock);
    // The reader: reads replies and hands them out until `own` is done (true)
    // or its deadline passes (false, `own` abandoned). Either way the reading
    // passes to a waiting caller. Lock held on entry and on return.
    bool read_until_done(std::unique_lock<std::mutex>& lock, Request& own);
    void hand_over_reading(Request& own);
    // With nobody reading, makes the first waiting caller in flight the reader.
    void appoint_reader();
    // Gives `replies` to the oldest requests in flight, in order.
    void deliver(std::vector<Reply>& replies);
    // A copy of `error` for one of the callers it fails.
    static std::exception_ptr copy_for_caller(const std::exception_ptr& error);
    // Drops the connection: every request in flight fails with `error`.
    void drop_connection(const std::exception_ptr& error);
    // Wakes `request`'s caller once the lock is released (unlock_and_wake()):
    // woken under it, the caller would block on the mutex at once. The
    // RequestPtr keeps its condition variable alive until then.
    void wake(const RequestPtr& request);
    // Releases the lock, then wakes the callers wake() put off. Every release
    // of the lock goes through it (a caller about to wait calls it first), so
    // no wake is left behind.
    void unlock_and_wake(std::unique_lock<std::mutex>& lock);

    const ConnectionOptions options_;
    std::mutex mutex_;  // guards what follows, except the calls on connection_
    std::deque<RequestPtr> queued_;
    std::deque<RequestPtr> in_flight_;  // in the order written
    std::vector<RequestPtr> woken_;     // wake(): woken once the lock is released
    bool writing_ = false;
    bool reading_ = false;
    // Shared with the writer and the reader while they work without the
    // lock: a connection dropped meanwhile stays open (its socket shut down)
    // until both let go, so its descriptor is never reused under them.
    std::shared_ptr<Connection> connection_;
    int connection_fd_ = -1;
    std::uint64_t generation_ = 0;       // the number of connections dropped
    Clock::time_point last_progress_{};  // a write into an idle connection or a read
    std::mutex io_mutex_;                // one call at a time on a Connection (its writer's or its reader's)
    std::atomic<std::uint64_t> round_trips_{0};
    std::atomic<std::uint64_t> connects_{0};
    std::atomic<std::uint64_t> commands_written_{0};
};

}  // namespace details

/// A Client whose concurrent callers share a few connections, their commands
/// pipelined automatically; see pipelined_client.hpp. Thread-safe.
class PipelinedClient final : public Client {
public:
    /// Connects lazily (the lanes on first use, the pool as it does). Throws
    /// ConfigurationError for invalid options.
    explicit PipelinedClient(PipelinedOptions options);

    using Client::batch;
    using Client::command;
    using Client::eval;

    /// One command on a lane (or the pool, see pipelined_client.hpp); an error reply throws ReplyError.
    DOGPILE_INLINE Reply command(std::string_view routing_key, const Command& cmd) override;
    /// The commands in one write shared with other callers; replies in order, error replies included.
    DOGPILE_INLINE std::vector<Reply> pipeline(std::string_view routing_key,
                                               const std::vector<Command>& commands) override;
    /// pipeline() for keyed commands, with NOSCRIPT recovery for `scripts`.
    DOGPILE_INLINE std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                                            const std::vector<const Script*>& scripts) override;
    /// EVALSHA on a lane, loading the script after a NOSCRIPT (script.hpp).
    DOGPILE_INLINE Reply eval(const Script& script, const ScriptCall& call) override;
    /// Many EVALSHA calls in one write, with NOSCRIPT recovery; replies in order.
    DOGPILE_INLINE std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) override;
    /// Runs `fn` on a pooled connection, never a lane.
    DOGPILE_INLINE void with_connection(std::string_view routing_key,
                                        const std::function<void(Connection&)>& fn) override;
    /// The pool's (and the lanes') connection options.
    DOGPILE_INLINE ConnectionOptions connection_options(std::string_view routing_key) const override;
    /// The lanes' round trips (one per write, however many callers it
    /// served) plus the pool's.
    DOGPILE_INLINE std::uint64_t round_trips() const override;
    /// The shared connections' breaker and the pool's, added up (accumulate()).
    DOGPILE_INLINE BreakerStats breaker_stats() const override;

    /// The pool of the commands that need a connection of their own.
    ConnectionPool& pool() noexcept { return *pool_; }
    /// Connections the lanes opened (the first ones and reconnects).
    DOGPILE_INLINE std::uint64_t lane_connects() const noexcept;
    /// Commands the lanes have written (their write returned), answered or
    /// not: a test waits on it to know that a command reached the socket.
    DOGPILE_INLINE std::uint64_t commands_written() const noexcept;

private:
    using LaneStat = std::uint64_t (details::PipelinedLane::*)() const noexcept;
    std::uint64_t lanes_total(LaneStat stat) const noexcept {
        std::uint64_t total = 0;
        for (const auto& lane : lanes_) total += ((*lane).*stat)();
        return total;
    }
    details::PipelinedLane& next_lane() noexcept {
        return *lanes_[next_.fetch_add(1, std::memory_order_relaxed) % lanes_.size()];
    }
    // One call on a lane, admitted and judged by the lanes' breaker as a
    // lease is by the pool's: an IoError (TimeoutError included) is a failure.
    template <class GetCommand>
    std::vector<Reply> run_on_lane(std::size_t count, const GetCommand& get);
    // One lane round trip, and one more for the calls of `scripts` that came
    // back NOSCRIPT.
    template <class GetCommand>
    std::vector<Reply> run_with_scripts(std::size_t count, const GetCommand& get,
                                        const std::vector<const Script*>& scripts);

    std::shared_ptr<ConnectionPool> pool_;
    std::unique_ptr<CircuitBreaker> lane_breaker_;
    // False when the pool has an on_acquire hook (InvalidationListener::
    // instrument(), any per-lease setup): the hook must run on the connection
    // that serves the caller, so every call is a pooled one.
    bool share_connections_ = true;
    std::vector<std::unique_ptr<details::PipelinedLane>> lanes_;
    std::atomic<std::size_t> next_{0};
};

template <class GetCommand>
std::vector<Reply> PipelinedClient::run_on_lane(std::size_t count, const GetCommand& get) {
    const CircuitBreaker::Admission admission = lane_breaker_->admit();  // throws CircuitOpenError, no I/O
    try {
        std::vector<Reply> replies = next_lane().run(count, get);
        lane_breaker_->record_success(admission);
        return replies;
    } catch (const IoError& e) {
        lane_breaker_->record_failure(admission, e.what());
        throw;
    } catch (...) {
        if (admission == CircuitBreaker::Admission::probe) lane_breaker_->abandon_probe();
        throw;
    }
}

template <class GetCommand>
std::vector<Reply> PipelinedClient::run_with_scripts(std::size_t count, const GetCommand& get,
                                                     const std::vector<const Script*>& scripts) {
    if (!share_connections_) {
        auto lease = pool_->acquire();
        return details::pipeline_with_script_recovery(*lease, count, get, scripts);
    }
    std::vector<Reply> replies = run_on_lane(count, get);
    details::recover_noscript(
        replies, get, scripts, [&](const std::vector<const Script*>& loads, const std::vector<std::size_t>& calls) {
            std::vector<Command> again;
            again.reserve(loads.size() + calls.size());
            for (const Script* s : loads) again.push_back(s->load_command());
            for (std::size_t i : calls) again.push_back(get(i));
            return run_on_lane(again.size(), [&again](std::size_t i) -> const Command& { return again[i]; });
        });
    return replies;
}

/// A PipelinedClient for `url` (as for make_client()); options.pool.connection is set from it.
std::shared_ptr<Client> make_pipelined_client(std::string_view url, PipelinedOptions options = {});

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "pipelined_client-inl.hpp"
#endif
