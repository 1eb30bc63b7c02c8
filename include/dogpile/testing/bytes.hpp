#pragma once
// Bytes for tests: by value (bytes_of({0xff, 0x00})), and reproducible random
// bytes. Used by the backend conformance kit's factories for awkward keys,
// values and corrupt payloads, and by codec tests for hostile payloads.

#include <cstddef>
#include <initializer_list>
#include <random>
#include <string>

namespace dogpile::testing {

/// The bytes given as numbers (each 0-255): bytes_of({0xff, 0x00}).
inline std::string bytes_of(std::initializer_list<int> bytes) {
    std::string out;
    for (int b : bytes) out.push_back(static_cast<char>(b));
    return out;
}

/// `n` pseudo-random bytes, the same for the same `seed` (std::mt19937).
inline std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(byte(gen));
    return out;
}

}  // namespace dogpile::testing
