#pragma once
// What the Redis layer throws. dogpile::Error is the one root: RedisError
// derives from dogpile::BackendError, so a region that degrades on backend
// errors needs no Redis-specific catch.
//
//   RedisError               anything that went wrong talking to Redis
//   ├── IoError              the connection failed (refused, reset, EOF); it is
//   │   │                    unusable afterwards and a pool discards it
//   │   └── TimeoutError     connect or command timeout, also unusable after
//   │       └── PoolTimeout  no pooled connection became free in time
//   ├── ProtocolError        the stream could not be parsed, or a reply had a
//   │                        type the caller did not expect
//   ├── ReplyError           the server answered with an error reply; the
//   │   │                    connection stays usable
//   │   └── AuthError        AUTH was refused while connecting
//   ├── UnreleasableLockError  a lock key exists that would never expire
//   ├── ScriptingRefused     the server refuses the scripts a lock needs
//   └── EvictionPolicyWarning  reported, never thrown: lock keys can be evicted
//
// ReplyTooLarge is a dogpile::LimitExceeded, not a RedisError: a reply
// holding a bulk over ConnectionOptions::max_reply_bulk_bytes (or a caller's
// tighter ReplyLimitScope) was refused from its header; the connection that
// read it is unusable afterwards.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "../details/linkage.hpp"
#include "../errors.hpp"

namespace dogpile::redis {

class RedisError : public dogpile::BackendError {
public:
    using dogpile::BackendError::BackendError;
};

class IoError : public RedisError {
public:
    using RedisError::RedisError;
};

class TimeoutError : public IoError {
public:
    using IoError::IoError;
};

class PoolTimeout : public TimeoutError {
public:
    using TimeoutError::TimeoutError;
};

// The pool's circuit breaker is open (circuit_breaker.hpp): the server failed
// repeatedly, so the call fails at once, without any I/O. The message says
// since when and when the next probe is. The region degrades as for any
// IoError.
class CircuitOpenError : public IoError {
public:
    using IoError::IoError;
};

// Never thrown: what an error hook receives when a circuit breaker moves to
// half-open or closed (backends/redis/backend_options.hpp, report_breaker_to()).
class BreakerStateChanged : public RedisError {
public:
    using RedisError::RedisError;
};

class ProtocolError : public RedisError {
public:
    using RedisError::RedisError;
};

class ReplyTooLarge : public dogpile::LimitExceeded {
public:
    using dogpile::LimitExceeded::LimitExceeded;
};

// A cluster redirection carried by a MOVED or ASK error reply
// ("MOVED 3999 127.0.0.1:6381"). Parsed here so a cluster router can be added
// without touching the error type.
struct Redirection {
    enum class Kind { moved, ask };
    Kind kind;
    int slot;
    std::string host;
    int port;
};

class ReplyError : public RedisError {
public:
    // `message` is the server's text exactly ("NOSCRIPT No matching script...");
    // `context`, when given, prefixes what() ("SELECT 99: ERR DB index ...").
    explicit ReplyError(std::string message, std::string_view context = {})
        : RedisError(context.empty() ? message : std::string(context) + ": " + message),
          message_(std::move(message)) {}

    const std::string& message() const noexcept { return message_; }

    // The error's first word, which Redis uses as its error code: "ERR",
    // "WRONGTYPE", "NOSCRIPT", "MOVED", ... (the whole message if it has no space).
    std::string_view code() const noexcept { return code_of(message_); }

    bool is_noscript() const noexcept { return code() == "NOSCRIPT"; }
    bool is_moved() const noexcept { return code() == "MOVED"; }
    bool is_ask() const noexcept { return code() == "ASK"; }
    bool is_tryagain() const noexcept { return code() == "TRYAGAIN"; }
    bool is_crossslot() const noexcept { return code() == "CROSSSLOT"; }
    bool is_clusterdown() const noexcept { return code() == "CLUSTERDOWN"; }
    bool is_wrongtype() const noexcept { return code() == "WRONGTYPE"; }
    bool is_noauth() const noexcept { return code() == "NOAUTH"; }
    bool is_wrongpass() const noexcept { return code() == "WRONGPASS"; }
    bool is_noperm() const noexcept { return code() == "NOPERM"; }
    bool is_loading() const noexcept { return code() == "LOADING"; }
    bool is_busy() const noexcept { return code() == "BUSY"; }
    bool is_readonly() const noexcept { return code() == "READONLY"; }
    bool is_oom() const noexcept { return code() == "OOM"; }

    std::optional<Redirection> redirection() const { return parse_redirection(message_); }

    static std::string_view code_of(std::string_view message) noexcept {
        return message.substr(0, message.find(' '));
    }

    // "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>"; the host may
    // be an IPv6 address, so the port follows the last colon.
    static std::optional<Redirection> parse_redirection(std::string_view message);

private:
    static std::optional<int> parse_number(std::string_view s, int max) noexcept;

    std::string message_;
};

class AuthError : public ReplyError {
public:
    using ReplyError::ReplyError;
};

// A key at a distributed lock's name that has no TTL (planted by a SET without
// PX, an RPUSH, a buggy client): nobody would ever release it, so waiting for
// it would never end.
class UnreleasableLockError : public RedisError {
public:
    using RedisError::RedisError;
};

// The server refuses EVALSHA / SCRIPT LOAD (an ACL user without @scripting, a
// renamed or disabled command): a lock could be taken but never released.
class ScriptingRefused : public RedisError {
public:
    using RedisError::RedisError;
};

// Passed to an error hook, never thrown: the server's maxmemory-policy may
// evict lock keys while they are held (see the README's guarantees).
class EvictionPolicyWarning : public RedisError {
public:
    using RedisError::RedisError;
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "errors-inl.hpp"
#endif
