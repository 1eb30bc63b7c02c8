#pragma once
/// \file
/// NodeAddress: a Redis server's TCP endpoint, as cluster nodes and sentinels
/// name each other ("127.0.0.1:7000", "[::1]:7000"). Connection settings other
/// than the endpoint (auth, timeouts, client name) are shared by all nodes and
/// live in ConnectionOptions.

#include <functional>
#include <string>
#include <string_view>

#include "../details/linkage.hpp"
#include "../errors.hpp"
#include "options.hpp"

namespace dogpile::redis {

/// A Redis server's TCP endpoint, as cluster nodes and sentinels name each other; the other
/// connection settings come from ConnectionOptions.
struct NodeAddress {
    std::string host;  ///< name or IP address; an IPv6 one without brackets
    int port = 0;      ///< TCP port

    /// "host:port", with an IPv6 host in brackets.
    std::string to_string() const {
        const bool v6 = host.find(':') != std::string::npos;
        return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }

    /// Parses "host:port" or "[v6]:port". Throws ConfigurationError.
    static NodeAddress parse(std::string_view text);

    /// `base` with its endpoint replaced by this address (and no unix socket).
    ConnectionOptions apply_to(ConnectionOptions base) const {
        base.unix_socket.clear();
        base.host = host;
        base.port = port;
        return base;
    }

    /// Same host text and port (names are not resolved).
    friend bool operator==(const NodeAddress& a, const NodeAddress& b) noexcept {
        return a.port == b.port && a.host == b.host;
    }
    /// Negation of operator==.
    friend bool operator!=(const NodeAddress& a, const NodeAddress& b) noexcept { return !(a == b); }
};

}  // namespace dogpile::redis

namespace std {
/// Lets a NodeAddress key an unordered container.
template <>
struct hash<dogpile::redis::NodeAddress> {
    /// Combines the hashes of host and port.
    size_t operator()(const dogpile::redis::NodeAddress& a) const noexcept {
        return hash<string>()(a.host) ^ (static_cast<size_t>(a.port) * 0x9E3779B97F4A7C15ULL);
    }
};
}  // namespace std

#if DOGPILE_INCLUDE_DEFINITIONS
#include "address-inl.hpp"
#endif
