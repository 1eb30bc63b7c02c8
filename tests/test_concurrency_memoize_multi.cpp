// memoize_multi() from many threads at once (runs under TSan too): the
// dogpile lock per key holds across overlapping batches.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/memoize_multi.hpp>

#include "support/latch.hpp"

namespace {

using Ids = std::vector<int>;
using Names = std::vector<std::string>;

// Threads ask for overlapping batches at once: every id is created exactly
// once, by one call of the function, whoever asked first.
TEST(ConcurrencyMemoizeMulti, EachIdIsCreatedOnceAcrossThreads) {
    constexpr int threads = 8;
    constexpr int rounds = 50;
    constexpr int ids_per_round = 24;
    dogpile::Region<std::string> region{std::make_shared<dogpile::MemoryBackend<std::string>>()};
    std::mutex mutex;
    std::map<int, int> creations;  // id -> times the function was asked for it
    std::atomic<int> calls{0};
    auto cached = dogpile::memoize_multi(region, "c", [&](const Ids& ids) {
        calls.fetch_add(1);
        std::lock_guard<std::mutex> lock(mutex);
        Names out;
        for (int id : ids) {
            ++creations[id];
            out.push_back(std::to_string(id));
        }
        return out;
    });

    for (int round = 0; round < rounds; ++round) {
        dogpile::test::Latch start(threads);
        std::atomic<int> wrong{0};
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                // Thread t asks for a window of the round's ids, overlapping its neighbours'.
                Ids ids;
                for (int i = 0; i < ids_per_round / 2; ++i) ids.push_back(round * 1000 + (t * 3 + i) % ids_per_round);
                start.arrive_and_wait();
                const Names got = cached(ids);
                for (std::size_t i = 0; i < ids.size(); ++i) {
                    if (got[i] != std::to_string(ids[i])) wrong.fetch_add(1);
                }
            });
        }
        for (auto& w : workers) w.join();
        EXPECT_EQ(wrong.load(), 0);
    }
    EXPECT_EQ(creations.size(), static_cast<std::size_t>(rounds * ids_per_round));
    for (const auto& [id, times] : creations) EXPECT_EQ(times, 1) << "id " << id;
    EXPECT_EQ(region.stats().creations, static_cast<std::uint64_t>(rounds * ids_per_round));
    EXPECT_LE(calls.load(), rounds * threads);
}

}  // namespace
