#pragma once
/// \file
/// PushConnection: a connection that receives what the server pushes, the
/// messages of a SUBSCRIBEd channel (Sentinel's +switch-master, client
/// tracking's __redis__:invalidate). It is a Connection underneath: the same
/// AUTH (password or ACL user), SELECT, client name and timeouts, and writes
/// that fail with an IoError instead of raising SIGPIPE when the server has
/// gone.
///
/// \code
///   PushConnection push(options);
///   const long long id = push.command({"CLIENT", "ID"}).as_integer();  // before subscribing
///   push.subscribe("__redis__:invalidate");
///   for (;;) {
///       while (auto pushed = push.next_buffered()) handle(*pushed);
///       push.receive(std::chrono::seconds(1), wake_pipe);  // waits, then reads what arrived
///   }
/// \endcode
///
/// A lost connection stays lost (IoError from then on): make a new one. Used
/// by one thread at a time.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "../details/linkage.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/wake_pipe.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "reply.hpp"

namespace dogpile::redis {

/// One push: a channel's message, or the answer to a PING sent with
/// PushConnection::send().
class PushedMessage {
public:
    /// What a push is.
    enum class Kind : std::uint8_t {
        message,  ///< ["message", channel, payload]
        pong,     ///< ["pong", ""]
        other,    ///< anything else (a late confirmation, ...)
    };

    /// Classifies `reply`, a pushed array.
    explicit PushedMessage(Reply reply) : reply_(std::move(reply)), kind_(kind_of(reply_)) {}

    /// What the push is.
    Kind kind() const noexcept { return kind_; }
    /// Kind::message only.
    std::string_view channel() const { return reply_.at(1).view(); }
    /// Kind::message only: a string; client tracking also sends nil (a flush)
    /// and arrays of keys.
    Reply payload() const { return reply_.at(2); }
    /// The push as the server sent it.
    const Reply& reply() const noexcept { return reply_; }

private:
    static Kind kind_of(const Reply& r);

    Reply reply_;
    Kind kind_;
};

/// A connection that receives what the server pushes on SUBSCRIBEd channels (see
/// push_connection.hpp for the read loop). A lost connection stays lost; used by one thread at a
/// time.
class PushConnection {
public:
    /// Connects like a Connection; throws what its constructor throws.
    explicit PushConnection(ConnectionOptions options) : connection_(std::move(options)) {}

    /// Before subscribe(): one command and its reply (CLIENT ID, CLIENT
    /// TRACKING ...). Throws ReplyError for an error reply.
    Reply command(const Command& cmd);

    /// SUBSCRIBE `channel`, once the server confirmed it. From then on the
    /// channel's messages arrive: read them with next_buffered() and receive().
    void subscribe(std::string_view channel);

    /// Writes `cmd` without waiting; its reply arrives as a pushed message
    /// (PING: Kind::pong). Throws IoError or TimeoutError when the write fails.
    void send(const Command& cmd) { connection_.send_without_reply(cmd); }

    /// The next push already read from the socket, if any. poll() cannot see
    /// these: drain them before receive(). Throws ProtocolError on a stream
    /// that cannot be parsed.
    std::optional<PushedMessage> next_buffered();

    /// Waits up to `timeout` for the server to send something (or for
    /// `wake`), and reads what arrived. Throws IoError when the connection is
    /// lost (closed by the server, reset).
    void receive(std::chrono::milliseconds timeout, details::WakePipe& wake);

    /// The options it was made with.
    const ConnectionOptions& options() const noexcept { return connection_.options(); }
    /// The socket, to poll() together with other descriptors.
    int fd() const noexcept { return connection_.fd(); }

private:
    std::string where() const;

    void require_usable() const;

    Connection connection_;
    bool subscribed_ = false;
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "push_connection-inl.hpp"
#endif
