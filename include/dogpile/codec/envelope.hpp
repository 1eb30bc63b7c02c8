#pragma once
// The envelope: dogpile's metadata {created_at, version, expiry owner} in a
// small binary header in front of a codec's payload, so the metadata travels
// with the value through a store that keeps only bytes (RedisBackend, the hash
// store's `envelope` payload mode).
//
// Layout (all integers big-endian), format 1:
//
//   offset  size  field
//   0       1     magic 0xC1
//   1       1     format version (1)
//   2       1     N = length of the field block that follows (>= 13)
//   3       8     created_at: int64 microseconds since the Unix epoch
//   11      4     Metadata::version (uint32)
//   15      1     flags: bit 0 = expiry owned by the store; other bits reserved
//   16      8     creation_time: uint64 microseconds the creator took (when N >= 21;
//                 absent in envelopes written before early refresh existed: read as 0)
//   24      N-21  fields appended by later writers (skipped by this reader)
//   3+N     ...   the codec's payload
//
// 0xC1 is the one byte msgpack never uses, so an enveloped payload can never
// be mistaken for a bare msgpack object, nor the other way round.
//
// Growing it: new fields (e.g. the last creation's duration for early
// refresh) are appended to the field block and N grows. Older readers skip
// what they do not know; newer readers see from N which fields are present.
// Only a change older readers must not misread bumps the format version,
// which they then reject with a DecodeError. Reserved flag bits are written
// as 0 and ignored on read, so a new flag must be safe to ignore.
//
// Python: magic, fmt, n = payload[:3]; created_us, version, flags =
//         struct.unpack(">qIB", payload[3:16]); value = payload[3 + n:]
//         creation_us = struct.unpack(">Q", payload[16:24])[0] if n >= 21 else 0

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "../cached_value.hpp"
#include "../errors.hpp"

namespace dogpile::codec {

/// The envelope format: dogpile's metadata in a small binary header in front of a
/// codec's payload (the layout is in codec/envelope.hpp), for stores that keep only bytes.
namespace envelope {

inline constexpr std::uint8_t magic = 0xc1;        ///< the first byte: the one msgpack never uses
inline constexpr std::uint8_t format_version = 1;  ///< the format this version writes
/// Field block length of format 1 as first written; readers require at least this.
inline constexpr std::size_t min_fields_size = 13;
/// Field block length this version writes (adds creation_time).
inline constexpr std::size_t fields_size = 21;
/// Bytes in front of the payload in what wrap() writes.
inline constexpr std::size_t header_size = 3 + fields_size;

/// What unwrap() finds in an envelope.
struct Unwrapped {
    Metadata metadata;         ///< the metadata from the header
    std::string_view payload;  ///< a view into the bytes given to unwrap()
};

namespace details {

inline constexpr std::uint8_t flag_store_expiry = 0x01;

template <class U>
void put_big_endian(std::string& out, U value) {
    for (int shift = static_cast<int>(sizeof(U) * 8) - 8; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>(static_cast<std::uint8_t>(value >> shift)));
    }
}

template <class U>
U get_big_endian(std::string_view bytes, std::size_t offset) {
    U value = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) {
        value = static_cast<U>((static_cast<std::uint64_t>(value) << 8) | static_cast<std::uint8_t>(bytes[offset + i]));
    }
    return value;
}

inline std::string hex_byte(std::uint8_t byte) {
    const char* digits = "0123456789abcdef";
    return std::string("0x") + digits[byte >> 4] + digits[byte & 0x0f];
}

[[noreturn]] inline void fail(const std::string& what, std::size_t size) {
    throw DecodeError("envelope: " + what + " (" + std::to_string(size) + " byte(s) in total)");
}

}  // namespace details

/// Appends the envelope header for `metadata` to `out`; the payload follows.
inline void append_header(std::string& out, const Metadata& metadata) {
    // floor, not truncation toward zero: stamps before 1970 keep their order.
    const auto micros = std::chrono::floor<std::chrono::microseconds>(metadata.created_at.time_since_epoch());
    const std::uint8_t flags = metadata.expiry_owner == ExpiryOwner::store ? details::flag_store_expiry : 0;
    out.push_back(static_cast<char>(magic));
    out.push_back(static_cast<char>(format_version));
    out.push_back(static_cast<char>(fields_size));
    details::put_big_endian(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(micros.count())));
    details::put_big_endian(out, metadata.version);
    out.push_back(static_cast<char>(flags));
    const auto creation = std::chrono::floor<std::chrono::microseconds>(metadata.creation_time);
    details::put_big_endian(out, static_cast<std::uint64_t>(std::max<std::int64_t>(0, creation.count())));
}

/// The envelope: the header for `metadata`, then `payload`.
inline std::string wrap(const Metadata& metadata, std::string_view payload) {
    std::string out;
    out.reserve(header_size + payload.size());
    append_header(out, metadata);
    out.append(payload.data(), payload.size());
    return out;
}

/// Splits an envelope into metadata and payload. Throws DecodeError on a wrong magic
/// byte, an unknown format version, a field block too short for the format, a
/// truncated header, or a created_at outside what TimePoint can represent.
inline Unwrapped unwrap(std::string_view bytes) {
    const std::size_t size = bytes.size();
    if (size < 3) details::fail("truncated header", size);
    if (static_cast<std::uint8_t>(bytes[0]) != magic) {
        details::fail("not a dogpile envelope (first byte " + details::hex_byte(static_cast<std::uint8_t>(bytes[0])) +
                          ", expected " + details::hex_byte(magic) + ")",
                      size);
    }
    const auto version = static_cast<std::uint8_t>(bytes[1]);
    if (version != format_version) {
        details::fail("unsupported envelope format version " + std::to_string(version) + " (this build reads " +
                          std::to_string(format_version) + ")",
                      size);
    }
    const std::size_t block = static_cast<std::uint8_t>(bytes[2]);
    if (block < min_fields_size) {
        details::fail("field block of " + std::to_string(block) + " bytes, format 1 needs " +
                          std::to_string(min_fields_size),
                      size);
    }
    if (size < 3 + block) details::fail("truncated header", size);

    const auto micros = static_cast<std::int64_t>(details::get_big_endian<std::uint64_t>(bytes, 3));
    using std::chrono::microseconds;
    constexpr auto max_micros = std::chrono::duration_cast<microseconds>(Duration::max()).count();
    constexpr auto min_micros = std::chrono::duration_cast<microseconds>(Duration::min()).count();
    if (micros > max_micros || micros < min_micros) {
        details::fail("created_at " + std::to_string(micros) + "us is outside the clock's range", size);
    }

    Unwrapped result;
    result.metadata.created_at = TimePoint(std::chrono::duration_cast<Duration>(microseconds(micros)));
    result.metadata.version = details::get_big_endian<std::uint32_t>(bytes, 11);
    const auto flags = static_cast<std::uint8_t>(bytes[15]);
    result.metadata.expiry_owner = (flags & details::flag_store_expiry) != 0 ? ExpiryOwner::store : ExpiryOwner::region;
    if (block >= 21) {
        const auto creation_micros = details::get_big_endian<std::uint64_t>(bytes, 16);
        constexpr auto max_creation = static_cast<std::uint64_t>(max_micros);
        if (creation_micros > max_creation) {
            details::fail("creation_time " + std::to_string(creation_micros) + "us is outside the clock's range", size);
        }
        result.metadata.creation_time =
            std::chrono::duration_cast<Duration>(microseconds(static_cast<std::int64_t>(creation_micros)));
    }
    result.payload = bytes.substr(3 + block);
    return result;
}

}  // namespace envelope

/// Turns a codec of T into a codec of CachedValue<T>: the value's bytes behind
/// an envelope carrying its metadata. Errors of the inner codec pass through.
template <class Codec>
class EnvelopeCodec {
public:
    using inner_codec = Codec;                                   ///< the codec of the value
    using value_type = CachedValue<typename Codec::value_type>;  ///< what it encodes

    EnvelopeCodec() = default;
    /// Wraps `inner`.
    explicit EnvelopeCodec(Codec inner) : inner_(std::move(inner)) {}

    /// The codec of the value.
    const Codec& inner() const noexcept { return inner_; }

    /// The envelope of `entry.metadata` in front of the inner codec's bytes of `entry.value`.
    std::string encode(const value_type& entry) const {
        return envelope::wrap(entry.metadata, inner_.encode(entry.value));
    }

    /// The value and its metadata; DecodeError for a malformed envelope, and the inner codec's
    /// errors.
    value_type decode(std::string_view bytes) const {
        const envelope::Unwrapped unwrapped = envelope::unwrap(bytes);
        return value_type{inner_.decode(unwrapped.payload), unwrapped.metadata};
    }

private:
    Codec inner_{};
};

}  // namespace dogpile::codec
