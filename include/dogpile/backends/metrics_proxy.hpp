#pragma once
// MetricsProxy<Value, Key>: a ProxyBackend that counts every backend call,
// its errors and its latency, per operation, for dashboards and alerts:
//
//   auto metrics = std::make_shared<dogpile::MetricsProxy<std::string>>();
//   dogpile::Region<std::string> region(dogpile::wrap(backend, {metrics}));
//   ...
//   dogpile::BackendMetrics m = metrics->snapshot();
//   m[dogpile::BackendOperation::get].latency.quantile(0.99);
//
// Latencies go into fixed log-spaced buckets (under 1 µs, then one bucket per
// power of two of microseconds up to about a minute, then the rest), so the
// histogram costs no allocation and any percentile is known to within a factor
// of two. A call that throws is counted (calls, errors, latency) and the error
// propagates unchanged.
//
// Thread safety: every member may be called from any number of threads at
// once. Counters are relaxed atomics: a snapshot taken while calls run is not
// one instant (calls and its histogram may differ by the calls in flight).

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy.hpp"

namespace dogpile {

/// The backend calls MetricsProxy counts, one OperationMetrics each.
enum class BackendOperation : std::size_t { get, set, erase, get_multi, set_multi, erase_multi, get_mutex };
/// The number of BackendOperation values.
inline constexpr std::size_t backend_operation_count = 7;

/// The operation's name, as spelled in the enum ("get_multi"); a static string.
inline const char* to_string(BackendOperation op) noexcept {
    constexpr std::array<const char*, backend_operation_count> names = {
        "get", "set", "erase", "get_multi", "set_multi", "erase_multi", "get_mutex"};
    return names[static_cast<std::size_t>(op)];
}

/// A snapshot of one operation's latencies. Bucket 0 holds calls under 1 µs;
/// bucket i (1 <= i < bucket_count - 1) those in [2^(i-1), 2^i) µs; the last
/// bucket everything from 2^(bucket_count - 2) µs (67 s) up.
struct LatencyHistogram {
    static constexpr std::size_t bucket_count = 28;    ///< buckets, the last one unbounded
    std::array<std::uint64_t, bucket_count> counts{};  ///< calls per bucket

    /// The bucket a call of this latency is counted in.
    static std::size_t bucket_for(std::chrono::nanoseconds latency) noexcept {
        if (latency < std::chrono::microseconds(1)) return 0;
        auto micros =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
        std::size_t bucket = 0;
        while (micros != 0 && bucket < bucket_count - 1) {
            micros >>= 1;
            ++bucket;
        }
        return bucket;
    }

    /// The exclusive upper bound of bucket i; std::nullopt for the last (unbounded) one.
    static std::optional<std::chrono::microseconds> upper_bound(std::size_t bucket) noexcept {
        if (bucket >= bucket_count - 1) return std::nullopt;
        return std::chrono::microseconds(std::int64_t{1} << bucket);
    }

    /// The calls in all buckets.
    std::uint64_t total() const noexcept {
        std::uint64_t sum = 0;
        for (auto c : counts) sum += c;
        return sum;
    }

    /// The upper bound of the bucket holding the q-th quantile (0 < q <= 1):
    /// at least q of the calls took less. std::nullopt when there are no calls
    /// or the quantile lies in the unbounded last bucket.
    std::optional<std::chrono::microseconds> quantile(double q) const noexcept {
        const std::uint64_t n = total();
        if (n == 0) return std::nullopt;
        double wanted = q * static_cast<double>(n);
        if (wanted < 1.0) wanted = 1.0;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < bucket_count; ++i) {
            seen += counts[i];
            if (static_cast<double>(seen) >= wanted) return upper_bound(i);
        }
        return std::nullopt;
    }
};

/// One operation's counters in a BackendMetrics snapshot.
struct OperationMetrics {
    std::uint64_t calls = 0;                    ///< calls made, those that threw included
    std::uint64_t errors = 0;                   ///< calls that threw
    std::chrono::nanoseconds total_latency{0};  ///< the time all calls took, added up
    LatencyHistogram latency;                   ///< how long the calls took
};

/// What MetricsProxy::snapshot() returns: per-operation counters, hits and misses.
struct BackendMetrics {
    /// Indexed by BackendOperation.
    std::array<OperationMetrics, backend_operation_count> operations{};
    /// Keys get() and get_multi() found (hits) or did not (misses).
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;  ///< see hits

    /// The counters of `op`.
    const OperationMetrics& operator[](BackendOperation op) const noexcept {
        return operations[static_cast<std::size_t>(op)];
    }
};

/// A ProxyBackend that counts every backend call, its errors and its latency, per operation (see
/// BackendOperation). A call that throws is counted and its error propagates unchanged. Thread-
/// safe; counters are relaxed atomics, so a snapshot taken while calls run is not one instant.
template <class Value, class Key = std::string>
class MetricsProxy : public ProxyBackend<Value, Key> {
    using Base = ProxyBackend<Value, Key>;

public:
    using typename Base::backend_type;  ///< the interface it wraps and implements
    using typename Base::entry_type;    ///< a value with its metadata
    using Base::Base;

    /// Forwards to the wrapped backend, counting the call, its latency, and the hits and misses.
    std::optional<entry_type> get(const Key& key) override {
        auto entry = timed(BackendOperation::get, [&] { return Base::get(key); });
        count_lookups(entry ? 1 : 0, entry ? 0 : 1);
        return entry;
    }
    /// Forwards to the wrapped backend, counting the call and its latency.
    void set(const Key& key, const entry_type& entry) override {
        timed(BackendOperation::set, [&] { Base::set(key, entry); });
    }
    /// Forwards to the wrapped backend, counting the call and its latency.
    void set(const Key& key, entry_type&& entry) override {
        timed(BackendOperation::set, [&] { Base::set(key, std::move(entry)); });
    }
    /// Forwards to the wrapped backend, counting the call and its latency.
    void erase(const Key& key) override {
        timed(BackendOperation::erase, [&] { Base::erase(key); });
    }
    /// Forwards to the wrapped backend, counting the call, its latency, and the hits and misses.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        auto entries = timed(BackendOperation::get_multi, [&] { return Base::get_multi(keys); });
        std::uint64_t found = 0;
        for (const auto& entry : entries) found += entry ? 1 : 0;
        count_lookups(found, entries.size() - found);
        return entries;
    }
    /// Forwards to the wrapped backend, counting the call and its latency.
    void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) override {
        timed(BackendOperation::set_multi, [&] { Base::set_multi(entries); });
    }
    /// Forwards to the wrapped backend, counting the call and its latency.
    void erase_multi(const std::vector<Key>& keys) override {
        timed(BackendOperation::erase_multi, [&] { Base::erase_multi(keys); });
    }
    /// Forwards to the wrapped backend, counting the call and its latency.
    std::unique_ptr<Mutex> get_mutex(const Key& key) override {
        return timed(BackendOperation::get_mutex, [&] { return Base::get_mutex(key); });
    }

    /// The counters so far; any thread, at any time.
    BackendMetrics snapshot() const {
        BackendMetrics out;
        for (std::size_t op = 0; op < backend_operation_count; ++op) {
            const Counters& c = counters_[op];
            OperationMetrics& m = out.operations[op];
            m.calls = c.calls.load(std::memory_order_relaxed);
            m.errors = c.errors.load(std::memory_order_relaxed);
            m.total_latency = std::chrono::nanoseconds(c.total_nanos.load(std::memory_order_relaxed));
            for (std::size_t b = 0; b < LatencyHistogram::bucket_count; ++b) {
                m.latency.counts[b] = c.buckets[b].load(std::memory_order_relaxed);
            }
        }
        out.hits = hits_.load(std::memory_order_relaxed);
        out.misses = misses_.load(std::memory_order_relaxed);
        return out;
    }

    /// Zeroes every counter (calls running meanwhile may land on either side).
    void reset() noexcept {
        for (Counters& c : counters_) {
            c.calls.store(0, std::memory_order_relaxed);
            c.errors.store(0, std::memory_order_relaxed);
            c.total_nanos.store(0, std::memory_order_relaxed);
            for (auto& bucket : c.buckets) bucket.store(0, std::memory_order_relaxed);
        }
        hits_.store(0, std::memory_order_relaxed);
        misses_.store(0, std::memory_order_relaxed);
    }

private:
    // One cache line (or more) per operation: threads doing different
    // operations do not contend on each other's counters.
    struct alignas(64) Counters {
        std::atomic<std::uint64_t> calls{0};
        std::atomic<std::uint64_t> errors{0};
        std::atomic<std::uint64_t> total_nanos{0};
        std::array<std::atomic<std::uint64_t>, LatencyHistogram::bucket_count> buckets{};
    };

    // Records on every exit, a throwing one included.
    class Timing {
    public:
        explicit Timing(Counters& counters) : counters_(counters), started_(Clock::now()) {}
        Timing(const Timing&) = delete;
        Timing& operator=(const Timing&) = delete;
        ~Timing() {
            const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started_);
            counters_.calls.fetch_add(1, std::memory_order_relaxed);
            counters_.total_nanos.fetch_add(static_cast<std::uint64_t>(took.count()), std::memory_order_relaxed);
            counters_.buckets[LatencyHistogram::bucket_for(took)].fetch_add(1, std::memory_order_relaxed);
        }

    private:
        using Clock = std::chrono::steady_clock;
        Counters& counters_;
        Clock::time_point started_;
    };

    template <class F>
    decltype(auto) timed(BackendOperation op, F&& f) {
        Counters& counters = counters_[static_cast<std::size_t>(op)];
        Timing timing(counters);
        try {
            return f();
        } catch (...) {
            counters.errors.fetch_add(1, std::memory_order_relaxed);
            throw;
        }
    }

    void count_lookups(std::uint64_t found, std::uint64_t missed) noexcept {
        if (found) hits_.fetch_add(found, std::memory_order_relaxed);
        if (missed) misses_.fetch_add(missed, std::memory_order_relaxed);
    }

    std::array<Counters, backend_operation_count> counters_{};
    alignas(64) std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
};

}  // namespace dogpile
