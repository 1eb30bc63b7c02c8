// The getentropy(3) path of details/random.hpp, the one macOS and the BSDs
// take, exercised on Linux (glibc >= 2.25 has getentropy): it must serve
// requests over getentropy's 256-byte limit. This TU alone in its executable
// chooses that path, so no other TU sees a different secure_random_bytes.
#define DOGPILE_SECURE_RANDOM_GETENTROPY 1
#include <dogpile/details/random.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>

namespace {

TEST(SecureRandomGetentropy, FillsMoreThanOneCallServes) {
    std::array<unsigned char, 1000> a{};
    std::array<unsigned char, 1000> b{};
    ASSERT_TRUE(dogpile::details::getentropy_fill(a.data(), a.size()));
    ASSERT_TRUE(dogpile::details::getentropy_fill(b.data(), b.size()));
    EXPECT_NE(a, b);
    // The last chunk was written too: 256 zero bytes from a CSPRNG do not happen.
    EXPECT_TRUE(std::any_of(a.end() - 256, a.end(), [](unsigned char c) { return c != 0; }));
}

TEST(SecureRandomGetentropy, TokensAreFreshHex) {
    const std::string first = dogpile::details::random_hex(300);
    EXPECT_EQ(first.size(), 600u);
    EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_NE(first, dogpile::details::random_hex(300));
}

}  // namespace
