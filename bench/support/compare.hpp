#pragma once
// Paired comparison: a baseline and its subjects measured in alternating short
// blocks, so a compile job or a noisy neighbour that comes and goes slows all
// of them alike. Each round runs every variant once (a few ms each, in a
// rotating order); the ratio of a subject to the baseline is taken per round,
// and the median over the rounds is reported. On a loaded machine, where two
// separate benchmark runs differ by 50%, these ratios stay within a few percent.
//
//   Comparison cmp(threads, {{"baseline", 1, run_baseline}, {"region", 1, run_region}});
//   for (auto _ : state) state.SetIterationTime(cmp.round());   // with ->UseManualTime()
//   cmp.report(state);   // counters baseline_per_s, region_per_s, region_vs_baseline, ...
//
// A variant's `run(thread, ops)` performs `ops` operations on one thread of a
// team of `threads` that start each block together; a block lasts until the
// last thread is done, so per_s is the aggregate rate of all threads.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "timing.hpp"

namespace dogpile::bench {

// Threads that run one job together: run() returns once every thread has
// finished it. The calling thread is member 0.
class ThreadTeam {
public:
    explicit ThreadTeam(std::size_t size) : size_(std::max<std::size_t>(size, 1)) {
        for (std::size_t i = 1; i < size_; ++i) threads_.emplace_back([this, i] { serve(i); });
    }

    ~ThreadTeam() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
            ++generation_;
        }
        start_.notify_all();
        for (auto& thread : threads_) thread.join();
    }

    ThreadTeam(const ThreadTeam&) = delete;
    ThreadTeam& operator=(const ThreadTeam&) = delete;

    std::size_t size() const noexcept { return size_; }

    // Runs job(i) on member i, for every member; returns the seconds from the
    // start until the last member finished.
    double run(const std::function<void(std::size_t)>& job) {
        const auto started = SteadyClock::now();
        if (size_ > 1) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                job_ = &job;
                running_ = size_ - 1;
                ++generation_;
            }
            start_.notify_all();
        }
        job(0);
        if (size_ > 1) {
            std::unique_lock<std::mutex> lock(mutex_);
            done_.wait(lock, [this] { return running_ == 0; });
        }
        return std::chrono::duration<double>(SteadyClock::now() - started).count();
    }

private:
    void serve(std::size_t member) {
        std::uint64_t seen = 0;
        for (;;) {
            const std::function<void(std::size_t)>* job = nullptr;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                start_.wait(lock, [&] { return generation_ != seen; });
                seen = generation_;
                if (stopping_) return;
                job = job_;
            }
            (*job)(member);
            std::lock_guard<std::mutex> lock(mutex_);
            if (--running_ == 0) done_.notify_one();
        }
    }

    const std::size_t size_;
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable start_;
    std::condition_variable done_;
    const std::function<void(std::size_t)>* job_ = nullptr;
    std::size_t running_ = 0;
    std::uint64_t generation_ = 0;
    bool stopping_ = false;
};

inline double median(std::vector<double> values) {
    if (values.empty()) return 0.0;
    const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    if (values.size() % 2 == 1) return *middle;
    return (*middle + *std::max_element(values.begin(), middle)) / 2.0;
}

class Comparison {
public:
    struct Variant {
        std::string name;
        std::size_t items_per_op = 1;  // e.g. 100 for "one call reads 100 entries"
        std::function<void(std::size_t thread, std::size_t ops)> run;
    };

    // variants[0] is the baseline. Each block is sized to last about `block`.
    Comparison(std::size_t threads, std::vector<Variant> variants,
               std::chrono::microseconds block = std::chrono::milliseconds(3))
        : team_(threads), variants_(std::move(variants)), rates_(variants_.size()) {
        for (const auto& variant : variants_) ops_.push_back(calibrate(variant, block));
    }

    // Runs every variant's block once; returns the seconds they took in total.
    double round() {
        double spent = 0;
        const std::size_t n = variants_.size();
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t v = (rounds_ + k) % n;
            const double seconds = block(variants_[v], ops_[v]);
            spent += seconds;
            const double items = static_cast<double>(ops_[v] * team_.size() * variants_[v].items_per_op);
            rates_[v].push_back(items / seconds);
        }
        ++rounds_;
        return spent;
    }

    // Sets <name>_per_s (median items/s over the rounds) and <name>_best_per_s
    // (the fastest block: what the code does when nothing preempts it) for
    // every variant, and <name>_vs_<baseline> (median of the per-round
    // ratios) for the subjects.
    void report(benchmark::State& state) const {
        for (std::size_t v = 0; v < variants_.size(); ++v) {
            state.counters[variants_[v].name + "_per_s"] = median(rates_[v]);
            if (!rates_[v].empty()) {
                state.counters[variants_[v].name + "_best_per_s"] =
                    *std::max_element(rates_[v].begin(), rates_[v].end());
            }
            if (v == 0) continue;
            std::vector<double> ratios;
            for (std::size_t r = 0; r < rates_[v].size(); ++r) ratios.push_back(rates_[v][r] / rates_[0][r]);
            state.counters[variants_[v].name + "_vs_" + variants_[0].name] = median(ratios);
        }
    }

private:
    double block(const Variant& variant, std::size_t ops) {
        return team_.run([&](std::size_t thread) { variant.run(thread, ops); });
    }

    // Grows the operation count until a block lasts `target`. A block counts
    // as long enough only if three tries all are: one preempted try must not
    // stop the search early, or the variant would run in blocks too short to
    // warm its caches (and, with several threads, dominated by wake-ups).
    std::size_t calibrate(const Variant& variant, std::chrono::microseconds target) {
        const double wanted = std::chrono::duration<double>(target).count();
        constexpr std::size_t max_ops = std::size_t{1} << 26;
        std::size_t ops = 1;
        for (;;) {
            double fastest = std::numeric_limits<double>::max();
            for (int attempt = 0; attempt < 3 && fastest >= wanted; ++attempt) {
                fastest = std::min(fastest, block(variant, ops));
            }
            if (fastest >= wanted || ops >= max_ops) return ops;
            const double factor = fastest > 0 ? std::min(wanted / fastest, 16.0) : 16.0;
            ops = std::max(ops * 2, static_cast<std::size_t>(static_cast<double>(ops) * factor));
        }
    }

    ThreadTeam team_;
    std::vector<Variant> variants_;
    std::vector<std::size_t> ops_;
    std::vector<std::vector<double>> rates_;  // [variant][round]
    std::size_t rounds_ = 0;
};

}  // namespace dogpile::bench
