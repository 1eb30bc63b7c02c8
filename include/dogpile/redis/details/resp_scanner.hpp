#pragma once
// RespScanner: finds the bulk headers ("$N", and RESP3's "=N" and "!N") in a
// stream of RESP bytes arriving in chunks of any size, so a Connection can
// refuse a reply whose bulk is over its limit before the body arrives (the
// body is never buffered). It only tells lines from bulk bodies, which is
// all the limit needs: an aggregate header ("*N", "%N", "~N", ">N", "|N") is
// a line like any other and its elements follow as ordinary values, so no
// nesting has to be tracked. hiredis parses the same bytes afterwards.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "../../details/linkage.hpp"

namespace dogpile::redis::details {

class RespScanner {
public:
    // A bulk header announcing more than the limit, or a line longer than it.
    struct Oversized {
        std::uint64_t size;  // bytes announced (or seen so far, for a line)
        bool is_line;        // a line without its end, not a bulk
    };

    // Scans `bytes`, the next chunk of the stream; the first value over
    // `limit` is returned and the scanner is left unusable (the connection is
    // discarded). Lines are bounded too, so a peer that never ends one cannot
    // make the reader buffer without end.
    std::optional<Oversized> scan(std::string_view bytes, std::size_t limit) noexcept;

    // The rule scan() applies to each value, also for a value already parsed
    // (a pipelined caller's reply, read under another caller's looser limit:
    // docs/architecture.md, "Auto-pipelining"): a bulk announcing more than
    // `limit` bytes, or a line (its type byte included) longer than that.
    static std::optional<Oversized> over_limit(std::uint64_t size, bool is_line, std::size_t limit) noexcept {
        if (size <= limit) return std::nullopt;
        return Oversized{size, is_line};
    }

    // What a ReplyTooLarge says about `oversized`, refused under `limit` on a
    // connection whose own maximum is `connection_max`.
    static std::string describe(const Oversized& oversized, std::size_t limit, std::size_t connection_max);

    // Forgets any partial value (a new connection).
    void reset() noexcept { *this = RespScanner(); }

private:
    enum class State : std::uint8_t { line_start, header_digits, line_rest, line_end, body };

    State state_ = State::line_start;
    bool bulk_header_ = false;  // the line being read is "$N", "=N" or "!N"
    bool negative_ = false;     // "$-1": nil, no body
    std::uint64_t number_ = 0;  // digits of a bulk header so far
    std::uint64_t line_bytes_ = 0;
    std::uint64_t body_left_ = 0;  // body bytes and its CRLF still to come
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "resp_scanner-inl.hpp"
#endif
