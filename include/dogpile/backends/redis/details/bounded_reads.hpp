#pragma once
// bounded_read(): runs a byte store's read with the replies' bulk strings
// bounded by the store's own limits (redis/details/reply_limit.hpp), so a
// value far over limits.max_payload_bytes is refused from its reply header
// instead of being transferred and buffered first. The refusal is what an
// over-limit payload always was (backend_options.hpp): a DecodeError,
// counted in stats().decode_errors, a miss for a region.

#include <algorithm>
#include <cstddef>
#include <string>

#include "../../../errors.hpp"
#include "../../../redis/details/reply_limit.hpp"
#include "../../../redis/errors.hpp"
#include "../backend_options.hpp"

namespace dogpile::redis::details {

// Room above the limits for whatever a reply carries besides one value
// (nothing today: the limits count the envelope), so the limit never cuts a
// value the store would accept.
inline constexpr std::size_t reply_envelope_slack = 4096;

inline std::size_t reply_limit_for(const BackendLimits& limits) noexcept {
    // A whole-hash read (HGETALL) returns field names as bulks too.
    return std::max(limits.max_payload_bytes, limits.max_key_bytes) + reply_envelope_slack;
}

template <class Read>
auto bounded_read(const BackendLimits& limits, const StoreStatistics& statistics, Read&& read) {
    const ReplyLimitScope scope(reply_limit_for(limits));
    try {
        return read();
    } catch (const ReplyTooLarge& e) {
        statistics.count_decode_error();
        throw DecodeError(std::string("stored payload over limits.max_payload_bytes (") +
                          std::to_string(limits.max_payload_bytes) + "), refused unread: " + e.what());
    }
}

}  // namespace dogpile::redis::details
