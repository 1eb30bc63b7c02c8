#pragma once
// BitpackedCodec (Flags) and BitpackedFlagSetCodec (FlagSet): flat all-boolean
// dicts as bits. 25 flags fit in 5 bytes.
//
// Bit i is the flag of the i-th key in sorted order. The wire form stays one
// valid msgpack object, so a Python service reads it with msgpack.unpackb:
//   * up to 64 flags: a non-negative integer in its smallest msgpack encoding
//     (25 flags: at most `ce` + 4 bytes);
//         flags = {k: bool(n >> i & 1) for i, k in enumerate(sorted_keys)}
//   * more flags: a bin of ceil(n/8) bytes, flag i in byte i/8, bit i%8
//     (little-endian, so the first 64 flags read the same as the integer form).
// The reader accepts any msgpack integer encoding of the value, and rejects
// bits set beyond the template's flag count: those came from another template.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../errors.hpp"
#include "details/flag_wire.hpp"
#include "dict.hpp"
#include "flag_set.hpp"
#include "limits.hpp"

namespace dogpile::codec {

/// BasicBitpackedCodec<Flags> (BitpackedCodec) and BasicBitpackedCodec<FlagSet>
/// (BitpackedFlagSetCodec) write the same bytes; each reads what the other writes.
template <class T>
class BasicBitpackedCodec : public details::FlagCodecBase<T> {
    static_assert(std::is_same_v<T, Flags> || std::is_same_v<T, FlagSet>, "BasicBitpackedCodec packs Flags or FlagSet");

public:
    /// Flag counts up to this travel as a msgpack integer, larger ones as bin.
    static constexpr std::size_t max_integer_flags = details::max_integer_flags;

    /// Throws ConfigurationError when `key_template` nests: flags are flat.
    explicit BasicBitpackedCodec(KeyTemplate key_template, DecodeLimits limits = {})
        : details::FlagCodecBase<T>(std::move(key_template), limits, config_name) {}
    /// A codec of FlagSets of `names` (FlagSet codecs only).
    template <class U = T, std::enable_if_t<std::is_same_v<U, FlagSet>, int> = 0>
    explicit BasicBitpackedCodec(const FlagTemplate& names, DecodeLimits limits = {})
        : details::FlagCodecBase<T>(names, limits, config_name) {}

    /// One bit per flag in sorted-name order; EncodeError when the names differ from the template.
    std::string encode(const T& flags) const {
        std::string out;
        encode_to(flags, out);
        return out;
    }

    /// Appends the encoding of `flags` to `out`.
    void encode_to(const T& flags, std::string& out) const { details::write_flag_bits(out, this->names_, flags, name); }

    /// The flags back; DecodeError on anything malformed or over the limits.
    T decode(std::string_view payload) const { return details::read_flag_bits<T>(payload, this->names_, name); }

private:
    static constexpr bool packs_flag_set = std::is_same_v<T, FlagSet>;
    static constexpr const char* name = packs_flag_set ? "bitpacked flag set codec" : "bitpacked codec";
    static constexpr const char* config_name = packs_flag_set ? "BitpackedFlagSetCodec" : "BitpackedCodec";
};

using BitpackedCodec = BasicBitpackedCodec<Flags>;           ///< bit-packed codec of Flags
using BitpackedFlagSetCodec = BasicBitpackedCodec<FlagSet>;  ///< bit-packed codec of FlagSet

}  // namespace dogpile::codec
