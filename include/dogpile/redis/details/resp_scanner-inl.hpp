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
                    if (!negative_ && number_ > limit) return Oversized{number_, false};
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
                } else if (++line_bytes_ > limit) {
                    return Oversized{line_bytes_, true};
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

}  // namespace dogpile::redis::details
