#pragma once
// Helpers shared by the factories that run the Backend contract
// (dogpile/testing/backend_suite.hpp) on the Redis stores.

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include <dogpile/backends/redis/hash_key.hpp>
#include <dogpile/testing/backend_suite.hpp>

namespace dogpile::test::conformance {

using dogpile::redis::HashKey;

// A key prefix no other test, and no other backend of this test, uses.
inline std::string unique_prefix() {
    static std::atomic<unsigned> made{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + "#" + std::to_string(made.fetch_add(1)) + ":";
}

// Hash-store keys the store must keep apart: empty and NUL fields, a NUL in
// the hash name, CR LF, non-UTF-8 bytes, a long field; all under `prefix`.
inline std::vector<HashKey> awkward_hash_keys(const std::string& prefix) {
    using dogpile::testing::bytes_of;
    return {{prefix + "h", ""},
            {prefix + "h", std::string(1, '\0')},
            {prefix + std::string("h\0x", 3), "f"},
            {prefix + "h", "a b\r\n"},
            {prefix + bytes_of({0xff}), bytes_of({0xfe, 0xc1})},
            {prefix + "h", std::string(300, 'f')}};
}

}  // namespace dogpile::test::conformance
