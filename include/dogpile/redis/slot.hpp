#pragma once
/// \file
/// Redis Cluster's key-to-slot mapping: CRC16 (XMODEM: polynomial 0x1021,
/// initial value 0) of the key, modulo 16384. When the key holds a "{...}"
/// hash tag, only the tag is hashed, so keys that share a tag share a slot
/// (the only way a multi-key command or script stays routable in a cluster):
///
/// \code{.unparsed}
///   key_slot("calculated-a|7")            hashes the whole key
///   key_slot("{user7}a2b-a|7")            hashes "user7"
///   key_slot("a2b-b|{user7}42")           hashes "user7": same slot as above
/// \endcode
///
/// The tag is the text between the FIRST '{' and the first '}' after it, and
/// only when that text is not empty: "{}x" and "x{" hash the whole key, and
/// "{{a}}" hashes "{a". This is exactly what the server's CLUSTER KEYSLOT does.
/// Needs only the standard library.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dogpile::redis {

/// Number of hash slots of a Redis Cluster.
inline constexpr int cluster_slots = 16384;

namespace details {

constexpr std::array<std::uint16_t, 256> make_crc16_table() noexcept {
    std::array<std::uint16_t, 256> table{};
    for (int i = 0; i < 256; ++i) {
        std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                      : static_cast<std::uint16_t>(crc << 1);
        }
        table[static_cast<std::size_t>(i)] = crc;
    }
    return table;
}

inline constexpr std::array<std::uint16_t, 256> crc16_table = make_crc16_table();

}  // namespace details

/// CRC16/XMODEM of `bytes` (crc16("123456789") == 0x31C3).
inline std::uint16_t crc16(std::string_view bytes) noexcept {
    std::uint16_t crc = 0;
    for (const char c : bytes) {
        const auto byte = static_cast<std::uint8_t>(c);
        crc = static_cast<std::uint16_t>((crc << 8) ^ details::crc16_table[((crc >> 8) ^ byte) & 0xFF]);
    }
    return crc;
}

/// The part of `key` that decides its slot: the hash tag if it has a
/// non-empty one, else the whole key.
inline std::string_view hash_tag_of(std::string_view key) noexcept {
    const auto open = key.find('{');
    if (open == std::string_view::npos) return key;
    const auto close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return key;
    return key.substr(open + 1, close - open - 1);
}

/// The cluster slot (0..16383) of `key`.
inline int key_slot(std::string_view key) noexcept {
    return static_cast<int>(crc16(hash_tag_of(key)) & (cluster_slots - 1));
}

}  // namespace dogpile::redis
