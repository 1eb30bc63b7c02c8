#pragma once
// ReplyLimitScope: a tighter bound on the bulk strings of the replies read on
// this thread while it lives, for a caller that knows how big an answer can
// legitimately be (a byte store: its limits.max_payload_bytes) without
// knowing the connection. Scopes nest; the smallest active limit wins, and
// ConnectionOptions::max_reply_bulk_bytes always applies. A Connection
// refuses an oversized bulk from its header, before its body is read
// (docs/architecture.md, "Bounded replies"). State is per thread.

#include <algorithm>
#include <cstddef>
#include <limits>

namespace dogpile::redis::details {

class ReplyLimitScope {
public:
    explicit ReplyLimitScope(std::size_t max_bulk_bytes) noexcept : saved_(current()) {
        current() = std::min(saved_, max_bulk_bytes);
    }
    ~ReplyLimitScope() { current() = saved_; }
    ReplyLimitScope(const ReplyLimitScope&) = delete;
    ReplyLimitScope& operator=(const ReplyLimitScope&) = delete;

    // The limit for a bulk read now on this thread by a connection whose own
    // maximum is `connection_max`.
    static std::size_t effective(std::size_t connection_max) noexcept { return std::min(current(), connection_max); }

private:
    friend class ReplyLimitOverride;

    static std::size_t& current() noexcept {
        thread_local std::size_t limit = std::numeric_limits<std::size_t>::max();
        return limit;
    }

    std::size_t saved_;
};

// Sets this thread's limit to exactly `max_bulk_bytes`, looser or not, while
// it lives: for a thread that reads replies on behalf of other callers (the
// pipelined client's writer, docs/architecture.md "Auto-pipelining"), whose
// own scope must not decide what the others may receive.
class ReplyLimitOverride {
public:
    explicit ReplyLimitOverride(std::size_t max_bulk_bytes) noexcept : saved_(ReplyLimitScope::current()) {
        ReplyLimitScope::current() = max_bulk_bytes;
    }
    ~ReplyLimitOverride() { ReplyLimitScope::current() = saved_; }
    ReplyLimitOverride(const ReplyLimitOverride&) = delete;
    ReplyLimitOverride& operator=(const ReplyLimitOverride&) = delete;

private:
    std::size_t saved_;
};

}  // namespace dogpile::redis::details
