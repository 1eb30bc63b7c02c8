#pragma once
// AtomicCounters<Stats, &Stats::a, &Stats::b, ...>: one relaxed atomic for
// each listed std::uint64_t field of a public stats struct, for counters
// bumped on hot paths. The fields are named once, in the list, and snapshot()
// and reset() follow it, so a new counter cannot be left out of either.
// (Counters of rare events live under a mutex: redis/details/stats_counters.hpp.)

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace dogpile::details {

template <class Stats, std::uint64_t Stats::*... Fields>
class AtomicCounters {
public:
    template <std::uint64_t Stats::*Field>
    std::atomic<std::uint64_t>& at() noexcept {
        static_assert(index_of<Field>() < sizeof...(Fields), "not one of this AtomicCounters' fields");
        return counters_[index_of<Field>()];
    }

    template <std::uint64_t Stats::*Field>
    void add(std::uint64_t n = 1) noexcept {
        at<Field>().fetch_add(n, std::memory_order_relaxed);
    }

    template <std::uint64_t Stats::*Field>
    std::uint64_t load() const noexcept {
        static_assert(index_of<Field>() < sizeof...(Fields), "not one of this AtomicCounters' fields");
        return counters_[index_of<Field>()].load(std::memory_order_relaxed);
    }

    // Writes the listed fields of `out`; the others are left as they are.
    void snapshot_into(Stats& out) const noexcept {
        std::size_t i = 0;
        ((out.*Fields = counters_[i++].load(std::memory_order_relaxed)), ...);
    }

    Stats snapshot() const noexcept {
        Stats out{};
        snapshot_into(out);
        return out;
    }

    void reset() noexcept {
        for (auto& counter : counters_) counter.store(0, std::memory_order_relaxed);
    }

private:
    template <std::uint64_t Stats::*Field>
    static constexpr std::size_t index_of() noexcept {
        constexpr std::uint64_t Stats::*fields[] = {Fields...};
        for (std::size_t i = 0; i < sizeof...(Fields); ++i) {
            if (fields[i] == Field) return i;
        }
        return sizeof...(Fields);
    }

    std::array<std::atomic<std::uint64_t>, sizeof...(Fields)> counters_{};
};

}  // namespace dogpile::details
