#pragma once
// SHA-1 (FIPS 180-4) over a byte string. Redis names a Lua script by the SHA-1
// of its source, so the client can send EVALSHA without asking the server
// first; key manglers use it to bound key length. Not for security.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dogpile::details {

namespace sha1_impl {

inline std::uint32_t rotl(std::uint32_t x, int n) noexcept { return (x << n) | (x >> (32 - n)); }

inline void compress(std::array<std::uint32_t, 5>& h, const unsigned char* block) noexcept {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
        w[i] = (std::uint32_t{block[4 * i]} << 24) | (std::uint32_t{block[4 * i + 1]} << 16) |
               (std::uint32_t{block[4 * i + 2]} << 8) | std::uint32_t{block[4 * i + 3]};
    }
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
        std::uint32_t f;
        std::uint32_t k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        const std::uint32_t t = rotl(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

}  // namespace sha1_impl

inline std::array<std::uint8_t, 20> sha1(std::string_view data) {
    std::array<std::uint32_t, 5> h{0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t n = data.size();

    std::size_t offset = 0;
    for (; n - offset >= 64; offset += 64) sha1_impl::compress(h, bytes + offset);

    // The tail, the 0x80 terminator and the 64-bit bit length fill one block,
    // or two when fewer than 9 bytes are left after the tail.
    unsigned char tail[128] = {};
    const std::size_t rest = n - offset;
    for (std::size_t i = 0; i < rest; ++i) tail[i] = bytes[offset + i];
    tail[rest] = 0x80;
    const std::size_t tail_len = rest + 9 <= 64 ? 64 : 128;
    const std::uint64_t bits = static_cast<std::uint64_t>(n) * 8u;
    for (int i = 0; i < 8; ++i) {
        tail[tail_len - 1 - static_cast<std::size_t>(i)] = static_cast<unsigned char>(bits >> (8 * i));
    }
    sha1_impl::compress(h, tail);
    if (tail_len == 128) sha1_impl::compress(h, tail + 64);

    std::array<std::uint8_t, 20> out{};
    for (std::size_t i = 0; i < 5; ++i) {
        out[4 * i] = static_cast<std::uint8_t>(h[i] >> 24);
        out[4 * i + 1] = static_cast<std::uint8_t>(h[i] >> 16);
        out[4 * i + 2] = static_cast<std::uint8_t>(h[i] >> 8);
        out[4 * i + 3] = static_cast<std::uint8_t>(h[i]);
    }
    return out;
}

// Lower-case hex, the form Redis uses for script names.
inline std::string sha1_hex(std::string_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    const auto digest = sha1(data);
    std::string out(40, '0');
    for (std::size_t i = 0; i < digest.size(); ++i) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 0x0F];
    }
    return out;
}

}  // namespace dogpile::details
