#pragma once
// Shared by the libFuzzer targets. A decoder may reject any input, but only
// with dogpile::DecodeError: every other exception escapes and libFuzzer
// reports it (uncaught exception -> abort), as do sanitizer findings.
//
// Whatever a decoder accepts must encode again, and that encoding must be a
// fixed point (decode + encode gives the same bytes). Bytes, not values, are
// compared because a decoded NaN never equals itself.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

}  // namespace dogpile_fuzz
