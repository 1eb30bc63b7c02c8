#pragma once
// Waiting for a condition that no latch can signal (a counter inside the
// region, a reply from a server): poll it until it holds or a deadline passes.
// The deadline turns a would-be hang into a test failure.

#include <chrono>
#include <thread>

namespace dogpile::test {

template <class Predicate>
bool wait_for_condition(Predicate&& holds, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int spins = 0;
    while (!holds()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        if (++spins < 1000) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
    return true;
}

}  // namespace dogpile::test
