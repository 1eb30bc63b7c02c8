#pragma once
/// \file
/// What the Redis layer throws. dogpile::Error is the one root: RedisError
/// derives from dogpile::BackendError, so a region that degrades on backend
/// errors needs no Redis-specific catch.
///
/// \code{.unparsed}
///   RedisError               anything that went wrong talking to Redis
///   ├── IoError              the connection failed (refused, reset, EOF); it is
///   │   │                    unusable afterwards and a pool discards it
///   │   └── TimeoutError     connect or command timeout, also unusable after
///   │       └── PoolTimeout  no pooled connection became free in time
///   ├── ProtocolError        the stream could not be parsed, or a reply had a
///   │                        type the caller did not expect
///   ├── ReplyError           the server answered with an error reply; the
///   │   │                    connection stays usable
///   │   └── AuthError        AUTH was refused while connecting
///   ├── UnreleasableLockError  a lock key exists that would never expire
///   ├── ScriptingRefused     the server refuses the scripts a lock needs
///   └── EvictionPolicyWarning  reported, never thrown: lock keys can be evicted
/// \endcode
///
/// ReplyTooLarge is a dogpile::LimitExceeded, not a RedisError: a reply
/// holding a bulk over ConnectionOptions::max_reply_bulk_bytes (or a caller's
/// tighter ReplyLimitScope) was refused from its header; the connection that
/// read it is unusable afterwards.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "../details/linkage.hpp"
#include "../errors.hpp"

namespace dogpile::redis {

/// Anything that went wrong talking to Redis; the root of this file's errors (a
/// dogpile::BackendError).
class RedisError : public dogpile::BackendError {
public:
    using dogpile::BackendError::BackendError;
};

/// The connection failed (refused, reset, EOF); it is unusable afterwards and a pool discards it.
class IoError : public RedisError {
public:
    using RedisError::RedisError;
};

/// A connect or command timeout; the connection is unusable afterwards. Also thrown, before
/// anything is sent, when a region call's time budget is spent (the connection stays usable).
class TimeoutError : public IoError {
public:
    using IoError::IoError;
};

/// No pooled connection became free within the pool's acquire_timeout.
class PoolTimeout : public TimeoutError {
public:
    using TimeoutError::TimeoutError;
};

/// The pool's circuit breaker is open (circuit_breaker.hpp): the server failed
/// repeatedly, so the call fails at once, without any I/O. The message says
/// since when and when the next probe is. The region degrades as for any
/// IoError.
class CircuitOpenError : public IoError {
public:
    using IoError::IoError;
};

/// Never thrown: what an error hook receives when a circuit breaker moves to
/// half-open or closed (backends/redis/backend_options.hpp, report_breaker_to()).
class BreakerStateChanged : public RedisError {
public:
    using RedisError::RedisError;
};

/// The stream could not be parsed, or a reply had a type the caller did not expect.
class ProtocolError : public RedisError {
public:
    using RedisError::RedisError;
};

/// A reply holding a bulk over ConnectionOptions::max_reply_bulk_bytes (or a tighter per-call
/// limit), refused from its header; the connection that read it is unusable afterwards.
class ReplyTooLarge : public dogpile::LimitExceeded {
public:
    using dogpile::LimitExceeded::LimitExceeded;
};

/// A cluster redirection carried by a MOVED or ASK error reply
/// ("MOVED 3999 127.0.0.1:6381").
// Parsed here so a cluster router can be added without touching the error type.
struct Redirection {
    /// MOVED (the slot has a new owner) or ASK (ask that node once, after ASKING).
    enum class Kind { moved, ask };
    Kind kind;         ///< MOVED or ASK
    int slot;          ///< the hash slot, 0 to 16383
    std::string host;  ///< the node to ask; an IPv6 address without brackets
    int port;          ///< its port
};

/// The server answered with an error reply; the connection stays usable.
class ReplyError : public RedisError {
public:
    /// `message` is the server's text exactly ("NOSCRIPT No matching script...");
    /// `context`, when given, prefixes what() ("SELECT 99: ERR DB index ...").
    explicit ReplyError(std::string message, std::string_view context = {})
        : RedisError(context.empty() ? message : std::string(context) + ": " + message), message_(std::move(message)) {}

    /// The server's error text, without the context prefix.
    const std::string& message() const noexcept { return message_; }

    /// The error's first word, which Redis uses as its error code: "ERR",
    /// "WRONGTYPE", "NOSCRIPT", "MOVED", ... (the whole message if it has no space).
    std::string_view code() const noexcept { return code_of(message_); }

    /// Script not loaded: EVALSHA must be preceded by SCRIPT LOAD.
    bool is_noscript() const noexcept { return code() == "NOSCRIPT"; }
    /// Cluster: the slot has moved to another node (see redirection()).
    bool is_moved() const noexcept { return code() == "MOVED"; }
    /// Cluster: the slot is migrating; ask the named node once (see redirection()).
    bool is_ask() const noexcept { return code() == "ASK"; }
    /// Cluster: a multi-key command met a slot being migrated; retry later.
    bool is_tryagain() const noexcept { return code() == "TRYAGAIN"; }
    /// Cluster: the command's keys are in different slots.
    bool is_crossslot() const noexcept { return code() == "CROSSSLOT"; }
    /// Cluster: the cluster cannot serve the slot now.
    bool is_clusterdown() const noexcept { return code() == "CLUSTERDOWN"; }
    /// The key holds a value of another type.
    bool is_wrongtype() const noexcept { return code() == "WRONGTYPE"; }
    /// Authentication is required and was not done.
    bool is_noauth() const noexcept { return code() == "NOAUTH"; }
    /// The user name or password was refused.
    bool is_wrongpass() const noexcept { return code() == "WRONGPASS"; }
    /// The ACL user may not run the command or touch the key.
    bool is_noperm() const noexcept { return code() == "NOPERM"; }
    /// The server is loading its dataset and refuses commands.
    bool is_loading() const noexcept { return code() == "LOADING"; }
    /// A script is running too long and blocks the server.
    bool is_busy() const noexcept { return code() == "BUSY"; }
    /// A write was sent to a read-only replica.
    bool is_readonly() const noexcept { return code() == "READONLY"; }
    /// The server is over maxmemory and refuses writes.
    bool is_oom() const noexcept { return code() == "OOM"; }

    /// The parsed redirection of a MOVED or ASK reply; nullopt for any other or a malformed one.
    std::optional<Redirection> redirection() const { return parse_redirection(message_); }

    /// The first word of `message` (see code()).
    static std::string_view code_of(std::string_view message) noexcept { return message.substr(0, message.find(' ')); }

    /// `MOVED <slot> <host>:<port>` or `ASK <slot> <host>:<port>`; the host may
    /// be an IPv6 address, so the port follows the last colon.
    static std::optional<Redirection> parse_redirection(std::string_view message);

private:
    static std::optional<int> parse_number(std::string_view s, int max) noexcept;

    std::string message_;
};

/// AUTH was refused while connecting (wrong password or user).
class AuthError : public ReplyError {
public:
    using ReplyError::ReplyError;
};

/// A key at a distributed lock's name that has no TTL (planted by a SET without
/// PX, an RPUSH, a buggy client): nobody would ever release it, so waiting for
/// it would never end.
class UnreleasableLockError : public RedisError {
public:
    using RedisError::RedisError;
};

/// The server refuses EVALSHA / SCRIPT LOAD (an ACL user without `@scripting`, a
/// renamed or disabled command): a lock could be taken but never released.
class ScriptingRefused : public RedisError {
public:
    using RedisError::RedisError;
};

/// Passed to an error hook, never thrown: the server's maxmemory-policy may
/// evict lock keys while they are held (docs/reliability.md, "Guarantees").
class EvictionPolicyWarning : public RedisError {
public:
    using RedisError::RedisError;
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "errors-inl.hpp"
#endif
