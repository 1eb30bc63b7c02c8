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
//                        // and <name>_cpus for multi-threaded variants
//
// A variant's `run(thread, ops)` performs `ops` operations on one thread of a
// team of `threads` that start each block together; a block lasts until the
// last thread is done, so per_s is the aggregate rate of all threads.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
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
//
// Why the members spin between blocks instead of sleeping on a condition
// variable (issue 19 item 4: report.sh showed no gain from 1 to 2 threads). A
// block lasts a few ms; a member that slept in between had to be woken by
// member 0 for every block, and the scheduler may run the woken thread on
// member 0's own CPU: traced with sched_getcpu() on this 2-core VM, the
// second member of a 2-thread block started only when member 0 had finished,
// on the same CPU, so the block took as long as two 1-thread blocks. (That
// trace was taken while a compile kept the other core busy; on the idle
// machine the old team gave the Region 0.99x-1.30x across runs.) A member that
// never leaves its CPU stays where the load balancer put it, and starts within
// ns. With more members than CPUs, spinning would steal time from the members
// still working, so then a member spins only briefly before sleeping.
//
// Whatever the cause, a scaling figure is only worth something if the threads
// had the cores: each member's thread CPU time is measured, and cpu_seconds() / the block's
// wall time is the number of CPUs the block really used, which says whether a
// 2-thread figure was measured on 2 cores or on one shared with something else.
class ThreadTeam {
public:
    explicit ThreadTeam(std::size_t size)
        : size_(std::max<std::size_t>(size, 1)),
          spin_forever_(size_ <= std::max(1u, std::thread::hardware_concurrency())),
          cpu_(size_) {
        for (std::size_t i = 1; i < size_; ++i) threads_.emplace_back([this, i] { serve(i); });
    }

    ~ThreadTeam() {
        stopping_.store(true, std::memory_order_relaxed);
        release();
        for (auto& thread : threads_) thread.join();
    }

    ThreadTeam(const ThreadTeam&) = delete;
    ThreadTeam& operator=(const ThreadTeam&) = delete;

    std::size_t size() const noexcept { return size_; }

    // Runs job(i) on members 0 .. members - 1 (every member when 0); returns
    // the seconds from the start until the last of them finished.
    double run(const std::function<void(std::size_t)>& job, std::size_t members = 0) {
        members = members == 0 ? size_ : std::min(members, size_);
        job_ = &job;
        members_ = members;
        running_.store(size_ - 1, std::memory_order_relaxed);
        for (auto& c : cpu_) c.seconds = 0;
        const auto started = SteadyClock::now();
        release();
        timed(job, 0);
        for (std::size_t spins = 0; running_.load(std::memory_order_acquire) != 0; ++spins) pause(spins);
        return std::chrono::duration<double>(SteadyClock::now() - started).count();
    }

    // The CPU time the members of the last run() spent in the job, summed.
    double cpu_seconds() const {
        double total = 0;
        for (const auto& c : cpu_) total += c.seconds;
        return total;
    }

private:
    struct alignas(64) CpuTime {
        double seconds = 0;
    };

    static double thread_cpu_seconds() {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }

    void timed(const std::function<void(std::size_t)>& job, std::size_t member) {
        const double before = thread_cpu_seconds();
        job(member);
        cpu_[member].seconds = thread_cpu_seconds() - before;
    }

    // Starts the next generation; the members see it spinning or are woken.
    void release() {
        generation_.fetch_add(1, std::memory_order_release);
        { std::lock_guard<std::mutex> lock(mutex_); }  // a member about to sleep sees the new generation
        start_.notify_all();
    }

    void pause(std::size_t spins) const {
        if (spin_forever_ && spins < 4096) return;  // pure spin: react within ns
        std::this_thread::yield();                  // let a working member (or anything else) run
    }

    void serve(std::size_t member) {
        std::uint64_t seen = 0;
        for (;;) {
            std::uint64_t now = generation_.load(std::memory_order_acquire);
            for (std::size_t spins = 0; now == seen; ++spins) {
                if (!spin_forever_ && spins > 2000) {
                    std::unique_lock<std::mutex> lock(mutex_);
                    start_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
                }
                pause(spins);
                now = generation_.load(std::memory_order_acquire);
            }
            seen = now;
            if (stopping_.load(std::memory_order_relaxed)) return;
            if (member < members_) timed(*job_, member);
            running_.fetch_sub(1, std::memory_order_release);
        }
    }

    const std::size_t size_;
    const bool spin_forever_;
    std::vector<CpuTime> cpu_;
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable start_;
    // Written by member 0 before release(), read by the others after they see
    // the new generation (release/acquire on generation_).
    const std::function<void(std::size_t)>* job_ = nullptr;
    std::size_t members_ = 0;
    alignas(64) std::atomic<std::uint64_t> generation_{0};
    alignas(64) std::atomic<std::size_t> running_{0};
    std::atomic<bool> stopping_{false};
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
        Variant(std::string name_, std::size_t items_per_op_, std::function<void(std::size_t, std::size_t)> run_,
                std::size_t threads_ = 0)
            : name(std::move(name_)), items_per_op(items_per_op_), run(std::move(run_)), threads(threads_) {}

        std::string name;
        std::size_t items_per_op = 1;  // e.g. 100 for "one call reads 100 entries"
        std::function<void(std::size_t thread, std::size_t ops)> run;
        // How many of the team's threads run it; 0 = all. Variants that differ
        // only in this measure scaling in alternation (report_ratio).
        std::size_t threads = 0;
    };

    // variants[0] is the baseline. Each block is sized to last about `block`.
    Comparison(std::size_t threads, std::vector<Variant> variants,
               std::chrono::microseconds block = std::chrono::milliseconds(3))
        : team_(threads), variants_(std::move(variants)), rates_(variants_.size()), cpus_(variants_.size()) {
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
            const double items = static_cast<double>(ops_[v] * threads_of(variants_[v]) * variants_[v].items_per_op);
            rates_[v].push_back(items / seconds);
            cpus_[v].push_back(team_.cpu_seconds() / seconds);
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
            if (threads_of(variants_[v]) > 1) state.counters[variants_[v].name + "_cpus"] = median(cpus_[v]);
            if (v != 0) report_ratio(state, v, 0);
        }
    }

    // Sets <subject>_vs_<reference>: the median over the rounds of the ratio
    // of their rates (e.g. a variant on 2 threads over the same on 1).
    void report_ratio(benchmark::State& state, std::size_t subject, std::size_t reference) const {
        std::vector<double> ratios;
        for (std::size_t r = 0; r < rates_[subject].size(); ++r) {
            ratios.push_back(rates_[subject][r] / rates_[reference][r]);
        }
        state.counters[variants_[subject].name + "_vs_" + variants_[reference].name] = median(ratios);
    }

private:
    std::size_t threads_of(const Variant& variant) const {
        return variant.threads == 0 ? team_.size() : std::min(variant.threads, team_.size());
    }

    double block(const Variant& variant, std::size_t ops) {
        return team_.run([&](std::size_t thread) { variant.run(thread, ops); }, threads_of(variant));
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
    std::vector<std::vector<double>> cpus_;   // [variant][round]: CPUs the block used
    std::size_t rounds_ = 0;
};

}  // namespace dogpile::bench
