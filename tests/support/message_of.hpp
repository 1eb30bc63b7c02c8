#pragma once
// The what() of the exception of type E that `fn` throws, for tests that check
// an error message; any other outcome is a test failure. And contains(), the
// check such tests make of it.

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

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace dogpile::test
