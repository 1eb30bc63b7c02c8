#pragma once
// NodeAddress: a Redis server's TCP endpoint, as cluster nodes and sentinels
// name each other ("127.0.0.1:7000", "[::1]:7000"). Connection settings other
// than the endpoint (auth, timeouts, client name) are shared by all nodes and
// live in ConnectionOptions.

#include <functional>
#include <string>
#include <string_view>

#include "../errors.hpp"
#include "options.hpp"

namespace dogpile::redis {

struct NodeAddress {
    std::string host;
    int port = 0;

    // "host:port", with an IPv6 host in brackets.
    std::string to_string() const {
        const bool v6 = host.find(':') != std::string::npos;
        return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }

    // Parses "host:port" or "[v6]:port". Throws ConfigurationError.
    static NodeAddress parse(std::string_view text) {
        auto fail = [&text](const char* why) {
            return ConfigurationError("redis node address '" + std::string(text) + "': " + why +
                                      " (expected host:port or [ipv6]:port)");
        };
        NodeAddress out;
        std::string_view port;
        if (!text.empty() && text.front() == '[') {
            const auto close = text.find(']');
            if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
                throw fail("bad bracketed host");
            }
            out.host = std::string(text.substr(1, close - 1));
            port = text.substr(close + 2);
        } else {
            const auto colon = text.rfind(':');
            if (colon == std::string_view::npos) throw fail("no port");
            out.host = std::string(text.substr(0, colon));
            port = text.substr(colon + 1);
        }
        long long value = 0;
        if (out.host.empty()) throw fail("empty host");
        if (!details::parse_decimal(port, 65535, value) || value == 0) throw fail("bad port");
        out.port = static_cast<int>(value);
        return out;
    }

    // `base` with its endpoint replaced by this address (and no unix socket).
    ConnectionOptions apply_to(ConnectionOptions base) const {
        base.unix_socket.clear();
        base.host = host;
        base.port = port;
        return base;
    }

    friend bool operator==(const NodeAddress& a, const NodeAddress& b) noexcept {
        return a.port == b.port && a.host == b.host;
    }
    friend bool operator!=(const NodeAddress& a, const NodeAddress& b) noexcept { return !(a == b); }
};

}  // namespace dogpile::redis

namespace std {
template <>
struct hash<dogpile::redis::NodeAddress> {
    size_t operator()(const dogpile::redis::NodeAddress& a) const noexcept {
        return hash<string>()(a.host) ^ (static_cast<size_t>(a.port) * 0x9E3779B97F4A7C15ULL);
    }
};
}  // namespace std
