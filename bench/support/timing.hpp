#pragma once
// Small helpers for the plain (non-Google-Benchmark) tools: a start gate that
// releases many threads at once, and percentiles of measured waits.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace dogpile::bench {

using SteadyClock = std::chrono::steady_clock;

inline double to_ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A start line for `parties` threads: each calls arrive_and_wait(); open()
// waits until all of them are parked, then releases them at once and returns
// the moment it did, so every thread measures from the same start.
class StartGate {
public:
    explicit StartGate(std::size_t parties) : parties_(parties) {}

    void arrive_and_wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        ++arrived_;
        changed_.notify_all();
        changed_.wait(lock, [this] { return open_; });
    }

    // Returns once every party is parked at the gate.
    void wait_for_all() {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [this] { return arrived_ == parties_; });
    }

    SteadyClock::time_point open() {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [this] { return arrived_ == parties_; });
        start_ = SteadyClock::now();
        open_ = true;
        changed_.notify_all();
        return start_;
    }

    // Opens without waiting for the missing parties: the way out when the
    // run is abandoned (a thread could not be started, a signal never came).
    void abandon() {
        std::lock_guard<std::mutex> lock(mutex_);
        open_ = true;
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    const std::size_t parties_;
    std::size_t arrived_ = 0;
    bool open_ = false;
    SteadyClock::time_point start_{};
};

// Nearest-rank percentile (p in [0, 100]) of unsorted samples; 0 for none.
inline double percentile(std::vector<double> samples, double p) {
    if (samples.empty()) return 0.0;
    std::sort(samples.begin(), samples.end());
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
    return samples[std::min(samples.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace dogpile::bench
