#pragma once
/// \file
/// Connection: one blocking Redis connection (TCP or unix socket), used by one
/// thread at a time; share connections through a ConnectionPool.
///
/// * The connection owns its socket (details/socket_stream.hpp): it formats
///   commands itself, writes them through a details::Stream and parses what
///   it reads with hiredis' reader only, so it behaves the same on every
///   hiredis version (docs/architecture.md, "Transport").
/// * Every wait (connect, write, read) is bounded by its timeout and, inside
///   a region call, by what is left of the call's time budget
///   (details/call_budget.hpp), which is charged the time waited. A command
///   met by a spent budget throws TimeoutError before anything is written and
///   the connection stays usable.
/// * A reply with a bulk string over max_reply_bulk_bytes (or a tighter
///   details::ReplyLimitScope) throws ReplyTooLarge as soon as its header
///   arrives; the body is never buffered and the connection is broken.
/// * Every (re)connect authenticates (AUTH, or AUTH user password for an ACL
///   user), SELECTs the database and sets the client name in one round trip,
///   then runs ConnectionOptions::on_connect.
/// * Arguments are binary-safe. command() throws ReplyError for an error reply
///   (the connection stays usable); a Pipeline returns error replies instead.
/// * After an I/O error, a timeout, a protocol error or a refused reply
///   broken() is true and every call throws IoError until reconnect(); a pool
///   discards it.
/// * Writes use send(MSG_NOSIGNAL) (SO_NOSIGPIPE where that is missing): a
///   peer that has gone gives an IoError, never SIGPIPE.
/// * round_trips() counts flushes that waited for replies, so tests can prove
///   a batch of N commands cost one round trip.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
#include "command.hpp"
#include "details/resp_command.hpp"
#include "details/resp_scanner.hpp"
#include "details/stream.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "reply.hpp"

struct redisReader;  // hiredis; complete in connection-inl.hpp

namespace dogpile::redis {

class Pipeline;

/// One blocking Redis connection (TCP, TLS or unix socket), used by one thread at a time; share
/// connections through a ConnectionPool. Its rules (timeouts, budgets, errors, when it breaks) are
/// in connection.hpp.
class Connection {
public:
    /// Connects, authenticates and selects the database. Throws IoError (or
    /// TimeoutError) when the server cannot be reached, AuthError when AUTH is
    /// refused, ReplyError when SELECT fails, ConfigurationError for bad options.
    explicit Connection(ConnectionOptions options);

    /// Moves the socket; the moved-from object must not be used.
    Connection(Connection&&) noexcept = default;
    /// Moves the socket, closing this one's.
    Connection& operator=(Connection&&) noexcept = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() = default;

    /// The options it was made with.
    const ConnectionOptions& options() const noexcept { return options_; }

    /// One command, one round trip. An error reply throws ReplyError.
    Reply command(std::initializer_list<std::string_view> argv) { return run(argv); }
    /// command() for a built Command.
    Reply command(const Command& cmd) { return run(cmd); }
    /// command() for a vector of arguments.
    Reply command(const std::vector<std::string>& argv) { return run(argv); }
    /// command() for a vector of argument views.
    Reply command(const std::vector<std::string_view>& argv) { return run(argv); }

    /// All commands in one round trip; replies in order. Error replies are
    /// returned, not thrown, so the caller decides per command.
    std::vector<Reply> pipeline(const std::vector<Command>& commands);

    /// True once the connection saw an I/O, timeout or protocol error (or was
    /// left with unread pipelined commands); it must then be reconnected.
    bool broken() const noexcept;

    /// Drops the current socket and connects again (with AUTH and SELECT).
    void reconnect();

    /// Flushes that waited for replies since it was made: a pipeline of N commands counts 1.
    std::uint64_t round_trips() const noexcept { return round_trips_; }

    /// A cheap check, without a round trip, that an idle connection can still be
    /// used: not broken, the peer has not closed its end (as a restarted server
    /// has), and no unsolicited bytes are waiting (which would desynchronise
    /// replies). A pool calls it before handing out an idle connection.
    bool usable_after_idle() const noexcept;

    /// The socket, for diagnostics (e.g. matching CLIENT LIST entries).
    int fd() const noexcept;

    // For a protocol without request and reply, the pushed messages a
    // PushConnection (redis/push_connection.hpp) reads; do not mix them with
    // command() or a Pipeline.

    /// The next complete reply among the bytes already read, if any (for a
    /// PushConnection; do not mix with command() or a Pipeline). Throws
    /// ProtocolError (and breaks the connection) on bytes hiredis cannot parse.
    std::optional<Reply> next_buffered_reply();
    /// Input read from the socket but not yet returned (TLS records), which
    /// poll() on fd() cannot see: read it before waiting on fd().
    bool has_buffered_input() const noexcept;
    /// Reads what has arrived (waiting at most command_timeout when nothing
    /// has), for next_buffered_reply(). Throws IoError when the connection is lost.
    void read_available();

    /// Writes `cmd` (with MSG_NOSIGNAL, like every command) without reading
    /// its reply: for a subscribed connection, whose replies arrive among the
    /// pushed messages that a PushConnection reads.
    void send_without_reply(const Command& cmd);
    /// Writes commands already in the Redis protocol (details/resp_command.hpp)
    /// without reading their replies: another thread reads them, with
    /// read_available() and next_buffered_reply(), while this one may write more
    /// (the shared connections of redis/pipelined_client.hpp). Counts one round
    /// trip. The caller serialises every call on the connection.
    void send_formatted(std::string_view commands);

    /// A number the connection's owner may attach, e.g. which setup an
    /// on_connect or pool hook already ran on it. 0 on a new Connection; kept
    /// across reconnect(), so a hook can tell a reconnect from a first connect.
    std::uint64_t user_tag() const noexcept { return user_tag_; }
    /// Sets the number user_tag() returns.
    void set_user_tag(std::uint64_t tag) noexcept { user_tag_ = tag; }

private:
    friend class Pipeline;

    static constexpr std::size_t max_kept_output = 64 * 1024;

    static constexpr std::size_t read_chunk = 16 * 1024;

    struct ReaderDeleter {
        void operator()(redisReader* r) const noexcept;
    };

    // How long the next wait may last: the smaller of the connection's own
    // timeout and what is left of the call's budget (details/call_budget.hpp).
    struct WaitBound {
        std::chrono::nanoseconds length;
        std::chrono::milliseconds timeout;  // the connection's own limit
        bool set_by_budget;
    };
    WaitBound wait_bound(std::chrono::milliseconds timeout) const noexcept;

    // Runs `wait(deadline)` (a Stream call), charges the call's budget the
    // time it took and turns the Stream's errors into ones naming the server
    // and `doing`, leaving the connection broken.
    template <class Wait>
    auto timed_wait(std::string_view doing, const WaitBound& bound, Wait&& wait);
    [[noreturn]] void raise_wait_error(std::string_view doing, const WaitBound& bound);
    [[noreturn]] void raise_budget_spent(std::string_view doing);
    void mark_broken(std::string reason) noexcept;

    std::string where() const { return "redis " + options_.describe(); }

    void require_ready(std::string_view what) const;
    void connect();
    // THE place where the connected socket becomes a stream: plain today; a
    // TLS stream on top of `fd` when the options ask for TLS.
    std::unique_ptr<details::Stream> wrap_stream(int fd, details::Deadline deadline);
    void handshake();

    // Queues one command, formatted into the send buffer. Args is a
    // random-access range of string-likes (a vector, an initializer list).
    template <class Args>
    void append(const Args& args) {
        const auto first = std::begin(args);
        append_formatted(static_cast<std::size_t>(std::end(args) - first),
                         [&first](std::size_t i) { return std::string_view(first[static_cast<std::ptrdiff_t>(i)]); });
    }
    void append(const Command& cmd);
    template <class ArgAt>
    void append_formatted(std::size_t argc, const ArgAt& arg_at) {
        if (argc == 0) throw ConfigurationError("redis: cannot send an empty command");
        details::append_resp_command(out_, argc, arg_at);
        ++pending_;
    }

    // Writes the queued commands (the Stream never raises SIGPIPE).
    void flush_output(std::string_view doing);
    // Writes `bytes` within command_timeout or the call's budget.
    void write_bounded(std::string_view bytes, std::string_view doing);
    // One read from the stream into hiredis' reader, after the bytes passed
    // the bulk-length check.
    void read_into_reader(std::string_view doing);
    Reply read_reply(std::string_view doing);

    // Writes everything appended (one round trip, counted now); the replies
    // stay pending until read_pending().
    void send_pending(std::string_view doing);
    // Flushes everything appended and reads every pending reply.
    std::vector<Reply> read_pending(std::string_view doing);

    template <class Args>
    Reply run(const Args& args) {
        require_ready("command()");
        append(args);
        std::string_view name;
        for (const auto& a : args) {
            name = std::string_view(a);
            break;
        }
        return single_reply(name);
    }
    Reply run(const Command& cmd);
    Reply single_reply(std::string_view name);

    ConnectionOptions options_;
    std::unique_ptr<details::Stream> stream_;
    std::unique_ptr<redisReader, ReaderDeleter> reader_;
    details::RespScanner scanner_;
    std::string broken_by_;  // why the connection became unusable
    std::string out_;        // formatted commands not yet sent
    std::size_t pending_ = 0;
    std::uint64_t round_trips_ = 0;
    std::uint64_t user_tag_ = 0;
    bool broken_ = false;
    // A reply arrived since connect(): the peer speaks RESP. Until then an
    // I/O error on a plaintext connection may be a TLS port hanging up.
    bool answered_ = false;
};

/// Queues commands on one connection and sends them all with the
/// first execute(): one write, one wait, N replies. Commands go straight into
/// the connection's output buffer, so nothing else may use the connection until
/// execute(); a Pipeline destroyed with commands queued leaves the connection
/// broken (their replies would otherwise be read as answers to later commands).
class Pipeline {
public:
    /// Queues on `connection`, which must outlive it. Throws IoError when the connection is broken,
    /// ConfigurationError while another Pipeline on it is being filled.
    explicit Pipeline(Connection& connection) : connection_(&connection) { connection_->require_ready("Pipeline"); }
    ~Pipeline() {
        if (connection_ != nullptr && connection_->pending_ != 0) {
            connection_->broken_ = true;
            connection_->pending_ = 0;
            connection_->out_.clear();
        }
    }
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    /// Queues a command given in place: `p.add({"GET", key})`. Returns *this for chaining.
    Pipeline& add(std::initializer_list<std::string_view> argv) { return add_args(argv); }
    /// Queues a built Command.
    Pipeline& add(const Command& cmd) { return add_args(cmd); }
    /// Queues a command given as a vector of arguments.
    Pipeline& add(const std::vector<std::string>& argv) { return add_args(argv); }
    /// Queues a command given as a vector of argument views.
    Pipeline& add(const std::vector<std::string_view>& argv) { return add_args(argv); }

    /// Commands queued since the last execute().
    std::size_t size() const noexcept { return queued_; }

    /// Writes everything queued now and returns without waiting: a caller
    /// with pipelines on several connections writes them all before reading
    /// any, so the servers work at the same time (a cluster batch,
    /// docs/architecture.md "Cluster batches"). execute() reads the replies;
    /// until then nothing else may use the connection, and a Pipeline
    /// destroyed before execute() leaves it broken. Errors as for execute().
    void send() { connection_->send_pending("pipeline"); }

    /// Sends everything queued (what send() has not) and returns the replies
    /// in order, error replies included. An I/O error or timeout throws
    /// (IoError / TimeoutError) and leaves the connection broken: which
    /// commands ran is then unknown.
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

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "connection-inl.hpp"
#endif
