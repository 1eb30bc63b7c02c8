#pragma once
/// \file
/// Where and how to connect: ConnectionOptions, and its URL form.
///
/// \code{.unparsed}
///   redis://[[user]:password@]host[:port][/db][?option=value&...]
///   rediss://[[user]:password@]host[:port][/db][?option=value&...]   (TLS)
///   unix://[[user]:password@]/path/to/redis.sock[?db=N&...]
/// \endcode
///
/// host may be a name, an IPv4 address or a bracketed IPv6 address
/// ("redis://[::1]:6380"). user and password are percent-decoded, so a password
/// holding `@`, `:` or `/` is written `%40`, `%3A`, `%2F`. Query options: db,
/// connect_timeout and command_timeout (milliseconds), client_name; on rediss://
/// only, the TLS options (tls_options.hpp, values percent-decoded): ca_file,
/// ca_dir, cert_file, key_file, server_name, verify_hostname (0 | 1), min_tls
/// (1.2 | 1.3) and insecure_skip_verification (1).
/// `redis://user@host` (a user without a password) is refused because other
/// clients disagree on whether that word is a user or a password.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "../details/linkage.hpp"
#include "../errors.hpp"
#include "tls_options.hpp"

namespace dogpile::redis {

class Connection;

/// Where and how to connect to one Redis server; also parsed from a URL (from_url(), whose syntax
/// and query options options.hpp lists).
struct ConnectionOptions {
    /// TCP endpoint. Used when unix_socket is empty. Every address a name
    /// resolves to is tried in turn, within connect_timeout.
    std::string host = "127.0.0.1";
    int port = 6379;  ///< TCP port

    /// Unix domain socket path; when set, host and port are ignored.
    std::string unix_socket;

    /// ACL user (Redis 6+). Empty means the default user: `AUTH <password>`.
    std::string username;
    /// Sent with AUTH on every (re)connect when set.
    std::optional<std::string> password;

    /// Logical database, SELECTed on every (re)connect when not 0.
    int db = 0;

    /// Bound for establishing the connection (every address tried, TCP
    /// handshake), within a region call also by its time budget
    /// (details/call_budget.hpp).
    std::chrono::milliseconds connect_timeout{1000};
    /// Bound for each wait of a command on the socket (a write that cannot
    /// proceed, a read with nothing to read), within a region call also by its
    /// time budget. A connection that timed out is unusable afterwards: its
    /// stream may still carry the late reply.
    std::chrono::milliseconds command_timeout{1000};

    /// TCP keepalive probes, so a pooled connection to a vanished host is noticed.
    bool tcp_keepalive = true;

    /// A reply holding a bulk string longer than this is refused from its
    /// header, before the body is read: LimitExceeded, and the connection is
    /// discarded. Redis' own proto-max-bulk-len by default; a caller can set a
    /// tighter bound per call (redis/details/reply_limit.hpp).
    std::size_t max_reply_bulk_bytes = std::size_t{512} << 20;

    /// CLIENT SETNAME on every (re)connect, shown by CLIENT LIST.
    std::optional<std::string> client_name;

    /// Run on every (re)connect, after AUTH, SELECT and SETNAME, for per-connection
    /// server state that a new socket loses (client-side caching's CLIENT
    /// TRACKING). What it throws fails the connect: the connection is left
    /// broken and the exception reaches whoever was connecting.
    std::function<void(Connection&)> on_connect{};

    /// TLS over TCP when set (rediss://): tls_options.hpp.
    std::optional<TlsOptions> tls;

    /// The URL's options on top of `base`: the URL always gives the address
    /// (its port defaults to 6379) and replaces user and password, db and
    /// query options only when it contains them; everything else (timeouts,
    /// keepalive, on_connect, a client_name the URL does not set) is base's.
    static ConnectionOptions from_url(std::string_view url, ConnectionOptions base);
    /// from_url() on top of default options. Throws ConfigurationError for a malformed URL.
    static ConnectionOptions from_url(std::string_view url);

    /// Throws ConfigurationError when the options cannot work (port out of
    /// range, negative db, non-positive timeout, user without password).
    void validate() const;

    /// "redis://user@host:port/db" (rediss:// with TLS) or "unix:///path?db=N", never the password:
    /// safe for logs and error messages.
    std::string describe() const;
};

namespace details {

// Digits only, at most `max`; false for anything else (no sign, no spaces).
bool parse_decimal(std::string_view s, long long max, long long& out) noexcept;
// `what` and `url_for_errors` name the part and the URL in the error message.
std::string percent_decode(std::string_view s, std::string_view what, std::string_view url_for_errors);
// The password never appears in error messages: the URL is shown with it masked.
std::string redact_url(std::string_view url);

}  // namespace details

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "options-inl.hpp"
#endif
