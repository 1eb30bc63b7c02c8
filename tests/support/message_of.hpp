#pragma once
// The what() of the exception of type E that `fn` throws, for tests that check
// an error message; any other outcome is a test failure.

#include <gtest/gtest.h>

#include <exception>
#include <string>

namespace dogpile::test {

template <class E, class F>
std::string message_of(F&& fn) {
    try {
        fn();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "threw the wrong exception type: " << e.what();
        return {};
    }
    ADD_FAILURE() << "did not throw";
    return {};
}

}  // namespace dogpile::test
