#pragma once
// Unpredictable bytes from the operating system, for lock tokens. A lock token
// must not be guessable or repeat across processes and restarts: a repeated
// token would let one holder release another holder's lock. A seeded PRNG
// (std::mt19937) fails both, and std::random_device is not guaranteed to be
// non-deterministic, so the kernel's CSPRNG is read directly: getrandom(2) on
// Linux, getentropy(3) on macOS and the BSDs (glibc >= 2.25 has it too), else
// /dev/urandom.
//
// Also a cheap per-thread generator for jitter, where unpredictability does
// not matter but a syscall per draw would.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#if defined(__has_include)
#if __has_include(<unistd.h>)
#include <unistd.h>  // getentropy on glibc, FreeBSD and OpenBSD (the core has no POSIX-only include)
#endif
#if __has_include(<sys/random.h>)
#include <sys/random.h>  // getrandom on Linux, getentropy on macOS
#define DOGPILE_HAS_SYS_RANDOM 1
#endif
#endif

// The source, unless a test chose one (tests/test_secure_random.cpp takes the
// getentropy path on Linux).
#if !defined(DOGPILE_SECURE_RANDOM_GETRANDOM) && !defined(DOGPILE_SECURE_RANDOM_GETENTROPY)
#if defined(__linux__) && defined(DOGPILE_HAS_SYS_RANDOM)
#define DOGPILE_SECURE_RANDOM_GETRANDOM 1
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__)
#define DOGPILE_SECURE_RANDOM_GETENTROPY 1
#endif
#endif

#include "../errors.hpp"

namespace dogpile::details {

#if defined(DOGPILE_SECURE_RANDOM_GETENTROPY)
// Fills `size` bytes with getentropy(), which serves at most 256 bytes per
// call (a larger request fails with EIO); false when a call fails.
inline bool getentropy_fill(unsigned char* p, std::size_t size) noexcept {
    constexpr std::size_t max_per_call = 256;
    while (size > 0) {
        const std::size_t chunk = size < max_per_call ? size : max_per_call;
        if (::getentropy(p, chunk) != 0) return false;
        p += chunk;
        size -= chunk;
    }
    return true;
}
#endif

// Fills `out` with `size` bytes from the kernel's CSPRNG. Throws dogpile::Error
// when no source works (a sandbox without /dev/urandom): silently falling back
// to a weak source would defeat the purpose.
inline void secure_random_bytes(void* out, std::size_t size) {
    auto* p = static_cast<unsigned char*>(out);
#if defined(DOGPILE_SECURE_RANDOM_GETRANDOM)
    while (size > 0) {
        const ssize_t n = ::getrandom(p, size, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOSYS) break;  // kernel older than 3.17: use /dev/urandom
            throw Error(std::string("getrandom failed: ") + std::strerror(errno));
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    if (size == 0) return;
#elif defined(DOGPILE_SECURE_RANDOM_GETENTROPY)
    if (getentropy_fill(p, size)) return;  // else (an old kernel): /dev/urandom
#endif
    std::FILE* f = std::fopen("/dev/urandom", "rb");
    if (f == nullptr) throw Error(std::string("cannot open /dev/urandom: ") + std::strerror(errno));
    const std::size_t got = std::fread(p, 1, size, f);
    std::fclose(f);
    if (got != size) throw Error("short read from /dev/urandom");
}

// `bytes` random bytes as lower-case hex (2 * bytes characters).
inline std::string random_hex(std::size_t bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string raw(bytes, '\0');
    secure_random_bytes(raw.data(), raw.size());
    std::string out(bytes * 2, '\0');
    for (std::size_t i = 0; i < bytes; ++i) {
        const auto b = static_cast<unsigned char>(raw[i]);
        out[2 * i] = digits[b >> 4];
        out[2 * i + 1] = digits[b & 15];
    }
    return out;
}

// xorshift64*, seeded once per thread from the kernel: fast, not secure. Used
// to spread retries of many waiters apart, never for tokens.
inline std::uint64_t fast_random() noexcept {
    thread_local std::uint64_t state = [] {
        std::uint64_t seed = 0;
        try {
            secure_random_bytes(&seed, sizeof(seed));
        } catch (...) {
            // Jitter only: any distinct-ish seed will do.
            seed = reinterpret_cast<std::uintptr_t>(&seed);
        }
        return seed == 0 ? 0x9E3779B97F4A7C15ull : seed;
    }();
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

}  // namespace dogpile::details
