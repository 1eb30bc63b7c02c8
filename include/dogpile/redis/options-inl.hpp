#pragma once
// Definitions of options.hpp (details/linkage.hpp: inline when header-only).

#include "options.hpp"

namespace dogpile::redis {

namespace details {

DOGPILE_INLINE bool parse_decimal(std::string_view s, long long max, long long& out) noexcept {
    if (s.empty() || s.size() > 18) return false;
    long long value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
    }
    if (value > max) return false;
    out = value;
    return true;
}

DOGPILE_INLINE int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

DOGPILE_INLINE std::string percent_decode(std::string_view s, std::string_view what, std::string_view url_for_errors) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
        const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            throw ConfigurationError("redis URL '" + std::string(url_for_errors) + "': bad percent-escape in the " +
                                     std::string(what) + " (expected %XX with two hex digits)");
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

DOGPILE_INLINE bool is_tls_query_option(std::string_view name) noexcept {
    for (const char* known : {"ca_file", "ca_dir", "cert_file", "key_file", "server_name", "verify_hostname", "min_tls",
                              "insecure_skip_verification"}) {
        if (name == known) return true;
    }
    return false;
}

template <class Fail>
void apply_tls_query_option(TlsOptions& tls, std::string_view name, std::string value, const Fail& fail) {
    auto flag = [&]() {
        if (value == "1" || value == "true" || value == "yes") return true;
        if (value == "0" || value == "false" || value == "no") return false;
        throw fail("bad " + std::string(name) + " '" + value + "' (expected 0 or 1)");
    };
    if (name == "ca_file") {
        tls.ca_file = std::move(value);
    } else if (name == "ca_dir") {
        tls.ca_dir = std::move(value);
    } else if (name == "cert_file") {
        tls.cert_file = std::move(value);
    } else if (name == "key_file") {
        tls.key_file = std::move(value);
    } else if (name == "server_name") {
        tls.server_name = std::move(value);
    } else if (name == "verify_hostname") {
        tls.verify_hostname = flag();
    } else if (name == "min_tls") {
        if (!parse_tls_version(value, tls.min_protocol)) {
            throw fail("bad min_tls '" + value + "' (expected 1.2 or 1.3)");
        }
    } else if (name == "insecure_skip_verification") {
        tls.verification = flag() ? TlsVerification::insecure_skip_verification : TlsVerification::verify_peer;
    }
}

DOGPILE_INLINE std::string redact_url(std::string_view url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::string(url);
    const std::size_t start = scheme_end + 3;
    const auto at = url.rfind('@');
    if (at == std::string_view::npos || at < start) return std::string(url);
    const auto colon = url.find(':', start);
    if (colon == std::string_view::npos || colon > at) return std::string(url);
    return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

}  // namespace details

DOGPILE_INLINE ConnectionOptions ConnectionOptions::from_url(std::string_view url, ConnectionOptions base) {
    const std::string shown = details::redact_url(url);
    auto fail = [&shown](const std::string& why) -> ConfigurationError {
        return ConfigurationError("redis URL '" + shown + "': " + why);
    };

    ConnectionOptions o = std::move(base);
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        throw fail("expected redis://host[:port][/db] or unix:///path/to.sock");
    }
    const std::string_view scheme = url.substr(0, scheme_end);
    std::string_view rest = url.substr(scheme_end + 3);
    bool is_unix = false;
    bool db_in_path = false;
    if (scheme == "redis") {
        is_unix = false;
        o.tls.reset();
    } else if (scheme == "unix" || scheme == "redis+unix") {
        is_unix = true;
        o.tls.reset();
    } else if (scheme == "rediss") {
        is_unix = false;
        if (!o.tls) o.tls = TlsOptions{};
    } else {
        throw fail("unknown scheme '" + std::string(scheme) + "' (expected redis://, rediss:// or unix://)");
    }

    if (rest.find('#') != std::string_view::npos) throw fail("a fragment ('#') is not allowed");

    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }

    // userinfo: everything before the last '@' (a raw '@' in a password is
    // tolerated; the percent-encoded form is the portable one).
    std::string_view authority_and_path = rest;
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = rest.substr(0, at);
        authority_and_path = rest.substr(at + 1);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            throw fail("'" + std::string(userinfo) +
                       "@' is ambiguous: write redis://:password@host for a password, or "
                       "redis://user:password@host for an ACL user");
        }
        o.username = details::percent_decode(userinfo.substr(0, colon), "user name", shown);
        o.password = details::percent_decode(userinfo.substr(colon + 1), "password", shown);
        if (o.username.empty() && o.password->empty()) o.password.reset();  // "redis://:@host"
    }

    if (is_unix) {
        if (authority_and_path.empty() || authority_and_path.front() != '/') {
            throw fail("a unix socket URL needs an absolute path: unix:///path/to/redis.sock");
        }
        o.unix_socket = details::percent_decode(authority_and_path, "socket path", shown);
        o.host = ConnectionOptions{}.host;
        o.port = ConnectionOptions{}.port;
        if (o.unix_socket.size() < 2) throw fail("the unix socket path is empty");
    } else {
        std::string_view authority = authority_and_path;
        std::string_view path;
        if (const auto slash = authority.find('/'); slash != std::string_view::npos) {
            path = authority.substr(slash + 1);
            authority = authority.substr(0, slash);
        }
        std::string_view host;
        std::string_view port;
        bool has_port = false;
        if (!authority.empty() && authority.front() == '[') {
            const auto close = authority.find(']');
            if (close == std::string_view::npos) throw fail("unterminated '[' in an IPv6 host");
            host = authority.substr(1, close - 1);
            const std::string_view after = authority.substr(close + 1);
            if (!after.empty()) {
                if (after.front() != ':') throw fail("unexpected text after the IPv6 host");
                port = after.substr(1);
                has_port = true;
            }
        } else {
            const auto colon = authority.find(':');
            host = authority.substr(0, colon);
            if (colon != std::string_view::npos) {
                port = authority.substr(colon + 1);
                has_port = true;
            }
        }
        if (host.empty()) throw fail("the host is empty");
        o.host = std::string(host);
        o.unix_socket.clear();
        o.port = ConnectionOptions{}.port;
        if (has_port) {
            long long value = 0;
            if (!details::parse_decimal(port, 65535, value) || value == 0) {
                throw fail("bad port '" + std::string(port) + "' (expected 1-65535)");
            }
            o.port = static_cast<int>(value);
        }
        if (!path.empty()) {
            long long value = 0;
            if (!details::parse_decimal(path, 2147483647, value)) {
                throw fail("bad database '" + std::string(path) + "' (expected a number, as in redis://host/2)");
            }
            o.db = static_cast<int>(value);
            db_in_path = true;
        }
    }

    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos) throw fail("query option '" + std::string(pair) + "' has no value");
        const std::string_view name = pair.substr(0, eq);
        const std::string_view value = pair.substr(eq + 1);
        long long number = 0;
        if (name == "db") {
            if (!details::parse_decimal(value, 2147483647, number)) {
                throw fail("bad database '" + std::string(value) + "' (expected a number)");
            }
            if (db_in_path && number != o.db) throw fail("the database is given twice, differently");
            o.db = static_cast<int>(number);
        } else if (name == "connect_timeout" || name == "command_timeout") {
            if (!details::parse_decimal(value, 86400000, number) || number == 0) {
                throw fail("bad " + std::string(name) + " '" + std::string(value) +
                           "' (expected a positive number of milliseconds)");
            }
            (name == "connect_timeout" ? o.connect_timeout : o.command_timeout) = std::chrono::milliseconds(number);
        } else if (name == "client_name") {
            o.client_name = details::percent_decode(value, "client name", shown);
        } else if (details::is_tls_query_option(name)) {
            if (!o.tls) {
                throw fail("'" + std::string(name) + "' is a TLS option: use a rediss:// URL for TLS");
            }
            details::apply_tls_query_option(*o.tls, name, details::percent_decode(value, name, shown), fail);
        } else {
            throw fail("unknown query option '" + std::string(name) +
                       "' (known: db, connect_timeout, command_timeout, client_name; with rediss://: ca_file, "
                       "ca_dir, cert_file, key_file, server_name, verify_hostname, min_tls, "
                       "insecure_skip_verification)");
        }
    }
    o.validate();
    return o;
}

DOGPILE_INLINE ConnectionOptions ConnectionOptions::from_url(std::string_view url) {
    return from_url(url, ConnectionOptions{});
}

DOGPILE_INLINE void ConnectionOptions::validate() const {
    const std::string where = "redis connection options (" + describe() + "): ";
    if (unix_socket.empty()) {
        if (host.empty()) throw ConfigurationError(where + "host is empty");
        if (port < 1 || port > 65535)
            throw ConfigurationError(where + "port " + std::to_string(port) + " is not in 1-65535");
    }
    if (db < 0) throw ConfigurationError(where + "db must not be negative");
    if (connect_timeout.count() <= 0) throw ConfigurationError(where + "connect_timeout must be positive");
    if (command_timeout.count() <= 0) throw ConfigurationError(where + "command_timeout must be positive");
    if (!username.empty() && !password) throw ConfigurationError(where + "a username needs a password");
    if (max_reply_bulk_bytes == 0) throw ConfigurationError(where + "max_reply_bulk_bytes must be positive");
    if (client_name && client_name->find_first_of(" \n\r\t") != std::string::npos) {
        throw ConfigurationError(where + "client_name must not contain spaces or newlines");
    }
    if (tls) {
        if (!unix_socket.empty()) throw ConfigurationError(where + "TLS is for TCP connections, not a unix socket");
        try {
            tls->validate();
        } catch (const ConfigurationError& e) {
            throw ConfigurationError(where + e.what());
        }
    }
}

DOGPILE_INLINE std::string ConnectionOptions::describe() const {
    std::string out;
    const std::string user = username.empty() ? std::string() : username + "@";
    if (!unix_socket.empty()) {
        out = "unix://" + user + unix_socket;
        if (db != 0) out += "?db=" + std::to_string(db);
        return out;
    }
    const bool v6 = host.find(':') != std::string::npos;
    out = (tls ? "rediss://" : "redis://") + user + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    if (db != 0) out += "/" + std::to_string(db);
    return out;
}

}  // namespace dogpile::redis
