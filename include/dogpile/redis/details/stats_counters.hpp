#pragma once
// StatsCounters<Stats>: counters of rare events (sessions, failovers,
// re-discoveries) kept as the public stats struct itself, under a mutex: the
// fields are declared once, and a snapshot is a copy. Not for hot paths.

#include <cstdint>
#include <mutex>

namespace dogpile::redis::details {

template <class Stats>
class StatsCounters {
public:
    void add(std::uint64_t Stats::*field, std::uint64_t n = 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.*field += n;
    }

    Stats snapshot() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return stats_;
    }

private:
    mutable std::mutex mutex_;
    Stats stats_{};
};

}  // namespace dogpile::redis::details
