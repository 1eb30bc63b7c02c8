#pragma once
// Server-assisted client-side caching over RESP2 (Redis 6+; hiredis 0.14 or
// 1.x): the invalidation listener a near cache (backends/near_cache.hpp)
// trusts.
//
//   auto listener = std::make_shared<redis::InvalidationListener>(redis::TrackingOptions{connection_options});
//   auto client = redis::make_tracked_client(*listener, pool_options);   // data connections
//   ... a Redis backend on `client`, a NearCacheBackend in front of it ...
//
// How it works. A dedicated connection (the listener) runs CLIENT ID and
// SUBSCRIBE __redis__:invalidate on its own thread. Redis then sends it
// messages naming keys that changed, expired or were evicted, or a null
// message for FLUSHALL / FLUSHDB; the listener hands them to its sinks (the
// near caches), which drop what they hold under those keys.
//
// * TrackingMode::standard: Redis remembers which keys each *data* connection
//   read. Every data connection therefore runs CLIENT TRACKING on REDIRECT
//   <listener id> before it serves a read: after every (re)connect and again
//   after the listener itself reconnected (a new id). instrument() installs
//   the pool hooks that do this. A tracked data connection that is dropped
//   takes its tracked keys with it (Redis forgets them), so the sinks are
//   flushed: when the pool drops it, or when the listener finds it gone from
//   the server (CLIENT LIST ID at every health check interval), because a
//   connection the server closes while it sits idle in the pool (its
//   `timeout`, CLIENT KILL) would otherwise only be noticed when next used.
// * TrackingMode::broadcast: the listener itself runs CLIENT TRACKING on
//   REDIRECT <its own id> BCAST PREFIX ... and Redis announces every change
//   under those prefixes, whoever read the key. Data connections need no
//   setup and their fate does not matter; the price is a message for every
//   write under the prefixes, cached here or not.
//
// Trust. The listener is "tracking" (session() != 0) from its subscription
// until its connection is lost; sinks are flushed on both edges, and a near
// tier serves nothing from memory while it is not tracking. The connection is
// watched: a PING goes out after health_check_interval without traffic, and
// a missing answer within connection.command_timeout counts as lost (a
// network partition does not close sockets). The listener reconnects with
// exponential backoff for as long as it exists.
//
// What remains: between the moment the listener's connection (or, in
// standard mode, a data connection) dies and the moment that is noticed,
// invalidations are lost. Both are bounded by the health check interval (plus
// a command timeout); NearCacheOptions::max_age bounds them whatever happens.
//
// Destruction stops the thread: a wake-up pipe interrupts its wait at once;
// a connect or handshake in progress finishes within its timeouts.

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "client.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/sigpipe.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "pool.hpp"
#include "reply.hpp"

namespace dogpile::redis {

enum class TrackingMode : std::uint8_t {
    // Redis tracks the keys each data connection read (the pool hooks from
    // InvalidationListener::instrument() are required).
    standard,
    // BCAST: every change of a key under one of TrackingOptions::prefixes is
    // announced; keys outside them are never cached by a near tier.
    broadcast,
};

struct TrackingOptions {
    // The server whose keys are cached (the data pool's server). on_connect
    // is ignored for the listener's own connection.
    ConnectionOptions connection{};
    TrackingMode mode = TrackingMode::standard;
    // Broadcast mode: the key prefixes announced, e.g. {"calculated-a|"}.
    // Empty means every key (a message for every write to the server).
    std::vector<std::string> prefixes{};
    // Waits between reconnect attempts: doubling from min to max, back to min
    // once a session has been established.
    std::chrono::milliseconds reconnect_backoff_min{20};
    std::chrono::milliseconds reconnect_backoff_max{2000};
    // A PING goes out after this long without traffic; no answer within
    // connection.command_timeout and the connection counts as lost. Standard
    // mode also checks at this interval that the tracked data connections
    // still exist on the server (one CLIENT LIST ID on a second connection).
    std::chrono::milliseconds health_check_interval{1000};

    void validate() const {
        connection.validate();
        if (reconnect_backoff_min.count() <= 0 || reconnect_backoff_max < reconnect_backoff_min) {
            throw ConfigurationError(
                "redis tracking options: reconnect_backoff_min must be positive and at most reconnect_backoff_max");
        }
        if (health_check_interval.count() <= 0) {
            throw ConfigurationError("redis tracking options: health_check_interval must be positive");
        }
        if (mode == TrackingMode::standard && !prefixes.empty()) {
            throw ConfigurationError(
                "redis tracking options: prefixes apply to TrackingMode::broadcast only (standard mode tracks the "
                "keys actually read)");
        }
        for (const auto& p : prefixes) {
            if (p.empty()) throw ConfigurationError("redis tracking options: an empty prefix (leave prefixes empty for all keys)");
        }
    }
};

// Why sinks are told to forget everything.
enum class FlushReason : std::uint8_t {
    server_flush,          // a null invalidation message: FLUSHALL or FLUSHDB
    listener_down,         // the invalidation connection was lost (or the listener stops)
    listener_up,           // a new session: nothing read before it can be trusted
    data_connection_lost,  // standard mode: a tracked data connection was dropped
    tracking_failed,       // standard mode: CLIENT TRACKING failed on a data connection
};

inline const char* to_string(FlushReason reason) noexcept {
    switch (reason) {
        case FlushReason::server_flush: return "server_flush";
        case FlushReason::listener_down: return "listener_down";
        case FlushReason::listener_up: return "listener_up";
        case FlushReason::data_connection_lost: return "data_connection_lost";
        case FlushReason::tracking_failed: break;
    }
    return "tracking_failed";
}

// Receives what the listener learns. Called from the listener's thread
// (messages, session edges) and from threads using the data pool (data
// connection events), possibly concurrently: implementations are
// thread-safe. They must not throw (a throw ends the listener's session,
// which flushes every sink) and must not subscribe or unsubscribe sinks.
class InvalidationSink {
public:
    virtual ~InvalidationSink() = default;
    // The Redis keys changed, expired or were evicted: forget what is cached under them.
    virtual void invalidate(const std::vector<std::string_view>& redis_keys) = 0;
    virtual void flush(FlushReason reason) = 0;
};

struct TrackingStats {
    std::uint64_t sessions = 0;             // subscriptions established (the first included)
    std::uint64_t connection_failures = 0;  // connects that failed and sessions lost
    std::uint64_t invalidation_messages = 0;
    std::uint64_t invalidated_keys = 0;
    std::uint64_t flush_messages = 0;        // FLUSHALL / FLUSHDB seen
    std::uint64_t flushes = 0;               // flushes delivered to sinks, every reason
    std::uint64_t tracked_connections = 0;   // CLIENT TRACKING runs on data connections
    std::uint64_t tracking_failures = 0;     // ... that Redis refused
    std::uint64_t data_connections_lost = 0; // tracked data connections dropped
};

namespace details {

inline constexpr std::string_view invalidation_channel = "__redis__:invalidate";

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

// Session numbers are unique across listeners, so a proof from one
// listener's pool never vouches for another's.
inline std::uint64_t next_session_number() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

struct TrackingCounters {
    std::atomic<std::uint64_t> sessions{0};
    std::atomic<std::uint64_t> connection_failures{0};
    std::atomic<std::uint64_t> invalidation_messages{0};
    std::atomic<std::uint64_t> invalidated_keys{0};
    std::atomic<std::uint64_t> flush_messages{0};
    std::atomic<std::uint64_t> flushes{0};
    std::atomic<std::uint64_t> tracked_connections{0};
    std::atomic<std::uint64_t> tracking_failures{0};
    std::atomic<std::uint64_t> data_connections_lost{0};
};

// Shared by the listener, its thread and the pool hooks (which may outlive
// the listener: they then find no session and do nothing).
class TrackingState {
public:
    explicit TrackingState(TrackingOptions o) : options(std::move(o)) {}

    const TrackingOptions options;
    TrackingCounters counters;

    std::uint64_t session() const noexcept { return session_.load(std::memory_order_acquire); }

    bool covers(std::string_view redis_key) const noexcept {
        if (options.mode != TrackingMode::broadcast || options.prefixes.empty()) return true;
        for (const auto& p : options.prefixes) {
            if (redis_key.substr(0, p.size()) == p) return true;
        }
        return false;
    }

    // --- session edges (listener thread) ---------------------------------

    void go_up(long long client_id) {
        flush(FlushReason::listener_up);  // before anyone can trust the new session
        {
            std::lock_guard<std::mutex> lock(mutex_);
            client_id_ = client_id;
            session_.store(next_session_number(), std::memory_order_release);
        }
        counters.sessions.fetch_add(1, std::memory_order_relaxed);
        changed_.notify_all();
    }

    void go_down() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            session_.store(0, std::memory_order_release);
        }
        flush(FlushReason::listener_down);
        changed_.notify_all();
    }

    template <class Predicate>
    bool wait(std::chrono::milliseconds timeout, Predicate&& holds) const {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return holds(session_.load(std::memory_order_relaxed)); });
    }

    void record_error(const std::string& what) {
        std::lock_guard<std::mutex> lock(mutex_);
        last_error_ = what;
    }
    std::string last_error() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return last_error_;
    }

    // --- sinks -------------------------------------------------------------

    void add_sink(InvalidationSink* sink) {
        std::unique_lock<std::shared_mutex> lock(sinks_mutex_);
        sinks_.push_back(sink);
    }
    // Returns once no call into `sink` is in progress.
    void remove_sink(InvalidationSink* sink) noexcept {
        std::unique_lock<std::shared_mutex> lock(sinks_mutex_);
        sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
    }

    // Counted once every sink has been told, so a counter that moved means
    // the sinks are done with it.
    void flush(FlushReason reason) {
        {
            std::shared_lock<std::shared_mutex> lock(sinks_mutex_);
            for (InvalidationSink* sink : sinks_) sink->flush(reason);
        }
        counters.flushes.fetch_add(1, std::memory_order_relaxed);
    }

    void invalidate(const std::vector<std::string_view>& keys) {
        {
            std::shared_lock<std::shared_mutex> lock(sinks_mutex_);
            for (InvalidationSink* sink : sinks_) sink->invalidate(keys);
        }
        counters.invalidated_keys.fetch_add(keys.size(), std::memory_order_relaxed);
        counters.invalidation_messages.fetch_add(1, std::memory_order_relaxed);
    }

    // --- data connection hooks (standard mode, pool threads) ---------------

    void on_connect(Connection& c) {
        // A reconnect() of a connection tracked in this session: the keys
        // Redis tracked for its old socket are forgotten.
        const std::uint64_t s = session();
        unregister(c);
        if (s != 0 && c.user_tag() == s) lose_data_connection();
        c.set_user_tag(0);
        ensure_tracked(c);
    }

    void on_acquire(Connection& c) { ensure_tracked(c); }

    void on_discard(Connection& c) noexcept {
        unregister(c);
        const std::uint64_t s = session();
        if (s != 0 && c.user_tag() == s) {
            try {
                lose_data_connection();
            } catch (...) {
                // Sinks do not throw; nothing sensible is left to do.
            }
        }
    }

    // --- liveness of tracked data connections (listener thread) -----------

    // CLIENT IDs of the data connections tracked in `session`.
    std::vector<long long> tracked_ids(std::uint64_t session) const {
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
        counters.data_connections_lost.fetch_add(1, std::memory_order_relaxed);
        flush(FlushReason::data_connection_lost);
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
        const std::uint64_t s = session();
        if (s == 0) {
            this_thread_read_proof().spoiled = true;
            return;
        }
        if (c.user_tag() == s) {
            prove(s);
            return;
        }
        long long id = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (session_.load(std::memory_order_relaxed) != s) {
                this_thread_read_proof().spoiled = true;  // the session just changed
                return;
            }
            id = client_id_;
        }
        // One round trip; an IoError propagates (the connection is broken
        // and will be dropped).
        const std::vector<Reply> replies =
            c.pipeline({Command{"CLIENT", "ID"}, Command{"CLIENT", "TRACKING", "on", "REDIRECT"}.arg(id)});
        if (replies[0].is_error() || replies[1].is_error() || !replies[0].is_integer()) {
            // Most likely the listener's connection has just gone (it will
            // notice); or CLIENT TRACKING is not permitted. Either way, what
            // this connection reads is not tracked.
            const Reply& bad = replies[1].is_error() ? replies[1] : replies[0];
            const std::string why = bad.is_error() ? std::string(bad.error_message()) : std::string("CLIENT ID: not an integer");
            counters.tracking_failures.fetch_add(1, std::memory_order_relaxed);
            record_error("CLIENT TRACKING on a data connection failed: " + why);
            this_thread_read_proof().spoiled = true;
            flush(FlushReason::tracking_failed);
            return;
        }
        {
            std::lock_guard<std::mutex> lock(registry_mutex_);
            registry_[&c] = Tracked{replies[0].as_integer(), s};
        }
        c.set_user_tag(s);
        counters.tracked_connections.fetch_add(1, std::memory_order_relaxed);
        prove(s);
    }

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::atomic<std::uint64_t> session_{0};  // 0: not tracking; written under mutex_
    long long client_id_ = 0;                // the listener's CLIENT ID in session_
    std::string last_error_;

    std::shared_mutex sinks_mutex_;
    std::vector<InvalidationSink*> sinks_;

    // Tracked data connections, for the liveness check. An entry leaves when
    // its connection is dropped or reconnects, or is found dead.
    mutable std::mutex registry_mutex_;
    std::unordered_map<const Connection*, Tracked> registry_;
};

// A pipe whose read end a poll() can wait on, so that another thread can
// interrupt the wait at once.
class WakePipe {
public:
    WakePipe() {
        if (::pipe(fds_) != 0) throw Error(std::string("redis tracking: pipe() failed: ") + std::strerror(errno));
        for (int fd : fds_) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
    }
    ~WakePipe() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    WakePipe(const WakePipe&) = delete;
    WakePipe& operator=(const WakePipe&) = delete;

    int read_fd() const noexcept { return fds_[0]; }
    void wake() noexcept {
        const char byte = 1;
        while (::write(fds_[1], &byte, 1) < 0 && errno == EINTR) {
        }
    }
    void drain() noexcept {
        char buffer[64];
        while (::read(fds_[0], buffer, sizeof buffer) > 0) {
        }
    }

private:
    int fds_[2] = {-1, -1};
};

}  // namespace details

class InvalidationListener {
public:
    // Starts the listener thread; it connects in the background (see
    // tracking() and wait_until_tracking()). Throws ConfigurationError for
    // invalid options.
    explicit InvalidationListener(TrackingOptions options)
        : state_(std::make_shared<details::TrackingState>(validated(std::move(options)))) {
        thread_ = std::thread([this] { run(); });
    }

    ~InvalidationListener() {
        stop_.store(true, std::memory_order_release);
        wake_.wake();
        if (thread_.joinable()) thread_.join();
    }

    InvalidationListener(const InvalidationListener&) = delete;
    InvalidationListener& operator=(const InvalidationListener&) = delete;

    // True while subscribed: near tiers may serve from memory.
    bool tracking() const noexcept { return state_->session() != 0; }

    // The current session's number (unique in the process), 0 while not tracking.
    std::uint64_t session() const noexcept { return state_->session(); }

    bool wait_until_tracking(std::chrono::milliseconds timeout) const {
        return state_->wait(timeout, [](std::uint64_t s) { return s != 0; });
    }

    // Waits for a session other than `previous` (after a reconnect).
    bool wait_for_new_session(std::uint64_t previous, std::chrono::milliseconds timeout) const {
        return state_->wait(timeout, [previous](std::uint64_t s) { return s != 0 && s != previous; });
    }

    // Pool options whose connections serve reads a near tier may keep:
    // standard mode adds hooks (chained after any already set) that run
    // CLIENT TRACKING on REDIRECT <listener> on each connection before it is
    // used in a session, and flush the sinks when a tracked connection is
    // dropped. Broadcast mode needs none and returns `pool` unchanged.
    PoolOptions instrument(PoolOptions pool) const {
        if (state_->options.mode == TrackingMode::broadcast) return pool;
        const std::shared_ptr<details::TrackingState> state = state_;
        pool.connection.on_connect = [state, previous = std::move(pool.connection.on_connect)](Connection& c) {
            if (previous) previous(c);
            state->on_connect(c);
        };
        pool.on_acquire = [state, previous = std::move(pool.on_acquire)](Connection& c) {
            if (previous) previous(c);
            state->on_acquire(c);
        };
        pool.on_discard = [state, previous = std::move(pool.on_discard)](Connection& c) {
            if (previous) {
                try {
                    previous(c);
                } catch (...) {
                }
            }
            state->on_discard(c);
        };
        return pool;
    }

    // Whether changes of `redis_key` are announced (broadcast prefixes).
    bool covers(std::string_view redis_key) const noexcept { return state_->covers(redis_key); }

    // --- for near tiers ----------------------------------------------------

    // Call before a remote read whose result may be kept: returns the session
    // it runs in (0: not tracking, keep nothing) and starts this thread's
    // proof of tracked connections.
    std::uint64_t begin_read() const noexcept {
        details::this_thread_read_proof() = details::ReadProof{};
        return state_->session();
    }

    // After that read: whether it ran entirely in `session`, which is still
    // current, on connections tracked for it (standard mode).
    bool read_was_tracked(std::uint64_t session) const noexcept {
        if (session == 0 || state_->session() != session) return false;
        if (state_->options.mode == TrackingMode::broadcast) return true;
        const details::ReadProof& proof = details::this_thread_read_proof();
        return !proof.spoiled && proof.session == session;
    }

    // Registers `sink` until the subscription is destroyed (which waits for
    // calls into the sink in progress). The sink must outlive it.
    class Subscription {
    public:
        Subscription() = default;
        Subscription(Subscription&& other) noexcept : state_(std::move(other.state_)), sink_(other.sink_) {
            other.sink_ = nullptr;
        }
        Subscription& operator=(Subscription&& other) noexcept {
            if (this != &other) {
                reset();
                state_ = std::move(other.state_);
                sink_ = other.sink_;
                other.sink_ = nullptr;
            }
            return *this;
        }
        Subscription(const Subscription&) = delete;
        Subscription& operator=(const Subscription&) = delete;
        ~Subscription() { reset(); }

        void reset() noexcept {
            if (state_ && sink_ != nullptr) state_->remove_sink(sink_);
            state_.reset();
            sink_ = nullptr;
        }

    private:
        friend class InvalidationListener;
        Subscription(std::shared_ptr<details::TrackingState> state, InvalidationSink* sink)
            : state_(std::move(state)), sink_(sink) {}

        std::shared_ptr<details::TrackingState> state_;
        InvalidationSink* sink_ = nullptr;
    };

    [[nodiscard]] Subscription subscribe(InvalidationSink& sink) {
        state_->add_sink(&sink);
        return Subscription(state_, &sink);
    }

    // Drops what every sink holds (e.g. after writing Redis in a way that
    // bypasses tracking). Counted as FlushReason::server_flush.
    void flush_all() { state_->flush(FlushReason::server_flush); }

    TrackingStats stats() const noexcept {
        const details::TrackingCounters& c = state_->counters;
        TrackingStats s;
        s.sessions = c.sessions.load(std::memory_order_relaxed);
        s.connection_failures = c.connection_failures.load(std::memory_order_relaxed);
        s.invalidation_messages = c.invalidation_messages.load(std::memory_order_relaxed);
        s.invalidated_keys = c.invalidated_keys.load(std::memory_order_relaxed);
        s.flush_messages = c.flush_messages.load(std::memory_order_relaxed);
        s.flushes = c.flushes.load(std::memory_order_relaxed);
        s.tracked_connections = c.tracked_connections.load(std::memory_order_relaxed);
        s.tracking_failures = c.tracking_failures.load(std::memory_order_relaxed);
        s.data_connections_lost = c.data_connections_lost.load(std::memory_order_relaxed);
        return s;
    }

    // The last error the listener or a hook saw (connect failures, refused
    // CLIENT TRACKING); empty when none.
    std::string last_error() const { return state_->last_error(); }

    const TrackingOptions& options() const noexcept { return state_->options; }

private:
    using Clock = std::chrono::steady_clock;

    static TrackingOptions validated(TrackingOptions options) {
        options.connection.on_connect = nullptr;
        options.validate();
        return options;
    }

    bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }

    void run() noexcept {
        auto backoff = state_->options.reconnect_backoff_min;
        while (!stopping()) {
            bool was_up = false;
            try {
                serve(was_up);
            } catch (const std::exception& e) {
                state_->counters.connection_failures.fetch_add(1, std::memory_order_relaxed);
                state_->record_error(std::string("invalidation listener: ") + e.what());
            } catch (...) {
                state_->counters.connection_failures.fetch_add(1, std::memory_order_relaxed);
                state_->record_error("invalidation listener: unknown error");
            }
            if (was_up) {
                try {
                    state_->go_down();
                } catch (...) {
                }
                backoff = state_->options.reconnect_backoff_min;
            }
            if (stopping()) break;
            try {
                wait_readable(-1, backoff);
            } catch (...) {
                // poll() on our own pipe does not fail in practice; waiting
                // is only a courtesy to the server, so carry on.
            }
            backoff = std::min(backoff * 2, state_->options.reconnect_backoff_max);
        }
    }

    // Polls `fd` (when >= 0) and the wake pipe. True when `fd` is readable
    // (or hung up); false on timeout or wake-up.
    bool wait_readable(int fd, std::chrono::milliseconds timeout) {
        pollfd fds[2];
        fds[0] = pollfd{wake_.read_fd(), POLLIN, 0};
        fds[1] = pollfd{fd, POLLIN, 0};
        const nfds_t n = fd >= 0 ? 2 : 1;
        const int ms = static_cast<int>(std::max<long long>(0, std::min<long long>(timeout.count(), 1 << 30)));
        int r = 0;
        do {
            r = ::poll(fds, n, ms);
        } while (r < 0 && errno == EINTR);
        if (r < 0) throw IoError(std::string("redis tracking: poll() failed: ") + std::strerror(errno));
        if (fds[0].revents != 0) wake_.drain();
        return n == 2 && fds[1].revents != 0;
    }

    // One session: returns when stopping, throws when the connection is lost.
    void serve(bool& was_up) {
        const TrackingOptions& o = state_->options;
        Connection connection(o.connection);
        if (stopping()) return;
        const long long id = connection.command({"CLIENT", "ID"}).as_integer();
        if (o.mode == TrackingMode::broadcast) {
            Command tracking{"CLIENT", "TRACKING", "on", "REDIRECT"};
            tracking.arg(id).arg("BCAST");
            for (const auto& p : o.prefixes) tracking.arg("PREFIX").arg(p);
            const Reply reply = connection.command(tracking);
            if (!reply.is_ok()) throw ProtocolError("redis CLIENT TRACKING BCAST: expected OK");
        }
        const Reply subscribed = connection.command({"SUBSCRIBE", details::invalidation_channel});
        if (!subscribed.is_array() || subscribed.size() < 2 || subscribed.at(0).view() != "subscribe") {
            throw ProtocolError("redis SUBSCRIBE " + std::string(details::invalidation_channel) +
                                ": unexpected confirmation");
        }
        state_->go_up(id);
        was_up = true;

        redisContext* ctx = connection.native_handle();
        auto last_traffic = Clock::now();
        std::optional<Clock::time_point> ping_sent;
        // Standard mode: tracked data connections the server closed by itself
        // are looked for at the health check interval.
        bool check_connections = o.mode == TrackingMode::standard;
        auto next_check = last_traffic + o.health_check_interval;
        std::optional<Connection> control;  // for CLIENT LIST, opened on demand
        for (;;) {
            // Replies already buffered by hiredis first: poll() cannot see them.
            void* raw = nullptr;
            for (;;) {
                if (redisGetReplyFromReader(ctx, &raw) != REDIS_OK) {
                    throw ProtocolError(std::string("redis invalidation listener: protocol error: ") + ctx->errstr);
                }
                if (raw == nullptr) break;
                last_traffic = Clock::now();
                if (handle(Reply::adopt(static_cast<redisReply*>(raw)))) ping_sent.reset();
            }
            if (stopping()) return;
            auto now = Clock::now();
            if (check_connections && now >= next_check) {
                check_data_connections(control, check_connections);
                now = Clock::now();
                next_check = now + o.health_check_interval;
                continue;  // replies may have arrived meanwhile
            }
            const auto deadline = ping_sent ? *ping_sent + o.connection.command_timeout
                                            : last_traffic + o.health_check_interval;
            if (now >= deadline) {
                if (ping_sent) {
                    throw TimeoutError("redis invalidation listener: no answer to PING within " +
                                       std::to_string(o.connection.command_timeout.count()) + " ms");
                }
                send_ping(ctx);
                ping_sent = now;
                continue;
            }
            const auto wake_at = check_connections ? std::min(deadline, next_check) : deadline;
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now) +
                              std::chrono::milliseconds(1);
            if (wait_readable(ctx->fd, wait)) {
                if (redisBufferRead(ctx) != REDIS_OK) {
                    throw IoError(std::string("redis invalidation listener: connection lost: ") + ctx->errstr);
                }
            }
        }
    }

    // Asks the server which of the data connections tracked in this session
    // it still has (one CLIENT LIST ID round trip on a separate connection).
    void check_data_connections(std::optional<Connection>& control, bool& enabled) {
        const std::uint64_t session = state_->session();
        const std::vector<long long> ids = state_->tracked_ids(session);
        if (session == 0 || ids.empty()) return;
        try {
            if (!control || control->broken()) {
                control.reset();
                control.emplace(state_->options.connection);
            }
            Command list{"CLIENT", "LIST", "ID"};
            for (long long id : ids) list.arg(id);
            const Reply reply = control->command(list);
            state_->forget_dead(session, ids, client_ids_in(reply.view()));
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

    // The ids of CLIENT LIST's lines ("id=12 addr=... \n").
    static std::vector<long long> client_ids_in(std::string_view list) {
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

    static void send_ping(redisContext* ctx) {
        const char* argv[] = {"PING"};
        const std::size_t lens[] = {4};
        if (redisAppendCommandArgv(ctx, 1, argv, lens) != REDIS_OK) {
            throw IoError(std::string("redis invalidation listener: cannot queue PING: ") + ctx->errstr);
        }
        details::SigpipeGuard sigpipe;
        int done = 0;
        while (done == 0) {
            if (redisBufferWrite(ctx, &done) != REDIS_OK) {
                throw IoError(std::string("redis invalidation listener: cannot send PING: ") + ctx->errstr);
            }
        }
    }

    // Returns true for a PING answer.
    bool handle(const Reply& reply) {
        if (!reply.is_array() || reply.size() == 0 || !reply.at(0).is_string()) return false;
        const std::string_view kind = reply.at(0).view();
        if (kind == "pong") return true;
        if (kind != "message" || reply.size() < 3) return false;
        if (!reply.at(1).is_string() || reply.at(1).view() != details::invalidation_channel) return false;
        const Reply payload = reply.at(2);
        if (payload.is_nil()) {
            state_->flush(FlushReason::server_flush);
            state_->counters.flush_messages.fetch_add(1, std::memory_order_relaxed);
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

    std::shared_ptr<details::TrackingState> state_;
    std::atomic<bool> stop_{false};
    details::WakePipe wake_;
    std::thread thread_;  // last: started once everything else exists
};

// A client whose data connections are tracked by `listener` (standard mode;
// in broadcast mode a plain client).
inline std::shared_ptr<Client> make_tracked_client(const InvalidationListener& listener, PoolOptions pool) {
    return std::make_shared<SingleServerClient>(listener.instrument(std::move(pool)));
}

}  // namespace dogpile::redis
