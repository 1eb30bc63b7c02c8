#pragma once
// A small number fixed for each thread, handed out round-robin as threads
// first ask: the index of the thread's stripe in structures that give each
// core its own cache line (striped counters, the reader slots of a striped
// lock). Threads beyond the stripe count share stripes, which costs speed,
// never correctness.

#include <atomic>
#include <cstddef>

namespace dogpile::details {

inline std::size_t this_thread_stripe() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t stripe = next.fetch_add(1, std::memory_order_relaxed);
    return stripe;
}

}  // namespace dogpile::details
