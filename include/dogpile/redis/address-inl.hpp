#pragma once
// Definitions of address.hpp (details/linkage.hpp: inline when header-only).

#include "address.hpp"

namespace dogpile::redis {

DOGPILE_INLINE NodeAddress NodeAddress::parse(std::string_view text) {
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

}  // namespace dogpile::redis
