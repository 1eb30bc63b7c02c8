#pragma once
// The adaptive part of W-TinyLFU (tiny_lfu_eviction.hpp): how much of the
// capacity the LRU window gets. Recency-biased workloads want a large window
// (up to all of it: an LRU), frequency-biased ones a small one.
//
// The climber finds out by mini-simulation (Einziger, Eytan, Friedman and
// Manes, "Adaptive Software Cache Management", Middleware 2018): a few ghost
// caches (ghost_cache.hpp), each a W-TinyLFU with its own window share, replay
// a sample of the table's accesses (those of its first shards); every period
// (one access per ghost entry) the table takes the share of the ghost with
// the most recent hits, when its lead is beyond noise. Hill climbing on the cache's own hit rate (Caffeine's
// 6.25% steps, one per 10 x capacity requests) left this cache 5 points
// below LRU on recency-biased traces: it measures one share at a time, so it
// got there only late. Here every candidate share is measured at once, and a
// change of workload is followed within a few periods.
//
// Memory: a ghost entry takes about 25 bytes (ghost_cache.hpp), six ghosts of
// at most max_ghost_entries each: 19 KB per table. More simulated entries did
// not choose better on the traces of bench/hit_ratio.sh, and every sampled
// access costs six ghost updates in the replay path.
//
// One climber serves all shards of a table. Each ghost is sharded like the
// table, and a simulated shard's ghosts are touched only by that shard's
// policy, under the shard's exclusive lock (writes, and the replay of
// buffered hits; readers never touch them): shards simulate concurrently
// without a lock of the climber's own. Their hit counts meet in shared
// atomics every 16 samples; the shard that completes a period chooses.
// (A first version kept the ghosts behind one mutex: a write-heavy mix on
// two threads ran at 0.69x CLOCK instead of 0.89x with hill climbing.)

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "frequency_sketch.hpp"
#include "ghost_cache.hpp"
#include "shard_batch.hpp"

namespace dogpile::details {

class WindowClimber {
public:
    // The window shares the ghosts simulate. The first is Caffeine's start,
    // and where the climber starts: most workloads favour frequency.
    static constexpr std::array<double, 6> candidate_fractions{0.01, 0.1, 0.25, 0.5, 0.75, 1.0};
    // Entries per ghost: the table's first shards up to this many, or a
    // hashed sample of one shard when a shard is larger.
    static constexpr std::size_t max_ghost_entries = 128;
    // Weight of the previous periods' hits in a ghost's score.
    static constexpr double score_decay = 0.95;
    // A ghost with a smaller window wins when it is this close to the best:
    // on a tie the frequency-biased share keeps a sharded table's hot entries
    // (an LRU-like window suffers more from unevenly filled shards).
    static constexpr double tie_tolerance = 0.003;
    // The window moves only when the winner's score beats the current
    // share's by more than this many standard deviations of a hit count
    // (sqrt of the score, as for Poisson counts). A switch is not free: entries
    // pushed out of a shrinking window skip their contest, and a first choice
    // made on the few hits of cold ghosts cost 1.5 points on multi1. With it,
    // the traces of bench/hit_ratio.sh closed 2.5 points more of the gap.
    static constexpr double switch_significance = 1.0;

    // `capacity`: the table's bound (entries), split over `shards` shards as
    // the table splits it; `sketch`: the table's, which the ghosts consult
    // for admission as the shards do.
    //
    // Each ghost is sharded like the table and simulates whole shards (the
    // keys of the first few), so it sees how unevenly keys fill them: a
    // window share that wins on one list can lose on 16 small ones. A shard
    // larger than max_ghost_entries is simulated on a hashed sample.
    WindowClimber(std::size_t capacity, std::size_t shards, const FrequencySketch& sketch) : sketch_(&sketch) {
        shards = std::max<std::size_t>(shards, 1);
        shard_mask_ = shards - 1;
        capacity = std::max(capacity, shards);
        const std::size_t shard_capacity = capacity / shards;
        simulated_shards_ = std::clamp<std::size_t>(max_ghost_entries / shard_capacity, 1, shards);
        // Keys whose hash bits 16..31 fall below the threshold are sampled.
        if (shard_capacity > max_ghost_entries) {
            sample_threshold_ = static_cast<std::uint32_t>(sample_space * max_ghost_entries / shard_capacity);
        }
        std::size_t entries = 0;
        for (std::size_t s = 0; s < simulated_shards_; ++s) {
            const std::size_t share = capacity / shards + (s < capacity % shards ? 1 : 0);
            entries += share <= max_ghost_entries ? share : max_ghost_entries;
        }
        period_ = std::max<std::size_t>(entries, 64);
        tallies_.resize(simulated_shards_);
        for (auto& hits : pending_hits_) hits.store(0, std::memory_order_relaxed);
        ghosts_.reserve(candidate_fractions.size() * simulated_shards_);
        for (const double fraction : candidate_fractions) {
            for (std::size_t s = 0; s < simulated_shards_; ++s) {
                const std::size_t share = capacity / shards + (s < capacity % shards ? 1 : 0);
                ghosts_.emplace_back(std::min(share, max_ghost_entries), fraction);
            }
        }
    }

    WindowClimber(const WindowClimber&) = delete;
    WindowClimber& operator=(const WindowClimber&) = delete;

    // The window's share of each shard's capacity, 0..1.
    double window_fraction() const noexcept { return candidate_fractions[choice_.load(std::memory_order_relaxed)]; }

    // Changes whenever window_fraction() does: shards compare it to resize lazily.
    std::uint32_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }

    // One access (a hit or a new entry) to the key of `hash`, already counted
    // by the sketch. Precondition: the caller holds the exclusive lock of the
    // table's shard for `hash` (shard_index), as a shard's policy does: each
    // simulated shard's ghosts are touched only under it.
    void record(std::uint64_t hash) noexcept {
        const std::size_t shard = shard_index(hash, shard_mask_);
        if (shard >= simulated_shards_ || ((hash >> 16) & (sample_space - 1)) >= sample_threshold_) return;
        ShardTally& tally = tallies_[shard];
        for (std::size_t f = 0; f < candidate_fractions.size(); ++f) {
            tally.hits[f] += ghosts_[f * simulated_shards_ + shard].access(hash, *sketch_) ? 1 : 0;
        }
        if (++tally.samples < report_batch) return;
        for (std::size_t f = 0; f < candidate_fractions.size(); ++f) {
            pending_hits_[f].fetch_add(tally.hits[f], std::memory_order_relaxed);
            tally.hits[f] = 0;
        }
        const std::size_t before = pending_samples_.fetch_add(tally.samples, std::memory_order_relaxed);
        const std::size_t after = before + tally.samples;
        tally.samples = 0;
        if (after >= period_) choose();
    }

    // Sampled accesses between two choices.
    std::size_t period() const noexcept { return period_; }
    // The ghosts' footprint.
    std::size_t bytes() const noexcept {
        std::size_t total = 0;
        for (const GhostCache& ghost : ghosts_) total += ghost.bytes();
        return total;
    }

private:
    static constexpr std::uint32_t sample_space = 1u << 16;

    // The ghost with the best decayed hit count wins (scores decay so a phase
    // change shows within a few periods), if it wins clearly. One shard chooses; another that
    // completes a period meanwhile leaves its samples for the next choice.
    void choose() noexcept {
        std::unique_lock<std::mutex> lock(choosing_, std::try_to_lock);
        if (!lock.owns_lock()) return;
        const std::size_t samples = pending_samples_.exchange(0, std::memory_order_relaxed);
        if (samples < period_) {
            pending_samples_.fetch_add(samples, std::memory_order_relaxed);
            return;
        }
        const std::size_t current = choice_.load(std::memory_order_relaxed);
        std::size_t best = current;
        for (std::size_t i = 0; i < candidate_fractions.size(); ++i) {
            const std::uint32_t hits = pending_hits_[i].exchange(0, std::memory_order_relaxed);
            scores_[i] = score_decay * scores_[i] + static_cast<double>(hits);
        }
        for (std::size_t i = 0; i < candidate_fractions.size(); ++i) {
            if (scores_[i] > scores_[best]) best = i;
        }
        for (std::size_t i = 0; i < best; ++i) {
            if (scores_[i] >= (1.0 - tie_tolerance) * scores_[best]) {
                best = i;
                break;
            }
        }
        if (scores_[best] - scores_[current] <= switch_significance * std::sqrt(scores_[best])) return;
        choice_.store(static_cast<std::uint32_t>(best), std::memory_order_relaxed);
        epoch_.fetch_add(1, std::memory_order_release);
    }

    const FrequencySketch* sketch_;
    std::size_t shard_mask_ = 0;
    std::size_t simulated_shards_ = 1;
    std::uint32_t sample_threshold_ = sample_space;
    std::size_t period_ = 64;
    std::atomic<std::uint32_t> choice_{0};
    std::atomic<std::uint32_t> epoch_{0};
    // A simulated shard's counts, written under that shard's lock only and
    // added to the shared ones every report_batch samples.
    struct alignas(64) ShardTally {
        std::array<std::uint32_t, candidate_fractions.size()> hits{};
        std::uint32_t samples = 0;
    };
    static constexpr std::uint32_t report_batch = 16;

    std::vector<GhostCache> ghosts_;   // by fraction, then by simulated shard
    std::vector<ShardTally> tallies_;  // by simulated shard
    std::array<std::atomic<std::uint32_t>, candidate_fractions.size()> pending_hits_{};
    std::atomic<std::size_t> pending_samples_{0};
    std::mutex choosing_;  // guards scores_
    std::array<double, candidate_fractions.size()> scores_{};
};

}  // namespace dogpile::details
