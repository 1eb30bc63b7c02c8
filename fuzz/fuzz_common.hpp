#pragma once
// Shared by the libFuzzer targets. A decoder may reject any input, but only
// with dogpile::DecodeError: every other exception escapes and libFuzzer
// reports it (uncaught exception -> abort), as do sanitizer findings.
//
// Whatever a decoder accepts must encode again, and that encoding must be a
// fixed point (decode + encode gives the same bytes). Bytes, not values, are
// compared because a decoded NaN never equals itself. The flag codecs are also
// checked differentially: Flags and FlagSet must agree on every input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <dogpile/errors.hpp>

namespace dogpile_fuzz {

inline std::string_view as_bytes(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "dogpile fuzz property violated: %s\n", what);
    std::abort();
}

template <class Codec>
void check_decode(const Codec& codec, std::string_view input) {
    std::string first;
    try {
        first = codec.encode(codec.decode(input));
    } catch (const dogpile::DecodeError&) {
        return;
    }
    // `first` came from the encoder: it must decode, and re-encode to itself.
    const std::string second = codec.encode(codec.decode(first));
    if (second != first) fail("encode(decode(encode(decode(x)))) != encode(decode(x))");
}

// Two codecs for the same wire format and two value types (FlagsCodec and
// FlagSetCodec): both reject `input` with DecodeError, or both accept it with
// the same flags, and both re-encode it to the same bytes.
template <class MapCodec, class SetCodec>
void check_same_decode(const MapCodec& map_codec, const SetCodec& set_codec, std::string_view input) {
    std::optional<typename MapCodec::value_type> by_map;
    std::optional<typename SetCodec::value_type> by_set;
    try {
        by_map = map_codec.decode(input);
    } catch (const dogpile::DecodeError&) {
    }
    try {
        by_set = set_codec.decode(input);
    } catch (const dogpile::DecodeError&) {
    }
    if (by_map.has_value() != by_set.has_value()) fail("one flag codec accepted what the other rejected");
    if (!by_map) return;
    if (by_set->to_flags() != *by_map) fail("the flag codecs decoded different flags");
    if (set_codec.encode(*by_set) != map_codec.encode(*by_map)) fail("the flag codecs re-encoded different bytes");
}

}  // namespace dogpile_fuzz
