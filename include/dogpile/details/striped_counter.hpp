#pragma once
// A statistics counter that many threads bump on the hit path. One shared
// atomic would bounce its cache line between cores on every hit; stripes
// indexed by a per-thread slot keep increments core-local.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "thread_stripe.hpp"

namespace dogpile::details {

class StripedCounter {
public:
    void add(std::uint64_t n = 1) noexcept {
        stripes_[this_thread_stripe() % stripe_count].value.fetch_add(n, std::memory_order_relaxed);
    }

    std::uint64_t load() const noexcept {
        std::uint64_t total = 0;
        for (const auto& s : stripes_) total += s.value.load(std::memory_order_relaxed);
        return total;
    }

    void reset() noexcept {
        for (auto& s : stripes_) s.value.store(0, std::memory_order_relaxed);
    }

private:
    static constexpr std::size_t stripe_count = 16;

    struct alignas(64) Stripe {
        std::atomic<std::uint64_t> value{0};
    };

    std::array<Stripe, stripe_count> stripes_{};
};

}  // namespace dogpile::details
