#pragma once
// Helpers shared by the factories that run the Backend contract
// (dogpile/testing/backend_suite.hpp) on the Redis stores.

#include <gtest/gtest.h>

#include <atomic>
#include <initializer_list>
#include <string>

namespace dogpile::test::conformance {

// A key prefix no other test, and no other backend of this test, uses.
inline std::string unique_prefix() {
    static std::atomic<unsigned> made{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + "#" + std::to_string(made.fetch_add(1)) + ":";
}

inline std::string binary(std::initializer_list<int> bytes) {
    std::string out;
    for (int b : bytes) out.push_back(static_cast<char>(b));
    return out;
}

}  // namespace dogpile::test::conformance
