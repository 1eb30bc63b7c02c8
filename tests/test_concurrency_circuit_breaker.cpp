// CircuitBreaker under many threads (also run under TSan): whatever the
// interleaving of admissions, failures and successes, at most one probe is
// out at a time, the state changes form one consistent chain (each change
// starts from the state the previous one ended in), and the counters agree
// with the changes reported. No Redis: the threads play the pool's part.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <dogpile/redis/circuit_breaker.hpp>

#include "support/latch.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::redis::BreakerEvent;
using dogpile::redis::BreakerOptions;
using dogpile::redis::BreakerState;
using dogpile::redis::CircuitBreaker;
using dogpile::redis::CircuitOpenError;

TEST(ConcurrentCircuitBreaker, OneProbeAtATimeAndAConsistentChainOfChanges) {
    std::mutex events_mutex;
    std::vector<BreakerEvent> events;
    BreakerOptions options;
    options.failure_threshold = 3;
    options.probe_interval = 1ms;
    options.on_state_change = [&](const BreakerEvent& e) {
        std::lock_guard<std::mutex> lock(events_mutex);
        events.push_back(e);
    };
    CircuitBreaker breaker(options, "test:0");

    constexpr int thread_count = 8;
    constexpr int rounds = 4000;
    std::atomic<int> probes_out{0};
    std::atomic<int> most_probes_out{0};
    std::atomic<std::uint64_t> rejected{0};
    dogpile::test::Latch start(thread_count);
    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            for (int i = 0; i < rounds; ++i) {
                // Mostly failures, so the breaker keeps opening and probing.
                const bool succeeds = (i + t) % 4 == 0;
                CircuitBreaker::Admission admission;
                try {
                    admission = breaker.admit();
                } catch (const CircuitOpenError&) {
                    rejected.fetch_add(1);
                    continue;
                }
                if (admission == CircuitBreaker::Admission::probe) {
                    const int out = probes_out.fetch_add(1) + 1;
                    int seen = most_probes_out.load();
                    while (out > seen && !most_probes_out.compare_exchange_weak(seen, out)) {
                    }
                    probes_out.fetch_sub(1);
                }
                if (succeeds) {
                    breaker.record_success(admission);
                } else if (i % 7 == 0 && admission == CircuitBreaker::Admission::probe) {
                    breaker.abandon_probe();
                } else {
                    breaker.record_failure(admission, "injected");
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();

    EXPECT_LE(most_probes_out.load(), 1);
    std::sort(events.begin(), events.end(),
              [](const BreakerEvent& a, const BreakerEvent& b) { return a.sequence < b.sequence; });
    ASSERT_FALSE(events.empty()) << "the breaker never opened";
    BreakerState state = BreakerState::closed;
    std::uint64_t opened = 0, closed = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].sequence, i + 1);
        EXPECT_EQ(events[i].from, state) << "change " << events[i].sequence;
        state = events[i].to;
        if (state == BreakerState::open) ++opened;
        if (state == BreakerState::closed) ++closed;
    }
    const auto stats = breaker.stats();
    EXPECT_EQ(stats.state, state);
    EXPECT_EQ(stats.opened, opened);
    EXPECT_EQ(stats.closed, closed);
    EXPECT_EQ(stats.rejected, rejected.load());
}

}  // namespace
