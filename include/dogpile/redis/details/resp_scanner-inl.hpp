#pragma once
// Definitions of resp_scanner.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>

#include "resp_scanner.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE std::optional<RespScanner::Oversized> RespScanner::scan(std::string_view bytes,
                                                                       std::size_t limit) noexcept {
    std::size_t i = 0;
    while (i < bytes.size()) {
        if (state_ == State::body) {
            const std::uint64_t skipped = std::min<std::uint64_t>(body_left_, bytes.size() - i);
            body_left_ -= skipped;
            i += static_cast<std::size_t>(skipped);
            if (body_left_ == 0) state_ = State::line_start;
            continue;
        }
        const char c = bytes[i++];
        switch (state_) {
            case State::line_start:
                bulk_header_ = c == '$' || c == '=' || c == '!';
                negative_ = false;
                number_ = 0;
                line_bytes_ = 1;
                state_ = bulk_header_ ? State::header_digits : State::line_rest;
                break;
            case State::header_digits:
                ++line_bytes_;
                if (c >= '0' && c <= '9') {
                    number_ = number_ * 10 + static_cast<std::uint64_t>(c - '0');
                    if (!negative_) {
                        if (const auto oversized = over_limit(number_, false, limit)) return oversized;
                    }
                } else if (c == '-' && line_bytes_ == 2) {
                    negative_ = true;
                } else if (c == '\r') {
                    state_ = State::line_end;
                } else {
                    bulk_header_ = false;  // not a length hiredis accepts: it reports the error
                    state_ = State::line_rest;
                }
                break;
            case State::line_rest:
                if (c == '\r') {
                    state_ = State::line_end;
                } else if (const auto oversized = over_limit(++line_bytes_, true, limit)) {
                    return oversized;
                }
                break;
            case State::line_end:
                if (bulk_header_ && !negative_) {
                    body_left_ = number_ + 2;  // the body, then its CRLF
                    state_ = State::body;
                } else {
                    state_ = State::line_start;
                }
                break;
            case State::body: break;
        }
    }
    return std::nullopt;
}

DOGPILE_INLINE std::string RespScanner::describe(const Oversized& oversized, std::size_t limit,
                                                 std::size_t connection_max) {
    const std::string what = oversized.is_line ? "a reply line of more than " : "a reply bulk of ";
    const bool callers = limit < connection_max;
    const std::string whose = callers ? "the caller's limit of " : "ConnectionOptions::max_reply_bulk_bytes (";
    return what + std::to_string(oversized.size) + " bytes exceeds " + whose + std::to_string(limit) +
           (callers ? " bytes" : ")");
}

}  // namespace dogpile::redis::details
