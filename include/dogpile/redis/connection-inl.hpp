#pragma once
// Definitions of connection.hpp (details/linkage.hpp: inline when header-only).

#include <hiredis/hiredis.h>

#include <unistd.h>

#include <exception>

#include "../details/call_budget.hpp"
#include "connection.hpp"
#include "details/reply_limit.hpp"
#include "details/socket_stream.hpp"
#include "details/tls_stream.hpp"

namespace dogpile::redis {

DOGPILE_INLINE Connection::Connection(ConnectionOptions options) : options_(std::move(options)) {
    options_.validate();
    connect();
}

DOGPILE_INLINE void Connection::ReaderDeleter::operator()(redisReader* r) const noexcept { redisReaderFree(r); }

DOGPILE_INLINE bool Connection::broken() const noexcept { return broken_ || !stream_; }

DOGPILE_INLINE void Connection::reconnect() {
    stream_.reset();
    pending_ = 0;
    out_.clear();
    broken_ = false;
    broken_by_.clear();
    connect();
}

DOGPILE_INLINE bool Connection::usable_after_idle() const noexcept {
    if (broken() || pending_ != 0) return false;
    // Bytes read but not parsed into a reply would be taken for the next answer.
    if (reader_->pos < reader_->len) return false;
    return stream_->usable_after_idle();
}

DOGPILE_INLINE int Connection::fd() const noexcept { return stream_ ? stream_->fd() : -1; }

DOGPILE_INLINE void Connection::send_without_reply(const Command& cmd) {
    require_ready("send_without_reply()");
    append(cmd);
    pending_ = 0;  // read as a pushed message, never as a pending reply
    flush_output(cmd.name());
}

DOGPILE_INLINE std::optional<Reply> Connection::next_buffered_reply() {
    require_ready("next_buffered_reply()");
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
        const std::string detail = reader_->errstr;
        mark_broken("protocol error: " + detail);
        throw ProtocolError(where() + ": protocol error: " + detail);
    }
    if (raw == nullptr) return std::nullopt;
    answered_ = true;
    return Reply::adopt(static_cast<redisReply*>(raw));
}

DOGPILE_INLINE bool Connection::has_buffered_input() const noexcept { return stream_ && stream_->has_buffered_input(); }

DOGPILE_INLINE void Connection::read_available() {
    require_ready("read_available()");
    read_into_reader("read");
}

DOGPILE_INLINE Connection::WaitBound Connection::wait_bound(std::chrono::milliseconds timeout) const noexcept {
    const std::chrono::nanoseconds own = timeout;
    const std::optional<std::chrono::nanoseconds> left =
        dogpile::details::CallBudget::remaining(options_.command_timeout);
    if (left && *left < own) return WaitBound{*left, timeout, true};
    return WaitBound{own, timeout, false};
}

template <class Wait>
auto Connection::timed_wait(std::string_view doing, const WaitBound& bound, Wait&& wait) {
    const auto start = std::chrono::steady_clock::now();
    const details::Deadline deadline = start + bound.length;
    struct Charge {
        std::chrono::steady_clock::time_point start;
        ~Charge() { dogpile::details::CallBudget::charge(std::chrono::steady_clock::now() - start); }
    } charge{start};
    try {
        return wait(deadline);
    } catch (const RedisError&) {
        raise_wait_error(doing, bound);
    }
}

DOGPILE_INLINE void Connection::raise_wait_error(std::string_view doing, const WaitBound& bound) {
    pending_ = 0;
    out_.clear();
    try {
        throw;
    } catch (const TimeoutError& e) {
        mark_broken(std::string(doing) + " timed out");
        if (bound.set_by_budget) {
            throw TimeoutError(where() + ": " + std::string(doing) +
                               " timed out: the call's Redis time budget is spent (" + e.what() + ")");
        }
        throw TimeoutError(where() + ": " + std::string(doing) + " timed out after " +
                           std::to_string(bound.timeout.count()) + " ms (" + e.what() + ")");
    } catch (const IoError& e) {
        mark_broken(e.what());
        if (doing == "connect") throw IoError(where() + ": cannot connect: " + e.what());
        // A TLS-only port (tls-port, port 0) answers RESP bytes by closing
        // the connection: say so rather than leave a bare "reset by peer".
        const bool maybe_tls_port = !answered_ && !options_.tls && options_.unix_socket.empty();
        throw IoError(where() + ": " + std::string(doing) + " failed: " + e.what() +
                      (maybe_tls_port ? " (no reply yet on this connection: is this a TLS port? use rediss:// or "
                                        "ConnectionOptions::tls)"
                                      : ""));
    } catch (const RedisError& e) {
        mark_broken(e.what());
        throw RedisError(where() + ": " + std::string(doing) + " failed: " + e.what());
    }
}

DOGPILE_INLINE void Connection::raise_budget_spent(std::string_view doing) {
    pending_ = 0;  // nothing was written: the connection stays in step
    out_.clear();
    throw TimeoutError(where() + ": " + std::string(doing) + " not sent: the call's Redis time budget is spent");
}

DOGPILE_INLINE void Connection::mark_broken(std::string reason) noexcept {
    broken_ = true;
    try {
        broken_by_ = std::move(reason);
    } catch (...) {
        broken_by_.clear();
    }
}

DOGPILE_INLINE void Connection::require_ready(std::string_view what) const {
    if (pending_ != 0) {
        throw ConfigurationError("redis: " + std::string(what) +
                                 " called while a Pipeline on this connection is still being filled");
    }
    if (broken()) {
        const std::string detail = broken_by_.empty() ? std::string("earlier error") : broken_by_;
        throw IoError(where() + ": connection is unusable after an earlier error (" + detail +
                      "); reconnect() or take another connection");
    }
}

DOGPILE_INLINE std::unique_ptr<details::Stream> Connection::wrap_stream(int fd, details::Deadline deadline) {
    // make_tls_stream owns the socket from here, failure included.
    if (options_.tls) return details::make_tls_stream(fd, *options_.tls, options_.host, deadline);
    try {
        return std::make_unique<details::PlainStream>(fd);
    } catch (...) {
        ::close(fd);
        throw;
    }
}

DOGPILE_INLINE void Connection::connect() {
    stream_.reset();
    answered_ = false;
    scanner_.reset();
    reader_.reset(redisReaderCreate());
    if (!reader_) throw RedisError(where() + ": cannot allocate a hiredis reader");
    const WaitBound bound = wait_bound(options_.connect_timeout);
    if (bound.set_by_budget && bound.length.count() <= 0) {
        mark_broken("not connected: the call's Redis time budget was spent");
        throw TimeoutError(where() + ": connect not attempted: the call's Redis time budget is spent");
    }
    broken_ = true;  // until connected
    stream_ = timed_wait("connect", bound, [this](details::Deadline deadline) {
        return wrap_stream(details::connect_socket(options_, deadline), deadline);
    });
    broken_ = false;
    broken_by_.clear();
    try {
        handshake();
    } catch (...) {
        // Never left looking usable unauthenticated (a spent budget stops
        // the AUTH before it is sent, without breaking the connection).
        mark_broken("the connection handshake did not complete");
        throw;
    }
    if (options_.on_connect) {
        try {
            options_.on_connect(*this);
        } catch (...) {
            mark_broken("the on_connect hook failed");  // whatever the hook meant to set up is missing
            throw;
        }
    }
}

DOGPILE_INLINE void Connection::handshake() {
    std::vector<Command> commands;
    if (options_.password) {
        if (options_.username.empty()) {
            commands.push_back(Command{"AUTH", *options_.password});
        } else {
            commands.push_back(Command{"AUTH", options_.username, *options_.password});
        }
    }
    if (options_.db != 0) commands.push_back(Command{"SELECT"}.arg(options_.db));
    if (options_.client_name) commands.push_back(Command{"CLIENT", "SETNAME", *options_.client_name});
    if (commands.empty()) return;
    const std::vector<Reply> replies = pipeline(commands);
    for (const Reply& r : replies) {
        if (r.is_error() && ReplyError::code_of(r.error_message()) == "NOAUTH") {
            broken_ = true;
            throw AuthError(std::string(r.error_message()),
                            where() + ": the server requires a password (ConnectionOptions::password, or "
                                      "redis://:password@host)");
        }
    }
    std::size_t i = 0;
    if (options_.password) {
        const Reply& auth = replies[i++];
        if (auth.is_error()) {
            broken_ = true;  // never hand out an unauthenticated connection
            const std::string who =
                options_.username.empty() ? std::string("with a password") : "as user '" + options_.username + "'";
            throw AuthError(std::string(auth.error_message()), where() + ": AUTH " + who + " refused");
        }
    }
    if (options_.db != 0) {
        const Reply& select = replies[i++];
        if (select.is_error()) {
            broken_ = true;
            throw ReplyError(std::string(select.error_message()),
                             where() + ": SELECT " + std::to_string(options_.db) + " failed");
        }
    }
    if (options_.client_name) {
        const Reply& setname = replies[i++];
        if (setname.is_error()) {
            broken_ = true;
            throw ReplyError(std::string(setname.error_message()), where() + ": CLIENT SETNAME failed");
        }
    }
}

DOGPILE_INLINE void Connection::append(const Command& cmd) {
    append_formatted(cmd.size(), [&cmd](std::size_t i) { return cmd[i]; });
}

DOGPILE_INLINE void Connection::write_bounded(std::string_view bytes, std::string_view doing) {
    const WaitBound bound = wait_bound(options_.command_timeout);
    if (bound.set_by_budget && bound.length.count() <= 0) raise_budget_spent(doing);
    timed_wait(doing, bound, [&](details::Deadline deadline) { stream_->write_all(bytes, deadline); });
}

DOGPILE_INLINE void Connection::flush_output(std::string_view doing) {
    write_bounded(out_, doing);
    out_.clear();
    // A huge pipeline's buffer is not kept for the connection's lifetime.
    if (out_.capacity() > max_kept_output) std::string().swap(out_);
}

DOGPILE_INLINE void Connection::read_into_reader(std::string_view doing) {
    char buffer[read_chunk];
    const std::size_t n = timed_wait(doing, wait_bound(options_.command_timeout), [&](details::Deadline deadline) {
        return stream_->read_some(buffer, sizeof buffer, deadline);
    });
    const std::size_t limit = details::ReplyLimitScope::effective(options_.max_reply_bulk_bytes);
    if (const auto oversized = scanner_.scan(std::string_view(buffer, n), limit)) {
        pending_ = 0;
        const std::string message = details::RespScanner::describe(*oversized, limit, options_.max_reply_bulk_bytes);
        mark_broken("refused " + message);
        throw ReplyTooLarge(where() + ": " + std::string(doing) + ": " + message +
                            "; refused before reading it, the connection is discarded");
    }
    if (redisReaderFeed(reader_.get(), buffer, n) != REDIS_OK) {
        pending_ = 0;
        mark_broken("out of memory");
        throw RedisError(where() + ": out of memory during " + std::string(doing));
    }
}

DOGPILE_INLINE Reply Connection::read_reply(std::string_view doing) {
    for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
            pending_ = 0;
            const std::string detail = reader_->errstr;
            mark_broken("protocol error: " + detail);
            throw ProtocolError(where() + ": protocol error during " + std::string(doing) + ": " + detail);
        }
        if (raw != nullptr) {
            answered_ = true;
            return Reply::adopt(static_cast<redisReply*>(raw));
        }
        read_into_reader(doing);
    }
}

DOGPILE_INLINE void Connection::send_pending(std::string_view doing) {
    if (out_.empty()) return;
    flush_output(doing);
    ++round_trips_;
}

DOGPILE_INLINE void Connection::send_formatted(std::string_view commands) {
    require_ready("send_formatted()");
    write_bounded(commands, "pipeline");
    ++round_trips_;
}

DOGPILE_INLINE std::vector<Reply> Connection::read_pending(std::string_view doing) {
    std::vector<Reply> out;
    const std::size_t n = pending_;
    if (n == 0) return out;
    out.reserve(n);
    send_pending(doing);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(read_reply(doing));
        --pending_;
    }
    return out;
}

DOGPILE_INLINE Reply Connection::run(const Command& cmd) {
    require_ready("command()");
    append(cmd);
    return single_reply(cmd.name());
}

DOGPILE_INLINE Reply Connection::single_reply(std::string_view name) {
    std::vector<Reply> replies = read_pending(name);
    Reply reply = std::move(replies.front());
    if (reply.is_error()) throw ReplyError(std::string(reply.error_message()), "redis " + std::string(name));
    return reply;
}

DOGPILE_INLINE std::vector<Reply> Connection::pipeline(const std::vector<Command>& commands) {
    Pipeline p(*this);
    for (const Command& c : commands) p.add(c);
    return p.execute();
}

}  // namespace dogpile::redis
