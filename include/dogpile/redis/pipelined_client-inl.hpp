#pragma once
// Definitions of pipelined_client.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <chrono>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "../details/call_budget.hpp"
#include "details/ascii.hpp"
#include "details/reply_limit.hpp"
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

DOGPILE_INLINE std::vector<Reply> PipelinedLane::run_erased(std::size_t count, const void* context,
                                                            CommandAt command_at) {
    using Clock = std::chrono::steady_clock;
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
    const Clock::time_point deadline = Clock::now() + (budget ? std::min(own, *budget) : own);

    auto request = std::make_shared<Request>();
    request->context = context;
    request->command_at = command_at;
    request->count = count;
    request->reply_limit = ReplyLimitScope::effective(options_.max_reply_bulk_bytes);
    request->deadline = deadline;

    CallBudget::duration waited{};
    std::unique_lock<std::mutex> lock(mutex_);
    queued_.push_back(request);
    if (!busy_) {
        busy_ = true;
        request->leads = true;
    }
    while (!request->done) {
        if (request->leads) {
            drive(lock, *request);
            break;
        }
        const Clock::time_point before = Clock::now();
        const bool woken = request->wake.wait_until(lock, deadline, [&] { return request->done || request->leads; });
        waited += Clock::now() - before;
        if (woken) continue;
        // Not yet written: nothing of it reaches the server. Written: its
        // replies are read by whoever drives the lane, and dropped.
        if (request->taken) {
            request->abandoned = true;
        } else {
            queued_.erase(std::find(queued_.begin(), queued_.end(), request));
        }
        lock.unlock();
        CallBudget::charge(waited);
        throw TimeoutError("redis " + options_.describe() + ": no reply within " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
                           " ms on the shared connection");
    }
    if (lock.owns_lock()) lock.unlock();
    CallBudget::charge(waited);
    if (request->error) std::rethrow_exception(request->error);
    return std::move(request->replies);
}

DOGPILE_INLINE void PipelinedLane::drive(std::unique_lock<std::mutex>& lock, const Request& own) {
    for (;;) {
        if (!in_flight_.empty()) read_in_flight(lock);
        if (queued_.empty()) break;
        send_queued(lock);
        if (!own.done) continue;  // its commands were in what was just sent
        // Done, with a batch in flight: one of its callers reads it, so this
        // caller's wait ends with its own reply. The next batch is already
        // on the wire while that caller wakes up.
        // The waiting caller with the latest deadline reads, so a short
        // budget does not cut the read short for the others.
        std::shared_ptr<Request> next;
        for (const auto& r : in_flight_) {
            if (!r->abandoned && (!next || r->deadline > next->deadline)) next = r;
        }
        if (!next && !queued_.empty()) next = queued_.front();
        if (!next) break;  // nobody waits: the next caller reads it first
        next->leads = true;
        lock.unlock();
        next->wake.notify_one();
        return;
    }
    busy_ = false;
    lock.unlock();
}

DOGPILE_INLINE void PipelinedLane::send_queued(std::unique_lock<std::mutex>& lock) {
    std::exception_ptr error;
    if (!connection_ || connection_->broken()) {
        // Callers arriving meanwhile join this write.
        lock.unlock();
        try {
            connection_.reset();
            connection_ = std::make_unique<Connection>(options_);
            connects_.fetch_add(1, std::memory_order_relaxed);
        } catch (...) {
            error = std::current_exception();
        }
        lock.lock();
    }
    Batch batch(queued_.begin(), queued_.end());
    queued_.clear();
    for (const auto& r : batch) {
        r->taken = true;
        r->leads = false;
    }
    // Formatted under the lock: a caller that gives up once its request is
    // taken returns at once, and its commands go with it.
    if (!error) {
        try {
            pipeline_.emplace(*connection_);
            for (const auto& r : batch) {
                for (std::size_t i = 0; i < r->count; ++i) pipeline_->add(r->command_at(r->context, i));
            }
        } catch (...) {
            error = std::current_exception();
        }
    }
    lock.unlock();
    if (!error) {
        try {
            const std::uint64_t before = connection_->round_trips();
            pipeline_->send();
            round_trips_.fetch_add(connection_->round_trips() - before, std::memory_order_relaxed);
        } catch (...) {
            error = std::current_exception();
        }
    }
    if (error) {
        pipeline_.reset();  // before the connection it may break
        if (connection_ && connection_->broken()) connection_.reset();
    }
    lock.lock();
    if (error) {
        std::vector<Reply> none;
        finish(batch, none, error);
    } else {
        in_flight_ = std::move(batch);
    }
}

DOGPILE_INLINE void PipelinedLane::read_in_flight(std::unique_lock<std::mutex>& lock) {
    Batch batch = std::move(in_flight_);
    in_flight_.clear();
    std::size_t reply_limit = 0;
    for (const auto& r : batch) reply_limit = std::max(reply_limit, r->reply_limit);
    lock.unlock();
    std::vector<Reply> replies;
    std::exception_ptr error;
    try {
        // Each caller's ReplyLimitScope is on its own thread: the batch is
        // read under the loosest of them, never the reading caller's alone.
        ReplyLimitOverride limit(reply_limit);
        replies = pipeline_->execute();
    } catch (...) {
        error = std::current_exception();
    }
    pipeline_.reset();
    if (connection_ && connection_->broken()) connection_.reset();
    lock.lock();
    finish(batch, replies, error);
}

DOGPILE_INLINE void PipelinedLane::finish(Batch& batch, std::vector<Reply>& replies, const std::exception_ptr& error) {
    std::size_t offset = 0;
    for (const auto& r : batch) {
        if (error) {
            r->error = error;
        } else {
            const auto first = replies.begin() + static_cast<std::ptrdiff_t>(offset);
            r->replies.assign(std::make_move_iterator(first),
                              std::make_move_iterator(first + static_cast<std::ptrdiff_t>(r->count)));
        }
        offset += r->count;
        r->done = true;
        r->wake.notify_one();
    }
}

}  // namespace details

DOGPILE_INLINE PipelinedClient::PipelinedClient(PipelinedOptions options) {
    options.validate();
    lanes_.reserve(options.connections);
    for (std::size_t i = 0; i < options.connections; ++i) {
        lanes_.push_back(std::make_unique<details::PipelinedLane>(options.pool.connection));
    }
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
    if (needs_own_connection(cmd)) return pool_->acquire()->command(cmd);
    std::vector<Reply> replies = next_lane().run(1, [&cmd](std::size_t) -> const Command& { return cmd; });
    Reply& reply = replies.front();
    if (reply.is_error()) throw ReplyError(std::string(reply.error_message()), "redis " + std::string(cmd.name()));
    return std::move(reply);
}

DOGPILE_INLINE std::vector<Reply> PipelinedClient::pipeline(std::string_view /*routing_key*/,
                                                            const std::vector<Command>& commands) {
    if (commands.empty()) return {};
    if (details::any_needs_own_connection(commands, [](const Command& c) -> const Command& { return c; })) {
        return pool_->acquire()->pipeline(commands);
    }
    return next_lane().run(commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; });
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
    std::uint64_t total = pool_->round_trips();
    for (const auto& lane : lanes_) total += lane->round_trips();
    return total;
}

DOGPILE_INLINE std::uint64_t PipelinedClient::lane_connects() const noexcept {
    std::uint64_t total = 0;
    for (const auto& lane : lanes_) total += lane->connects();
    return total;
}

DOGPILE_INLINE std::shared_ptr<Client> make_pipelined_client(std::string_view url, PipelinedOptions options) {
    options.pool.connection = ConnectionOptions::from_url(url, std::move(options.pool.connection));
    return std::make_shared<PipelinedClient>(std::move(options));
}

}  // namespace dogpile::redis
