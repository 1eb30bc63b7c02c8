#pragma once
// The exception hierarchy. Everything dogpile throws derives from dogpile::Error,
// so one catch clause is enough for callers who do not care about the detail.

#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dogpile {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Misuse detected before anything ran: configuring a region twice, using an
// unconfigured one, soft invalidation without an expiration time, bad options.
class ConfigurationError : public Error {
public:
    using Error::Error;
};

// The key's lock could not be acquired within RegionOptions::lock_timeout.
class LockTimeout : public Error {
public:
    using Error::Error;
};

// A payload could not be turned back into a value: truncated, wrong type,
// wrong length for its template, over a limit, unknown envelope version.
class DecodeError : public Error {
public:
    using Error::Error;
};

// A value could not be turned into bytes (unsupported type, over a size limit).
class EncodeError : public Error {
public:
    using Error::Error;
};

// A backend could not do its job (store unreachable, timeout, server error).
// Redis errors (dogpile::redis::RedisError and its children) derive from this.
class BackendError : public Error {
public:
    using Error::Error;
};

// An input exceeded a configured limit (key length, payload size).
class LimitExceeded : public Error {
public:
    using Error::Error;
};

/// What a backend error hook (RegionOptions::error_hook and the Redis stores'
/// own hooks) is told when a backend operation failed.
struct BackendErrorEvent {
    /// "get", "get_multi", "set", "set_multi", "erase", "erase_multi", "get_mutex", "lock",
    /// "unlock" (never rethrown: the lock then expires by itself).
    std::string_view operation;
    std::exception_ptr error;  ///< the exception the backend threw
    std::string_view message;  ///< what() of the error, when it is a std::exception
};

}  // namespace dogpile
