#pragma once
// Definitions of pipelined_client.hpp (details/linkage.hpp: inline when header-only).

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "../details/call_budget.hpp"
#include "details/ascii.hpp"
#include "details/reply_limit.hpp"
#include "details/resp_command.hpp"
#include "details/resp_scanner.hpp"
#include "details/socket_stream.hpp"
#include "errors.hpp"
#include "pipelined_client.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void PipelinedOptions::validate() const {
    if (connections == 0) throw ConfigurationError("redis pipelined client options: connections must be at least 1");
    pool.validate();
}

DOGPILE_INLINE bool needs_own_connection(const Command& cmd) noexcept {
    // Pub/sub modes, per-connection state (CLIENT TRACKING, names, replies,
    // the database, transactions, authentication, cluster read modes) and
    // commands that may hold the connection for their whole timeout.
    static constexpr std::string_view names[] = {
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "CLIENT",
        "WATCH",     "UNWATCH",    "MULTI",      "EXEC",        "DISCARD",      "SELECT",       "AUTH",
        "HELLO",     "RESET",      "QUIT",       "MONITOR",     "SYNC",         "PSYNC",        "READONLY",
        "READWRITE", "ASKING",     "BLPOP",      "BRPOP",       "BRPOPLPUSH",   "BLMOVE",       "BLMPOP",
        "BZPOPMIN",  "BZPOPMAX",   "BZMPOP",     "XREAD",       "XREADGROUP",   "WAIT",         "WAITAOF"};
    const std::string_view name = cmd.name();
    return std::any_of(std::begin(names), std::end(names),
                       [name](std::string_view n) { return details::iequals_ascii(name, n); });
}

namespace details {

template <class E>
std::exception_ptr with_own_message(const E& e) {
    return std::make_exception_ptr(E(std::string(e.what())));
}

// One exception object rethrown in several threads would share its message
// (libstdc++ counts the references outside what ThreadSanitizer sees, so it
// reports the last owner freeing it as a race): each caller gets an object of
// its own, its message copied. Types it does not know stay shared.
DOGPILE_INLINE std::exception_ptr PipelinedLane::copy_for_caller(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const PoolTimeout& e) {
        return with_own_message(e);
    } catch (const TimeoutError& e) {
        return with_own_message(e);
    } catch (const CircuitOpenError& e) {
        return with_own_message(e);
    } catch (const IoError& e) {
        return with_own_message(e);
    } catch (const ProtocolError& e) {
        return with_own_message(e);
    } catch (const ReplyTooLarge& e) {
        return with_own_message(e);
    } catch (...) {
        return error;
    }
}

// The first value of `reply` (its elements, nested, included) that the
// rule of a Connection's read (RespScanner::over_limit) refuses under `limit`.
DOGPILE_INLINE std::optional<RespScanner::Oversized> oversized_value(const Reply& reply, std::size_t limit) {
    const redisReply& node = *reply.raw();
    const auto bytes = static_cast<std::uint64_t>(node.len);
    switch (reply.type()) {
        case ReplyType::nil:
        case ReplyType::boolean: return std::nullopt;
        case ReplyType::string: return RespScanner::over_limit(bytes, false, limit);
        // hiredis keeps the body after its "txt:" prefix.
        case ReplyType::verbatim: return RespScanner::over_limit(bytes + 4, false, limit);
        case ReplyType::integer: return RespScanner::over_limit(std::to_string(node.integer).size() + 1, true, limit);
        case ReplyType::array:
        case ReplyType::map:
        case ReplyType::set:
        case ReplyType::push:
        case ReplyType::attribute:
            for (std::size_t i = 0; i < reply.size(); ++i) {
                if (auto oversized = oversized_value(reply.at(i), limit)) return oversized;
            }
            return std::nullopt;
        default: return RespScanner::over_limit(bytes + 1, true, limit);  // a line and its type byte
    }
}

DOGPILE_INLINE std::vector<Reply> PipelinedLane::run_erased(std::size_t count, const void* context,
                                                            CommandAt command_at) {
    using dogpile::details::CallBudget;
    if (count == 0) return {};
    // Refused here, not by the writer: one caller's bad command must not
    // fail the others' write.
    for (std::size_t i = 0; i < count; ++i) {
        if (command_at(context, i).empty()) throw ConfigurationError("redis: cannot send an empty command");
    }
    const CallBudget::duration own = options_.command_timeout;
    const std::optional<CallBudget::duration> budget = CallBudget::remaining(own);
    if (budget && *budget <= CallBudget::duration::zero()) {
        throw TimeoutError("redis " + options_.describe() + ": not sent: the call's Redis time budget is spent");
    }
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + (budget ? std::min(own, *budget) : own);

    auto request = std::make_shared<Request>();
    request->context = context;
    request->command_at = command_at;
    request->count = count;
    request->reply_limit = ReplyLimitScope::effective(options_.max_reply_bulk_bytes);
    request->deadline = deadline;

    std::unique_lock<std::mutex> lock(mutex_);
    queued_.push_back(request);
    if (!writing_) write_queued(lock);
    bool timed_out = false;
    while (!request->done) {
        // Nobody reads: the first caller with a reply to wait for does.
        if (!reading_ && request->written && !request->abandoned) {
            reading_ = true;
            request->reads = true;
        }
        if (request->reads) {
            if (!read_until_done(lock, *request)) timed_out = true;
            if (timed_out) break;
            continue;
        }
        // The wakes it put off as the writer go out before it sleeps.
        if (!woken_.empty()) {
            unlock_and_wake(lock);
            lock.lock();
            continue;
        }
        if (request->wake.wait_until(lock, deadline, [&] { return request->done || request->reads; })) continue;
        // Not yet written: nothing of it reaches the server. Written: its
        // replies are read by whoever reads, and dropped.
        if (request->written) {
            request->abandoned = true;
        } else {
            queued_.erase(std::find(queued_.begin(), queued_.end(), request));
        }
        timed_out = true;
        break;
    }
    // Made the reader, then failed with the connection before it began.
    if (request->reads) hand_over_reading(*request);
    unlock_and_wake(lock);
    const CallBudget::duration waited = Clock::now() - start;
    CallBudget::charge(waited);
    if (timed_out) {
        throw TimeoutError("redis " + options_.describe() + ": no reply within " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
                           " ms on the shared connection");
    }
    // Taken out of the request, which its waker may release last: the caller's
    // thread must drop its own exception (copy_for_caller() says why).
    if (std::exception_ptr error = std::move(request->error)) std::rethrow_exception(error);
    return std::move(request->replies);
}

DOGPILE_INLINE void PipelinedLane::write_queued(std::unique_lock<std::mutex>& lock) {
    using dogpile::details::CallBudget;
    writing_ = true;
    while (!queued_.empty()) {
        std::shared_ptr<Connection> connection = connection_;
        std::exception_ptr error;
        if (!connection) {
            // Callers arriving meanwhile join this write.
            unlock_and_wake(lock);
            try {
                connection = std::make_shared<Connection>(options_);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            if (!error) {
                connects_.fetch_add(1, std::memory_order_relaxed);
                connection_ = connection;
                connection_fd_ = connection->fd();
            }
        }
        std::deque<RequestPtr> batch;
        batch.swap(queued_);
        std::string commands;
        // Formatted under the lock: a caller that gives up once its request
        // is written returns at once, and its commands go with it.
        if (!error) {
            try {
                for (const auto& r : batch) {
                    for (std::size_t i = 0; i < r->count; ++i) {
                        const Command& cmd = r->command_at(r->context, i);
                        append_resp_command(commands, cmd.size(), [&cmd](std::size_t a) { return cmd[a]; });
                    }
                }
            } catch (...) {
                error = std::current_exception();
            }
        }
        if (error) {
            for (const auto& r : batch) {
                r->error = copy_for_caller(error);
                r->done = true;
                wake(r);
            }
            continue;
        }
        const std::uint64_t generation = generation_;
        if (in_flight_.empty()) last_progress_ = Clock::now();
        std::size_t batch_commands = 0;
        for (auto& r : batch) {
            batch_commands += r->count;
            r->written = true;
            in_flight_.push_back(std::move(r));  // before the write: the wire's order
        }
        unlock_and_wake(lock);
        try {
            // Its bytes carry other callers' commands: only the connection's
            // own timeout bounds the write, never this caller's budget.
            CallBudget::Pause pause;
            std::lock_guard<std::mutex> io(io_mutex_);
            connection->send_formatted(commands);
        } catch (...) {
            error = std::current_exception();
        }
        round_trips_.fetch_add(1, std::memory_order_relaxed);
        if (!error) commands_written_.fetch_add(batch_commands, std::memory_order_relaxed);
        lock.lock();
        if (error && generation == generation_) drop_connection(error);
        // The reader may have left while this batch was on its way.
        appoint_reader();
    }
    writing_ = false;
}

DOGPILE_INLINE bool PipelinedLane::read_until_done(std::unique_lock<std::mutex>& lock, Request& own) {
    using dogpile::details::CallBudget;
    while (!own.done) {
        const std::shared_ptr<Connection> connection = connection_;
        const int fd = connection_fd_;
        const std::uint64_t generation = generation_;
        std::size_t reply_limit = 0;
        for (const auto& r : in_flight_) reply_limit = std::max(reply_limit, r->reply_limit);
        const Clock::time_point lane_deadline = last_progress_ + options_.command_timeout;
        const Clock::time_point until = std::min(own.deadline, lane_deadline);
        unlock_and_wake(lock);
        std::vector<Reply> replies;
        std::exception_ptr error;
        bool waited_out = false;
        try {
            // Each caller's ReplyLimitScope is on its own thread: replies
            // are read under the loosest of those in flight, and deliver()
            // applies each caller's own.
            ReplyLimitOverride limit(reply_limit);
            CallBudget::Pause pause;
            bool buffered = false;
            {
                std::lock_guard<std::mutex> io(io_mutex_);
                buffered = connection->has_buffered_input();
            }
            // Waits without the io lock: the writer keeps sending new
            // batches while the replies of earlier ones are on their way.
            if (!buffered) {
                try {
                    wait_for_socket(fd, POLLIN, until, "read");
                } catch (const TimeoutError&) {
                    waited_out = true;
                }
            }
            if (!waited_out) {
                std::lock_guard<std::mutex> io(io_mutex_);
                connection->read_available();
                while (std::optional<Reply> reply = connection->next_buffered_reply()) {
                    replies.push_back(std::move(*reply));
                }
            }
        } catch (...) {
            error = std::current_exception();
        }
        lock.lock();
        if (generation != generation_) continue;  // dropped by the writer: `own` failed with it
        if (error) {
            drop_connection(error);
            continue;
        }
        if (!replies.empty()) {
            last_progress_ = Clock::now();
            deliver(replies);
            continue;
        }
        if (!waited_out) continue;
        if (Clock::now() >= lane_deadline) {
            try {
                throw TimeoutError("redis " + options_.describe() + ": no reply within " +
                                   std::to_string(options_.command_timeout.count()) + " ms on the shared connection");
            } catch (...) {
                drop_connection(std::current_exception());
            }
            continue;
        }
        // Its own deadline came first: the others keep waiting.
        own.abandoned = true;
        hand_over_reading(own);
        return false;
    }
    hand_over_reading(own);
    return true;
}

DOGPILE_INLINE void PipelinedLane::hand_over_reading(Request& own) {
    own.reads = false;
    reading_ = false;
    appoint_reader();
}

DOGPILE_INLINE void PipelinedLane::appoint_reader() {
    if (reading_) return;
    // The caller whose reply comes next: it is woken for it anyway.
    for (const auto& r : in_flight_) {
        if (r->abandoned) continue;
        reading_ = true;
        r->reads = true;
        wake(r);
        return;
    }
}

DOGPILE_INLINE void PipelinedLane::deliver(std::vector<Reply>& replies) {
    for (Reply& reply : replies) {
        if (in_flight_.empty()) {
            drop_connection(std::make_exception_ptr(
                ProtocolError("redis " + options_.describe() + ": a reply nobody asked for on the shared connection")));
            return;
        }
        const RequestPtr& front = in_flight_.front();
        // Read under the loosest limit of the callers in flight: each one's
        // own applies here, failing that caller alone (the reply consumed,
        // the connection in step).
        if (!front->error && front->reply_limit < options_.max_reply_bulk_bytes) {
            if (const auto oversized = oversized_value(reply, front->reply_limit)) {
                front->error = std::make_exception_ptr(
                    ReplyTooLarge("redis " + options_.describe() + ": " +
                                  RespScanner::describe(*oversized, front->reply_limit, options_.max_reply_bulk_bytes) +
                                  "; dropped, the shared connection stays in use"));
            }
        }
        front->replies.push_back(std::move(reply));
        if (front->replies.size() < front->count) continue;
        front->done = true;
        wake(front);
        in_flight_.pop_front();
    }
}

DOGPILE_INLINE void PipelinedLane::drop_connection(const std::exception_ptr& error) {
    ++generation_;
    // Wakes a reader waiting on the socket; the Connection closes it once
    // the writer and the reader let go of it.
    if (connection_fd_ >= 0) ::shutdown(connection_fd_, SHUT_RDWR);
    connection_.reset();
    connection_fd_ = -1;
    for (const auto& r : in_flight_) {
        r->error = copy_for_caller(error);
        r->done = true;
        wake(r);
    }
    in_flight_.clear();
}

DOGPILE_INLINE void PipelinedLane::wake(const RequestPtr& request) { woken_.push_back(request); }

DOGPILE_INLINE void PipelinedLane::unlock_and_wake(std::unique_lock<std::mutex>& lock) {
    if (woken_.empty()) {
        lock.unlock();
        return;
    }
    // Kept per thread, so that no call allocates for it.
    thread_local std::vector<RequestPtr> woken;
    woken.swap(woken_);
    lock.unlock();
    for (const auto& r : woken) r->wake.notify_one();
    woken.clear();
}

}  // namespace details

DOGPILE_INLINE PipelinedClient::PipelinedClient(PipelinedOptions options) {
    options.validate();
    lanes_.reserve(options.connections);
    for (std::size_t i = 0; i < options.connections; ++i) {
        lanes_.push_back(std::make_unique<details::PipelinedLane>(options.pool.connection));
    }
    lane_breaker_ = std::make_unique<CircuitBreaker>(options.pool.breaker, options.pool.connection.describe());
    share_connections_ = !options.pool.on_acquire;
    pool_ = std::make_shared<ConnectionPool>(std::move(options.pool));
}

namespace details {

template <class Commands, class CommandOf>
bool any_needs_own_connection(const Commands& commands, const CommandOf& command_of) noexcept {
    return std::any_of(commands.begin(), commands.end(),
                       [&command_of](const auto& c) { return needs_own_connection(command_of(c)); });
}

}  // namespace details

DOGPILE_INLINE Reply PipelinedClient::command(std::string_view /*routing_key*/, const Command& cmd) {
    if (!share_connections_ || needs_own_connection(cmd)) return pool_->acquire()->command(cmd);
    std::vector<Reply> replies = run_on_lane(1, [&cmd](std::size_t) -> const Command& { return cmd; });
    Reply& reply = replies.front();
    if (reply.is_error()) throw ReplyError(std::string(reply.error_message()), "redis " + std::string(cmd.name()));
    return std::move(reply);
}

DOGPILE_INLINE std::vector<Reply> PipelinedClient::pipeline(std::string_view /*routing_key*/,
                                                            const std::vector<Command>& commands) {
    if (commands.empty()) return {};
    if (!share_connections_ ||
        details::any_needs_own_connection(commands, [](const Command& c) -> const Command& { return c; })) {
        return pool_->acquire()->pipeline(commands);
    }
    return run_on_lane(commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; });
}

DOGPILE_INLINE std::vector<Reply> PipelinedClient::batch(const std::vector<KeyedCommand>& commands,
                                                         const std::vector<const Script*>& scripts) {
    if (commands.empty()) return {};
    const auto get = [&commands](std::size_t i) -> const Command& { return commands[i].command; };
    if (details::any_needs_own_connection(commands,
                                          [](const KeyedCommand& c) -> const Command& { return c.command; })) {
        auto lease = pool_->acquire();
        return details::pipeline_with_script_recovery(*lease, commands.size(), get, scripts);
    }
    return run_with_scripts(commands.size(), get, scripts);
}

DOGPILE_INLINE Reply PipelinedClient::eval(const Script& script, const ScriptCall& call) {
    const Command cmd = script.evalsha_command(call);
    std::vector<Reply> replies = run_with_scripts(1, [&cmd](std::size_t) -> const Command& { return cmd; }, {&script});
    replies.front().throw_if_error("redis EVALSHA " + script.sha1().substr(0, 12));
    return std::move(replies.front());
}

DOGPILE_INLINE std::vector<Reply> PipelinedClient::eval_batch(const Script& script,
                                                              const std::vector<ScriptCall>& calls) {
    if (calls.empty()) return {};
    const std::vector<Command> commands = script.evalsha_commands(calls);
    return run_with_scripts(commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
                            {&script});
}

DOGPILE_INLINE void PipelinedClient::with_connection(std::string_view /*routing_key*/,
                                                     const std::function<void(Connection&)>& fn) {
    auto lease = pool_->acquire();
    fn(*lease);
}

DOGPILE_INLINE ConnectionOptions PipelinedClient::connection_options(std::string_view /*routing_key*/) const {
    return pool_->options().connection;
}

DOGPILE_INLINE std::uint64_t PipelinedClient::round_trips() const {
    return pool_->round_trips() + lanes_total(&details::PipelinedLane::round_trips);
}

DOGPILE_INLINE BreakerStats PipelinedClient::breaker_stats() const {
    BreakerStats total = lane_breaker_->stats();
    accumulate(total, pool_->breaker_stats());
    return total;
}

DOGPILE_INLINE std::uint64_t PipelinedClient::lane_connects() const noexcept {
    return lanes_total(&details::PipelinedLane::connects);
}

DOGPILE_INLINE std::uint64_t PipelinedClient::commands_written() const noexcept {
    return lanes_total(&details::PipelinedLane::commands_written);
}

DOGPILE_INLINE std::shared_ptr<Client> make_pipelined_client(std::string_view url, PipelinedOptions options) {
    options.pool.connection = ConnectionOptions::from_url(url, std::move(options.pool.connection));
    return std::make_shared<PipelinedClient>(std::move(options));
}

}  // namespace dogpile::redis
