#pragma once
// A single-use countdown latch (C++20's std::latch, for C++17): a start
// barrier that releases all test threads at once, or a "everyone is done"
// signal. wait_for() exists so a test can fail instead of hanging.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stdexcept>

namespace dogpile::test {

class Latch {
public:
    explicit Latch(std::ptrdiff_t count) : count_(count) {
        if (count < 0) throw std::invalid_argument("Latch: count must not be negative");
    }
    Latch(const Latch&) = delete;
    Latch& operator=(const Latch&) = delete;

    void count_down(std::ptrdiff_t n = 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        decrement(n);
    }

    bool try_wait() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_ == 0;
    }

    void wait() const {
        std::unique_lock<std::mutex> lock(mutex_);
        released_.wait(lock, [this] { return count_ == 0; });
    }

    // True when the latch opened within `timeout`.
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
        std::unique_lock<std::mutex> lock(mutex_);
        return released_.wait_for(lock, timeout, [this] { return count_ == 0; });
    }

    void arrive_and_wait(std::ptrdiff_t n = 1) {
        std::unique_lock<std::mutex> lock(mutex_);
        decrement(n);
        released_.wait(lock, [this] { return count_ == 0; });
    }

private:
    // Caller holds mutex_.
    void decrement(std::ptrdiff_t n) {
        if (n < 0 || n > count_) throw std::logic_error("Latch: count_down below zero");
        count_ -= n;
        if (count_ == 0) released_.notify_all();
    }

    mutable std::mutex mutex_;
    mutable std::condition_variable released_;
    std::ptrdiff_t count_;
};

}  // namespace dogpile::test
