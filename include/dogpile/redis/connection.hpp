#pragma once
// Connection: one blocking Redis connection (TCP or unix socket), used by one
// thread at a time; share connections through a ConnectionPool.
// (Over 400 lines: connect, handshake, write and read are one state machine
// around one socket.)
//
// * Every (re)connect authenticates (AUTH, or AUTH user password for an ACL
//   user), SELECTs the database and sets the client name in one round trip,
//   then runs ConnectionOptions::on_connect.
// * Arguments are binary-safe. command() throws ReplyError for an error reply
//   (the connection stays usable); a Pipeline returns error replies instead.
// * After an I/O error, a timeout or a protocol error broken() is true and
//   every call throws IoError until reconnect(); a pool discards it.
// * Writes use send(MSG_NOSIGNAL): a peer that has gone gives an IoError,
//   never SIGPIPE.
// * round_trips() counts flushes that waited for replies, so tests can prove
//   a batch of N commands cost one round trip.

#include <hiredis/hiredis.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "command.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "reply.hpp"

namespace dogpile::redis {

class Pipeline;

class Connection {
public:
    // Connects, authenticates and selects the database. Throws IoError (or
    // TimeoutError) when the server cannot be reached, AuthError when AUTH is
    // refused, ReplyError when SELECT fails, ConfigurationError for bad options.
    explicit Connection(ConnectionOptions options) : options_(std::move(options)) {
        options_.validate();
        connect();
    }

    Connection(Connection&&) noexcept = default;
    Connection& operator=(Connection&&) noexcept = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() = default;

    const ConnectionOptions& options() const noexcept { return options_; }

    // One command, one round trip. An error reply throws ReplyError.
    Reply command(std::initializer_list<std::string_view> argv) { return run(argv); }
    Reply command(const Command& cmd) { return run(cmd); }
    Reply command(const std::vector<std::string>& argv) { return run(argv); }
    Reply command(const std::vector<std::string_view>& argv) { return run(argv); }

    // All commands in one round trip; replies in order. Error replies are
    // returned, not thrown, so the caller decides per command.
    std::vector<Reply> pipeline(const std::vector<Command>& commands);

    // True once the connection saw an I/O, timeout or protocol error (or was
    // left with unread pipelined commands); it must then be reconnected.
    bool broken() const noexcept { return broken_ || !ctx_ || ctx_->err != 0; }

    // Drops the current socket and connects again (with AUTH and SELECT).
    void reconnect() {
        ctx_.reset();
        pending_ = 0;
        out_.clear();
        broken_ = false;
        connect();
    }

    std::uint64_t round_trips() const noexcept { return round_trips_; }

    // A cheap check, without a round trip, that an idle connection can still be
    // used: not broken, the peer has not closed its end (as a restarted server
    // has), and no unsolicited bytes are waiting (which would desynchronise
    // replies). A pool calls it before handing out an idle connection.
    bool usable_after_idle() const noexcept {
        if (broken() || pending_ != 0) return false;
        const int saved_errno = errno;
        char byte = 0;
        const ssize_t n = ::recv(ctx_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        const bool idle = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        errno = saved_errno;
        return idle;
    }

    // The socket, for diagnostics (e.g. matching CLIENT LIST entries).
    int fd() const noexcept { return ctx_ ? static_cast<int>(ctx_->fd) : -1; }

    // The hiredis context, for a protocol this class does not speak (a
    // PushConnection, redis/push_connection.hpp, reads pushed messages with
    // redisBufferRead). Do not mix it with command() or a Pipeline.
    redisContext* native_handle() noexcept { return ctx_.get(); }

    // Writes `cmd` (with MSG_NOSIGNAL, like every command) without reading
    // its reply: for a subscribed connection, whose replies arrive among the
    // pushed messages that a PushConnection reads.
    void send_without_reply(const Command& cmd) {
        require_ready("send_without_reply()");
        append(cmd);
        pending_ = 0;  // read as a pushed message, never as a pending reply
        flush_output(cmd.name());
    }

    // A number the connection's owner may attach, e.g. which setup an
    // on_connect or pool hook already ran on it. 0 on a new Connection; kept
    // across reconnect(), so a hook can tell a reconnect from a first connect.
    std::uint64_t user_tag() const noexcept { return user_tag_; }
    void set_user_tag(std::uint64_t tag) noexcept { user_tag_ = tag; }

private:
    friend class Pipeline;

    static constexpr std::size_t max_kept_output = 64 * 1024;

    struct ContextDeleter {
        void operator()(redisContext* c) const noexcept { redisFree(c); }
    };

    static timeval to_timeval(std::chrono::milliseconds ms) noexcept {
        timeval tv{};
        tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
        tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
        return tv;
    }

    // hiredis reports a socket timeout as an I/O error carrying EAGAIN (the
    // errno of a read or write that hit SO_RCVTIMEO / SO_SNDTIMEO) or, for
    // connect, ETIMEDOUT; hiredis 1.x may also use REDIS_ERR_TIMEOUT.
    static bool is_timeout(const redisContext* c, int saved_errno) noexcept {
#ifdef REDIS_ERR_TIMEOUT
        if (c->err == REDIS_ERR_TIMEOUT) return true;
#endif
        if (c->err != REDIS_ERR_IO) return false;
        if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT) return true;
        const std::string_view text(c->errstr);
        return text == "Resource temporarily unavailable" || text == "Connection timed out" ||
               text.find("timeout") != std::string_view::npos;
    }

    std::string where() const { return "redis " + options_.describe(); }

    [[noreturn]] void raise_context_error(std::string_view doing, int saved_errno) {
        broken_ = true;
        pending_ = 0;
        out_.clear();
        const redisContext* c = ctx_.get();
        const std::string detail = c && c->errstr[0] != '\0' ? std::string(c->errstr) : std::string("unknown error");
        if (c && is_timeout(c, saved_errno)) {
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

    void require_ready(std::string_view what) const {
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

    void connect() {
        const timeval connect_tv = to_timeval(options_.connect_timeout);
        const timeval command_tv = to_timeval(options_.command_timeout);
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

    void handshake() {
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

    // Copies the argument pointers into reusable scratch arrays for hiredis.
    template <class Args>
    void append(const Args& args) {
        argv_.clear();
        lens_.clear();
        for (const auto& a : args) {
            const std::string_view s(a);
            argv_.push_back(s.data());
            lens_.push_back(s.size());
        }
        append_prepared();
    }
    void append(const Command& cmd) {
        argv_.clear();
        lens_.clear();
        for (std::size_t i = 0; i < cmd.size(); ++i) {
            const std::string_view s = cmd[i];
            argv_.push_back(s.data());
            lens_.push_back(s.size());
        }
        append_prepared();
    }
    void append_prepared() {
        if (argv_.empty()) throw ConfigurationError("redis: cannot send an empty command");
        char* formatted = nullptr;
        const int length =
            redisFormatCommandArgv(&formatted, static_cast<int>(argv_.size()), argv_.data(), lens_.data());
        if (length < 0 || formatted == nullptr) throw RedisError(where() + ": out of memory while queueing a command");
        try {
            out_.append(formatted, static_cast<std::size_t>(length));
        } catch (...) {
            redisFreeCommand(formatted);
            throw;
        }
        redisFreeCommand(formatted);
        ++pending_;
    }

    // Writes the queued commands. MSG_NOSIGNAL is why this is not left to
    // hiredis (whose write() raises SIGPIPE on a closed socket). SO_SNDTIMEO
    // bounds a blocked send, reported like hiredis reports a timeout.
    void flush_output(std::string_view doing) {
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

    [[noreturn]] void raise_send_error(std::string_view doing, int error) {
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

    // Flushes everything appended and reads that many replies: one round trip.
    std::vector<Reply> read_pending(std::string_view doing) {
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

    template <class Args>
    Reply run(const Args& args) {
        require_ready("command()");
        append(args);
        std::string_view name;
        for (const auto& a : args) {
            name = std::string_view(a);
            break;
        }
        std::vector<Reply> replies = read_pending(name);
        Reply reply = std::move(replies.front());
        if (reply.is_error()) throw ReplyError(std::string(reply.error_message()), "redis " + std::string(name));
        return reply;
    }
    Reply run(const Command& cmd) {
        require_ready("command()");
        append(cmd);
        std::vector<Reply> replies = read_pending(cmd.name());
        Reply reply = std::move(replies.front());
        if (reply.is_error()) throw ReplyError(std::string(reply.error_message()), "redis " + std::string(cmd.name()));
        return reply;
    }

    ConnectionOptions options_;
    std::unique_ptr<redisContext, ContextDeleter> ctx_;
    std::vector<const char*> argv_;
    std::vector<std::size_t> lens_;
    std::string out_;  // formatted commands not yet sent
    std::size_t pending_ = 0;
    std::uint64_t round_trips_ = 0;
    std::uint64_t user_tag_ = 0;
    bool broken_ = false;
};

// Pipeline: queues commands on one connection and sends them all with the
// first execute(): one write, one wait, N replies. Commands go straight into
// hiredis' output buffer, so nothing else may use the connection until
// execute(); a Pipeline destroyed with commands queued leaves the connection
// broken (their replies would otherwise be read as answers to later commands).
class Pipeline {
public:
    explicit Pipeline(Connection& connection) : connection_(&connection) {
        connection_->require_ready("Pipeline");
    }
    ~Pipeline() {
        if (connection_ != nullptr && connection_->pending_ != 0) {
            connection_->broken_ = true;
            connection_->pending_ = 0;
            connection_->out_.clear();
        }
    }
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    Pipeline& add(std::initializer_list<std::string_view> argv) { return add_args(argv); }
    Pipeline& add(const Command& cmd) { return add_args(cmd); }
    Pipeline& add(const std::vector<std::string>& argv) { return add_args(argv); }
    Pipeline& add(const std::vector<std::string_view>& argv) { return add_args(argv); }

    std::size_t size() const noexcept { return queued_; }

    // Sends everything queued and returns the replies in order, error replies
    // included. An I/O error or timeout throws (IoError / TimeoutError) and
    // leaves the connection broken: which commands ran is then unknown.
    std::vector<Reply> execute() {
        queued_ = 0;
        return connection_->read_pending("pipeline");
    }

private:
    template <class Args>
    Pipeline& add_args(const Args& args) {
        if (connection_->broken()) connection_->require_ready("Pipeline::add");
        connection_->append(args);
        ++queued_;
        return *this;
    }

    Connection* connection_;
    std::size_t queued_ = 0;
};

inline std::vector<Reply> Connection::pipeline(const std::vector<Command>& commands) {
    Pipeline p(*this);
    for (const Command& c : commands) p.add(c);
    return p.execute();
}

}  // namespace dogpile::redis
