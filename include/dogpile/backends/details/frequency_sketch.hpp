#pragma once
// The popularity estimate behind W-TinyLFU admission (tiny_lfu_eviction.hpp):
// a count-min sketch of 4-bit counters, as Caffeine's FrequencySketch. One
// sketch serves every shard of a table, so a key's count does not depend on
// which shard it lands in and a small shard still sees a table-sized history.
//
// Shards update it under their own locks, concurrently with each other, so
// every word is an atomic, updated by a relaxed load and store rather than a
// locked read-modify-write: an increment sits on the hit path (replayed from
// the read buffer), and two shards racing on one word, which only costs a
// count (or undoes a halving of that word), is rare and harmless to an
// estimate. Every `sample_size` increments
// all counters are halved: the history ages, and a key that was popular an
// hour ago does not keep its place forever.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace dogpile::details {

class FrequencySketch {
public:
    // `expected_entries`: the table's capacity. Two 64-bit words (32
    // counters) per entry, twice Caffeine's width, rounded up to whole 64-byte
    // blocks, and twenty samples per entry before halving, twice Caffeine's
    // period: a longer history with fewer collisions. On the traces of
    // bench/hit_ratio.sh (docs/architecture.md) this closed 2.5 points more of
    // the LRU->OPT gap, on the synthetic workloads 4; four times the width, or
    // a period of 30-80 per entry, did no better.
    static constexpr std::size_t words_per_entry = 2;
    static constexpr std::size_t samples_per_entry = 20;

    explicit FrequencySketch(std::size_t expected_entries) {
        std::size_t words = words_per_block;
        while (words < words_per_entry * expected_entries && words < max_words) words *= 2;
        words_ = words;
        block_mask_ = words / words_per_block - 1;
        table_ = std::make_unique<std::atomic<std::uint64_t>[]>(words);
        for (std::size_t i = 0; i < words; ++i) table_[i].store(0, std::memory_order_relaxed);
        sample_size_ = std::max<std::size_t>(samples_per_entry * expected_entries, 10 * words_per_block);
    }

    FrequencySketch(const FrequencySketch&) = delete;
    FrequencySketch& operator=(const FrequencySketch&) = delete;

    // The estimated recent count of `hash`, 0..15: the least of its four
    // counters, since collisions only ever add.
    unsigned frequency(std::uint64_t hash) const noexcept {
        const std::size_t block = block_of(hash);
        const std::uint64_t spread = spread_of(hash);
        unsigned lowest = max_count;
        for (unsigned i = 0; i < 4; ++i) {
            const std::uint64_t word = table_[word_of(block, spread, i)].load(std::memory_order_relaxed);
            lowest = std::min(lowest, static_cast<unsigned>((word >> shift_of(spread, i)) & 0xF));
        }
        return lowest;
    }

    // Counts one access to `hash`. The caller reports its increments with
    // add_samples(), in batches, so the shared sample count is not a
    // contended counter on every hit.
    void increment(std::uint64_t hash) noexcept {
        const std::size_t block = block_of(hash);
        const std::uint64_t spread = spread_of(hash);
        std::size_t at[4];
        unsigned shift[4];
        std::uint64_t word[4];
        unsigned lowest = max_count;
        for (unsigned i = 0; i < 4; ++i) {
            at[i] = word_of(block, spread, i);
            shift[i] = shift_of(spread, i);
            word[i] = table_[at[i]].load(std::memory_order_relaxed);
            lowest = std::min(lowest, static_cast<unsigned>((word[i] >> shift[i]) & 0xF));
        }
        if (lowest == max_count) return;
        // Conservative update: only the counters at the minimum grow, so
        // collisions inflate estimates less (on the harness's traces it did a
        // little better than Caffeine's increment-all, within run-to-run noise).
        for (unsigned i = 0; i < 4; ++i) {
            if (((word[i] >> shift[i]) & 0xF) != lowest) continue;
            table_[at[i]].store(word[i] + (std::uint64_t{1} << shift[i]), std::memory_order_relaxed);
        }
    }

    // Starts loading the counters of `hash` into the cache, so a batch of
    // increments waits for its memory once rather than once per key.
    void prefetch(std::uint64_t hash) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(&table_[block_of(hash)]);
#else
        static_cast<void>(hash);
#endif
    }

    // `n` increments happened; halves every counter once a sample is complete.
    void add_samples(std::size_t n) noexcept {
        if (samples_.fetch_add(n, std::memory_order_relaxed) + n >= sample_size_) halve();
    }

    // Increments since the last halving (approximate under concurrency).
    std::size_t samples() const noexcept { return samples_.load(std::memory_order_relaxed); }
    std::size_t sample_size() const noexcept { return sample_size_; }
    std::size_t bytes() const noexcept { return words_ * sizeof(std::uint64_t); }

    static constexpr unsigned max_count = 15;

private:
    static constexpr std::size_t words_per_block = 8;  // one cache line
    static constexpr std::size_t max_words = std::size_t{1} << 26;

    // Four counters in four different words of one cache line: one miss per
    // lookup, while the four positions stay independent enough for count-min.
    // The table hash mixes with mix_hash (table_node.hpp) and its low bits
    // pick the bucket, so the block comes from the high half and the counters
    // from a further scramble, a byte each.
    std::size_t block_of(std::uint64_t hash) const noexcept {
        return static_cast<std::size_t>((hash >> 40) & block_mask_) * words_per_block;
    }
    static std::uint64_t spread_of(std::uint64_t hash) noexcept {
        return (hash ^ (hash >> 29)) * 0x9E3779B97F4A7C15ULL;
    }
    static std::size_t word_of(std::size_t block, std::uint64_t spread, unsigned i) noexcept {
        return block + 2 * i + ((spread >> (8 * i)) & 1);
    }
    static unsigned shift_of(std::uint64_t spread, unsigned i) noexcept {
        return static_cast<unsigned>(((spread >> (8 * i + 1)) & 0xF) * 4);
    }

    void halve() noexcept {
        // One thread halves; others that cross the threshold meanwhile skip.
        std::unique_lock<std::mutex> lock(halving_, std::try_to_lock);
        if (!lock.owns_lock() || samples_.load(std::memory_order_relaxed) < sample_size_) return;
        constexpr std::uint64_t keep_low_three = 0x7777777777777777ULL;
        for (std::size_t i = 0; i < words_; ++i) {
            const std::uint64_t w = table_[i].load(std::memory_order_relaxed);
            table_[i].store((w >> 1) & keep_low_three, std::memory_order_relaxed);
        }
        samples_.store(sample_size_ / 2, std::memory_order_relaxed);
    }

    std::unique_ptr<std::atomic<std::uint64_t>[]> table_;
    std::size_t words_ = 0;
    std::size_t block_mask_ = 0;
    std::size_t sample_size_ = 0;
    std::atomic<std::size_t> samples_{0};
    std::mutex halving_;
};

}  // namespace dogpile::details
