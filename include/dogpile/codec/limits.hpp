#pragma once
// DecodeLimits: ceilings a decoder enforces before it trusts a payload.
//
// Bytes read from Redis are input from the outside world: another service, an
// older release or an attacker may have written them. A msgpack header is a
// promise ("an array of 4 294 967 295 elements follows") that costs five bytes
// to make, and a naive decoder allocates for the promise before checking it.
// Every dogpile decoder therefore checks the payload size first, then checks
// each length header against these limits and against the bytes actually left,
// so the memory a decode can use stays proportional to the payload size.

#include <cstddef>
#include <string>

#include "../errors.hpp"

namespace dogpile::codec {

/// Ceilings a decoder enforces before it trusts a payload: every dogpile decoder checks
/// the payload size first, then each length header against these limits and against the
/// bytes actually left, so a decode's memory stays proportional to the payload size.
struct DecodeLimits {
    /// Whole payload, checked before any parsing (16 MiB).
    std::size_t max_payload_bytes = std::size_t{16} << 20;
    /// Element count of one array (4 Mi elements).
    std::size_t max_array_length = std::size_t{1} << 22;
    /// Key-value pairs of one map (4 Mi).
    std::size_t max_map_length = std::size_t{1} << 22;
    /// Byte length of one str object (16 MiB).
    std::size_t max_string_length = std::size_t{16} << 20;
    std::size_t max_bin_length = std::size_t{16} << 20;  ///< byte length of one bin object
    std::size_t max_ext_length = std::size_t{16} << 20;  ///< byte length of one ext object
    /// Container nesting: a scalar has depth 0, [1] depth 1, [[1]] depth 2.
    /// Bounds the decoder's recursion, hence its stack use.
    std::size_t max_depth = 64;

    /// Throws DecodeError when `size` exceeds max_payload_bytes.
    void check_payload_size(std::size_t size) const {
        if (size > max_payload_bytes) {
            throw DecodeError("payload of " + std::to_string(size) +
                              " bytes exceeds DecodeLimits::max_payload_bytes (" + std::to_string(max_payload_bytes) +
                              ")");
        }
    }
};

}  // namespace dogpile::codec
