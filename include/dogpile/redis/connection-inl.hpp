#pragma once
// Definitions of connection.hpp (details/linkage.hpp: inline when header-only).

#include <hiredis/hiredis.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>

#include "connection.hpp"

namespace dogpile::redis {

namespace details {

DOGPILE_INLINE timeval to_timeval(std::chrono::milliseconds ms) noexcept {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
    return tv;
}

// hiredis reports a socket timeout as an I/O error carrying EAGAIN (the
// errno of a read or write that hit SO_RCVTIMEO / SO_SNDTIMEO) or, for
// connect, ETIMEDOUT; hiredis 1.x may also use REDIS_ERR_TIMEOUT.
DOGPILE_INLINE bool is_timeout(const redisContext* c, int saved_errno) noexcept {
#ifdef REDIS_ERR_TIMEOUT
    if (c->err == REDIS_ERR_TIMEOUT) return true;
#endif
    if (c->err != REDIS_ERR_IO) return false;
    if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT) return true;
    const std::string_view text(c->errstr);
    return text == "Resource temporarily unavailable" || text == "Connection timed out" ||
           text.find("timeout") != std::string_view::npos;
}

}  // namespace details

DOGPILE_INLINE Connection::Connection(ConnectionOptions options) : options_(std::move(options)) {
    options_.validate();
    connect();
}

DOGPILE_INLINE void Connection::ContextDeleter::operator()(redisContext* c) const noexcept { redisFree(c); }

DOGPILE_INLINE bool Connection::broken() const noexcept { return broken_ || !ctx_ || ctx_->err != 0; }

DOGPILE_INLINE void Connection::reconnect() {
    ctx_.reset();
    pending_ = 0;
    out_.clear();
    broken_ = false;
    connect();
}

DOGPILE_INLINE bool Connection::usable_after_idle() const noexcept {
    if (broken() || pending_ != 0) return false;
    const int saved_errno = errno;
    char byte = 0;
    const ssize_t n = ::recv(ctx_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    const bool idle = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    errno = saved_errno;
    return idle;
}

DOGPILE_INLINE int Connection::fd() const noexcept { return ctx_ ? static_cast<int>(ctx_->fd) : -1; }

DOGPILE_INLINE void Connection::send_without_reply(const Command& cmd) {
    require_ready("send_without_reply()");
    append(cmd);
    pending_ = 0;  // read as a pushed message, never as a pending reply
    flush_output(cmd.name());
}

DOGPILE_INLINE void Connection::raise_context_error(std::string_view doing, int saved_errno) {
    broken_ = true;
    pending_ = 0;
    out_.clear();
    const redisContext* c = ctx_.get();
    const std::string detail = c && c->errstr[0] != '\0' ? std::string(c->errstr) : std::string("unknown error");
    if (c && details::is_timeout(c, saved_errno)) {
        const auto limit = doing == "connect" ? options_.connect_timeout : options_.command_timeout;
        throw TimeoutError(where() + ": " + std::string(doing) + " timed out after " +
                           std::to_string(limit.count()) + " ms (" + detail + ")");
    }
    if (c && c->err == REDIS_ERR_PROTOCOL) {
        throw ProtocolError(where() + ": protocol error during " + std::string(doing) + ": " + detail);
    }
    if (c && c->err == REDIS_ERR_OOM) throw RedisError(where() + ": out of memory during " + std::string(doing));
    if (doing == "connect") throw IoError(where() + ": cannot connect: " + detail);
    throw IoError(where() + ": " + std::string(doing) + " failed: " + detail);
}

DOGPILE_INLINE void Connection::require_ready(std::string_view what) const {
    if (pending_ != 0) {
        throw ConfigurationError("redis: " + std::string(what) +
                                 " called while a Pipeline on this connection is still being filled");
    }
    if (broken()) {
        const std::string detail = ctx_ && ctx_->errstr[0] != '\0' ? std::string(ctx_->errstr) : "earlier error";
        throw IoError(where() + ": connection is unusable after an earlier error (" + detail +
                      "); reconnect() or take another connection");
    }
}

DOGPILE_INLINE void Connection::connect() {
    const timeval connect_tv = details::to_timeval(options_.connect_timeout);
    const timeval command_tv = details::to_timeval(options_.command_timeout);
    redisContext* c = nullptr;
    errno = 0;
#if HIREDIS_MAJOR >= 1
    redisOptions ro{};
    if (!options_.unix_socket.empty()) {
        REDIS_OPTIONS_SET_UNIX(&ro, options_.unix_socket.c_str());
    } else {
        REDIS_OPTIONS_SET_TCP(&ro, options_.host.c_str(), options_.port);
    }
    ro.connect_timeout = &connect_tv;
    ro.command_timeout = &command_tv;
    c = redisConnectWithOptions(&ro);
#else
    c = options_.unix_socket.empty() ? redisConnectWithTimeout(options_.host.c_str(), options_.port, connect_tv)
                                     : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), connect_tv);
#endif
    const int saved_errno = errno;
    if (c == nullptr) throw RedisError(where() + ": cannot allocate a hiredis context");
    ctx_.reset(c);
    if (c->err != 0) raise_context_error("connect", saved_errno);
    if (redisSetTimeout(c, command_tv) != REDIS_OK) raise_context_error("setting the command timeout", errno);
    if (options_.tcp_keepalive && options_.unix_socket.empty() && redisEnableKeepAlive(c) != REDIS_OK) {
        raise_context_error("enabling TCP keepalive", errno);
    }
    handshake();
    if (options_.on_connect) {
        try {
            options_.on_connect(*this);
        } catch (...) {
            broken_ = true;  // whatever the hook meant to set up is missing
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
            const std::string who = options_.username.empty() ? std::string("with a password")
                                                              : "as user '" + options_.username + "'";
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

DOGPILE_INLINE void Connection::flush_output(std::string_view doing) {
    const char* data = out_.data();
    std::size_t left = out_.size();
    while (left > 0) {
        const ssize_t n = ::send(ctx_->fd, data, left, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            raise_send_error(doing, errno);
        }
        data += n;
        left -= static_cast<std::size_t>(n);
    }
    out_.clear();
    // A huge pipeline's buffer is not kept for the connection's lifetime.
    if (out_.capacity() > max_kept_output) std::string().swap(out_);
}

DOGPILE_INLINE void Connection::raise_send_error(std::string_view doing, int error) {
    broken_ = true;
    pending_ = 0;
    out_.clear();
    const std::string detail = std::strerror(error);
    if (error == EAGAIN || error == EWOULDBLOCK) {
        throw TimeoutError(where() + ": " + std::string(doing) + " timed out after " +
                           std::to_string(options_.command_timeout.count()) + " ms (" + detail + ")");
    }
    throw IoError(where() + ": " + std::string(doing) + " failed: " + detail);
}

DOGPILE_INLINE std::vector<Reply> Connection::read_pending(std::string_view doing) {
    std::vector<Reply> out;
    const std::size_t n = pending_;
    if (n == 0) return out;
    out.reserve(n);
    ++round_trips_;
    flush_output(doing);
    for (std::size_t i = 0; i < n; ++i) {
        void* raw = nullptr;
        errno = 0;
        if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) raise_context_error(doing, errno);
        --pending_;
        out.push_back(Reply::adopt(static_cast<redisReply*>(raw)));
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
