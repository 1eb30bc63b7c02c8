#pragma once
// The adaptive part of W-TinyLFU (tiny_lfu_eviction.hpp): how much of the
// capacity the LRU window gets. Recency-biased workloads want a large window,
// frequency-biased ones a small one; the climber finds out by hill climbing
// on the hit rate, as Caffeine does: after each sample of requests it steps
// the window in the direction that last improved the hit rate, and reverses
// when the rate drops. Steps decay, and jump back to full size when the hit
// rate changes a lot (the workload changed).
//
// One climber serves all shards of a table: a shard of 16 entries sees too
// few requests to measure a hit rate. Shards report hits and misses in
// batches; the shard whose report completes a sample takes the step.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace dogpile::details {

class WindowClimber {
public:
    // Caffeine's constants: the window starts at 1% of the capacity, steps
    // are 6.25% of it, decay by 2% per sample, and restart at a 5% change.
    static constexpr double initial_fraction = 0.01;
    static constexpr double step_fraction = 0.0625;
    static constexpr double step_decay = 0.98;
    static constexpr double restart_threshold = 0.05;
    // The main space keeps at least its probation share (20%).
    static constexpr double max_fraction = 0.8;

    // `sample_size`: requests per step (Caffeine: ten per entry of capacity).
    explicit WindowClimber(std::size_t sample_size) : sample_size_(std::max<std::size_t>(sample_size, 1)) {}

    WindowClimber(const WindowClimber&) = delete;
    WindowClimber& operator=(const WindowClimber&) = delete;

    // The window's share of each shard's capacity, 0..max_fraction.
    double window_fraction() const noexcept {
        return static_cast<double>(fraction_ppm_.load(std::memory_order_relaxed)) / 1e6;
    }

    // Changes whenever window_fraction() does: shards compare it to resize lazily.
    std::uint32_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }

    // A shard's batch of requests: `hits` read hits, `misses` new entries.
    void report(std::uint32_t hits, std::uint32_t misses) noexcept {
        const std::size_t before = requests_.fetch_add(hits + misses, std::memory_order_relaxed);
        hits_.fetch_add(hits, std::memory_order_relaxed);
        if (before + hits + misses >= sample_size_) climb();
    }

    std::size_t sample_size() const noexcept { return sample_size_; }

private:
    void climb() noexcept {
        std::unique_lock<std::mutex> lock(climbing_, std::try_to_lock);
        if (!lock.owns_lock()) return;
        const std::size_t requests = requests_.exchange(0, std::memory_order_relaxed);
        const std::size_t hits = hits_.exchange(0, std::memory_order_relaxed);
        if (requests < sample_size_) {
            // Another shard's climb consumed this sample.
            requests_.fetch_add(requests, std::memory_order_relaxed);
            hits_.fetch_add(hits, std::memory_order_relaxed);
            return;
        }
        const double hit_rate = static_cast<double>(std::min(hits, requests)) / static_cast<double>(requests);
        const double change = hit_rate - previous_hit_rate_;
        const double amount = change >= 0 ? step_ : -step_;
        step_ = std::abs(change) >= restart_threshold ? (amount >= 0 ? step_fraction : -step_fraction)
                                                      : step_decay * amount;
        previous_hit_rate_ = hit_rate;
        const double next = std::clamp(window_fraction() + amount, 0.0, max_fraction);
        fraction_ppm_.store(static_cast<std::uint32_t>(std::lround(next * 1e6)), std::memory_order_relaxed);
        epoch_.fetch_add(1, std::memory_order_release);
    }

    const std::size_t sample_size_;
    std::atomic<std::size_t> requests_{0};
    std::atomic<std::size_t> hits_{0};
    std::atomic<std::uint32_t> fraction_ppm_{static_cast<std::uint32_t>(initial_fraction * 1e6)};
    std::atomic<std::uint32_t> epoch_{0};
    std::mutex climbing_;  // guards the two fields below
    double previous_hit_rate_ = 0.0;
    // Caffeine starts by shrinking the window: most workloads favour frequency.
    double step_ = -step_fraction;
};

}  // namespace dogpile::details
