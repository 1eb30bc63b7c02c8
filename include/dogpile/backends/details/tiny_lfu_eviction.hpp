#pragma once
// W-TinyLFU (Einziger, Friedman and Manes, ACM TOS 2017), one of the eviction
// policies of eviction.hpp, after Caffeine's design:
//   - a small LRU window takes every new entry, so a key just set is always
//     readable and a burst of new keys competes only within the window;
//   - a segmented LRU main space (probation, and protected for entries hit
//     again while in the main space) holds the rest;
//   - when the shard is full, the window's oldest entry (the candidate)
//     contests the main space's oldest (the incumbent): the one with the
//     higher estimated frequency (frequency_sketch.hpp) stays. A one-hit key
//     therefore never displaces a popular one, which makes scans harmless;
//   - near ties (estimates within tie_band_below/above) go by recency as in
//     LIRS: the candidate wins iff its last reuse distance is shorter than the
//     time since the incumbent's last use. A key coming back after eviction
//     finds its previous reuse distance in the shard's access_history.hpp;
//   - the window's share adapts (window_climber.hpp): ghost caches with
//     different shares replay a sample of the accesses, the best one wins.
// The sketch and the climber are shared by all shards of a table
// (TinyLfuShared); lists, sizes and the read buffer are per shard.
// Readers record hits in a lossy buffer under the shared lock; the policy
// replays them before any other operation, under the exclusive lock a write
// takes.
//
// Sizes are in weight units: entries when the table is bounded by count.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "access_history.hpp"
#include "frequency_sketch.hpp"
#include "hit_recording.hpp"
#include "node_list.hpp"
#include "read_buffer.hpp"
#include "window_climber.hpp"

namespace dogpile::details {

// The table-wide half of W-TinyLFU, shared by every shard's policy.
struct TinyLfuShared {
    // `capacity`: the table's bound (entries, or weight units), over
    // `shards` shards. The sketch halves every twenty requests per unit
    // (frequency_sketch.hpp); the climber simulates the table's first shards.
    explicit TinyLfuShared(std::size_t capacity, std::size_t shards = 1)
        : sketch(capacity), climber(capacity, shards, sketch) {}

    FrequencySketch sketch;
    WindowClimber climber;
};

template <class Node>
class TinyLfuEviction {
public:
    static constexpr HitRecording hit_recording = HitRecording::buffered;

    // Where a node is; kept in the node's policy_segment.
    enum Segment : std::uint8_t { in_window, in_probation, in_protected };

    // Caffeine's: the main space keeps 80% of itself for protected entries,
    // and a candidate this popular may win a tie by chance (1 in 128), so an
    // attacker cannot pin hot entries by flooding their frequency.
    static constexpr double protected_share = 0.8;
    static constexpr unsigned random_admission_threshold = 6;
    // The near-tie band of the contest. The candidate was just counted, so in
    // a loop larger than the shard it leads the incumbent by one on an
    // off-by-one, not on popularity. On bench/hit_ratio.sh a band of -1/+1
    // closed 0.3 points less of the LRU->OPT gap, exact ties only 3 less.
    static constexpr unsigned tie_band_below = 2;
    static constexpr unsigned tie_band_above = 1;

    // `budget`: the shard's capacity in weight units; `read_slots`: how many
    // hits the shard buffers between two writes.
    void attach(TinyLfuShared& shared, std::size_t budget, std::size_t read_slots) {
        reads_.resize(read_slots);
        shared_ = &shared;
        budget_ = budget;
        epoch_ = shared.climber.epoch();
        resize(shared.climber.window_fraction());
        random_ = mix(reinterpret_cast<std::uintptr_t>(this)) | 1;
    }

    void admit(Node* node) noexcept {
        drain();
        follow_climber();
        node->policy_segment = in_window;
        window_.push_front(node);
        window_weight_ += node->weight;
        history_.reserve(++resident_);
        node->policy_reuse = history_.distance(node->hash, clock_ + 1);
        count_access(node);
        report_if_due();
        shrink_window(node);
    }

    void forget(Node* node) noexcept {
        drain();
        --resident_;
        unlink(node);
    }

    // A rewrite of the node, under the exclusive lock.
    void record_hit(Node* node) noexcept {
        drain();
        on_access(node);
    }

    // Under the shared lock.
    void buffer_hit(Node* node) noexcept { reads_.record(node); }

    void drain() noexcept {
        reads_.drain([this](const Node* node) { shared_->sketch.prefetch(node->hash); },
                     [this](Node* node) { on_access(node); });
        report_if_due();
    }

    // Precondition: not empty.
    Node* victim() noexcept {
        drain();
        follow_climber();
        Node* candidate = window_weight_ >= window_max_ ? window_.back() : nullptr;
        Node* incumbent = probation_.back() != nullptr ? probation_.back() : protected_.back();
        if (candidate == nullptr) return incumbent != nullptr ? incumbent : window_.back();
        if (incumbent == nullptr) return candidate;
        if (!admits(candidate, incumbent)) return candidate;
        unlink(candidate);
        push_probation(candidate);
        return incumbent;
    }

    template <class Fn>
    void for_each(Fn fn) const {
        window_.for_each(fn);
        probation_.for_each(fn);
        protected_.for_each(fn);
    }

    void reset() noexcept {
        reads_.clear();
        window_.reset();
        probation_.reset();
        protected_.reset();
        window_weight_ = protected_weight_ = 0;
        resident_ = 0;
        history_.clear();
    }

    // For tests and the hit-ratio harness: the current window bound.
    std::size_t window_max() const noexcept { return window_max_; }

private:
    static std::uint64_t mix(std::uint64_t x) noexcept {
        x ^= x >> 31;
        x *= 0x7fb5d329728ea185ULL;
        x ^= x >> 27;
        return x;
    }

    std::uint64_t next_random() noexcept {
        random_ ^= random_ << 13;
        random_ ^= random_ >> 7;
        random_ ^= random_ << 17;
        return random_;
    }

    bool admits(const Node* candidate, const Node* incumbent) noexcept {
        const unsigned candidate_freq = shared_->sketch.frequency(candidate->hash);
        const unsigned incumbent_freq = shared_->sketch.frequency(incumbent->hash);
        if (candidate_freq + tie_band_below >= incumbent_freq && candidate_freq <= incumbent_freq + tie_band_above) {
            return candidate->policy_reuse < clock_ - incumbent->policy_stamp;
        }
        if (candidate_freq > incumbent_freq) return true;
        return candidate_freq >= random_admission_threshold && (next_random() & 127) == 0;
    }

    // Under the shard's exclusive lock, which the climber's record() requires.
    void count_access(Node* node) noexcept {
        shared_->sketch.increment(node->hash);
        shared_->climber.record(node->hash);
        ++unreported_samples_;
        node->policy_stamp = ++clock_;
        history_.record(node->hash, clock_);
    }

    void on_access(Node* node) noexcept {
        node->policy_reuse = clock_ + 1 - node->policy_stamp;
        count_access(node);
        switch (node->policy_segment) {
            case in_window:
                window_.unlink(node);
                window_.push_front(node);
                return;
            case in_probation:
                probation_.unlink(node);
                node->policy_segment = in_protected;
                protected_.push_front(node);
                protected_weight_ += node->weight;
                demote_protected();
                return;
            case in_protected:
                protected_.unlink(node);
                protected_.push_front(node);
                return;
        }
    }

    void unlink(Node* node) noexcept {
        switch (node->policy_segment) {
            case in_window:
                window_.unlink(node);
                window_weight_ -= node->weight;
                return;
            case in_probation: probation_.unlink(node); return;
            case in_protected:
                protected_.unlink(node);
                protected_weight_ -= node->weight;
                return;
        }
    }

    void push_probation(Node* node) noexcept {
        node->policy_segment = in_probation;
        probation_.push_front(node);
    }

    // The window's oldest entries move to probation, where they wait for a
    // contest; `keep`, the newest, always stays so it is readable at once.
    void shrink_window(const Node* keep) noexcept {
        while (window_weight_ > window_max_ && window_.back() != keep && window_.back() != nullptr) {
            Node* oldest = window_.back();
            unlink(oldest);
            push_probation(oldest);
        }
    }

    void demote_protected() noexcept {
        while (protected_weight_ > protected_max_ && protected_.back() != nullptr) {
            Node* oldest = protected_.back();
            unlink(oldest);
            push_probation(oldest);
        }
    }

    void follow_climber() noexcept {
        const std::uint32_t epoch = shared_->climber.epoch();
        if (epoch == epoch_) return;
        epoch_ = epoch;
        resize(shared_->climber.window_fraction());
        shrink_window(nullptr);
        demote_protected();
    }

    // A larger window fills with new entries as they come; a smaller one
    // hands its overflow to probation (follow_climber).
    void resize(double window_fraction) noexcept {
        const auto share = static_cast<std::size_t>(std::llround(window_fraction * static_cast<double>(budget_)));
        window_max_ = std::max<std::size_t>(1, share);
        const std::size_t main = budget_ > window_max_ ? budget_ - window_max_ : 0;
        protected_max_ = static_cast<std::size_t>(protected_share * static_cast<double>(main));
    }

    // The shared counters are written once per batch, not once per access.
    void report_if_due() noexcept {
        constexpr std::uint32_t batch = 16;
        if (unreported_samples_ >= batch) {
            shared_->sketch.add_samples(unreported_samples_);
            unreported_samples_ = 0;
        }
    }

    ReadBuffer<Node> reads_;
    NodeList<Node> window_;  // most recent first, like the other lists
    NodeList<Node> probation_;
    NodeList<Node> protected_;
    std::size_t window_weight_ = 0;
    std::size_t protected_weight_ = 0;
    std::size_t window_max_ = 1;
    std::size_t protected_max_ = 0;
    std::size_t budget_ = 0;
    TinyLfuShared* shared_ = nullptr;
    std::uint32_t epoch_ = 0;
    std::uint32_t unreported_samples_ = 0;  // sketch increments not yet added to its sample count
    std::uint64_t random_ = 1;
    // Counts the shard's accesses; differences of 32-bit values stay exact
    // for entries used within the last 2^32 of them.
    std::uint32_t clock_ = 0;
    std::size_t resident_ = 0;  // nodes admitted and not yet forgotten
    AccessHistory history_;
};

}  // namespace dogpile::details
