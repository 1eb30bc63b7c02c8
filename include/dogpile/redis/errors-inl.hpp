#pragma once
// Definitions of errors.hpp (details/linkage.hpp: inline when header-only).

#include "errors.hpp"

namespace dogpile::redis {

DOGPILE_INLINE std::optional<Redirection> ReplyError::parse_redirection(std::string_view message) {
    Redirection r{Redirection::Kind::moved, 0, {}, 0};
    const std::string_view code = code_of(message);
    if (code == "MOVED") {
        r.kind = Redirection::Kind::moved;
    } else if (code == "ASK") {
        r.kind = Redirection::Kind::ask;
    } else {
        return std::nullopt;
    }
    std::string_view rest = message.substr(code.size());
    if (rest.empty() || rest.front() != ' ') return std::nullopt;
    rest.remove_prefix(1);
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto slot = parse_number(rest.substr(0, space), 16383);
    const std::string_view endpoint = rest.substr(space + 1);
    const auto colon = endpoint.rfind(':');
    if (!slot || colon == std::string_view::npos) return std::nullopt;
    const auto port = parse_number(endpoint.substr(colon + 1), 65535);
    if (!port) return std::nullopt;
    r.slot = *slot;
    r.host = std::string(endpoint.substr(0, colon));
    r.port = *port;
    return r;
}

DOGPILE_INLINE std::optional<int> ReplyError::parse_number(std::string_view s, int max) noexcept {
    if (s.empty() || s.size() > 5) return std::nullopt;
    int value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    if (value > max) return std::nullopt;
    return value;
}

}  // namespace dogpile::redis
