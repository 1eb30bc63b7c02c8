#pragma once
// Load for the failover and resharding tests: threads that keep calling a
// Region (or a Client) while a test kills, fails over or migrates Redis
// nodes, and tally what they saw.
//
//   ErrorTally errors;                        // options.error_hook = errors.hook();
//   RegionLoad load(region, keys, 8);         // get_or_create with a known value per key
//   Prober probe([&] { client->command(k, {"SET", k, "x"}); });
//   ... break something ...
//   load.stop();  // then load.wrong() must be 0
//
// Values are deterministic (expected_value(key)), so every answer can be
// checked: right or a miss, never another key's value or a stale mix.

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/redis/errors.hpp>
#include <dogpile/region_options.hpp>

namespace dogpile::test {

// Backend errors by kind: "IoError (connect)", "ReplyError CLUSTERDOWN", ...
class ErrorTally {
public:
    void add(const std::exception_ptr& error) {
        const std::string kind = kind_of(error);
        std::lock_guard<std::mutex> lock(mutex_);
        ++counts_[kind];
    }

    std::function<void(const BackendErrorEvent&)> hook() {
        return [this](const BackendErrorEvent& event) { add(event.error); };
    }

    std::uint64_t total() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::uint64_t n = 0;
        for (const auto& entry : counts_) n += entry.second;
        return n;
    }

    std::map<std::string, std::uint64_t> counts() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return counts_;
    }

    std::string summary() const {
        std::ostringstream out;
        for (const auto& [kind, n] : counts()) out << kind << ": " << n << "; ";
        return out.str().empty() ? "none" : out.str();
    }

    static std::string kind_of(const std::exception_ptr& error) {
        try {
            std::rethrow_exception(error);
        } catch (const redis::PoolTimeout&) {
            return "PoolTimeout";
        } catch (const redis::TimeoutError&) {
            return "TimeoutError";
        } catch (const redis::IoError& e) {
            const std::string what = e.what();
            if (what.find("cannot connect") != std::string::npos) return "IoError (connect refused)";
            if (what.find("no longer a master") != std::string::npos) return "IoError (not master)";
            if (what.find("no known node serves") != std::string::npos) return "IoError (slot unserved)";
            if (what.find("no master known") != std::string::npos) return "IoError (no master known)";
            return "IoError (connection lost)";
        } catch (const redis::ReplyError& e) {
            return "ReplyError " + std::string(e.code());
        } catch (const std::exception& e) {
            return std::string("other: ") + e.what();
        } catch (...) {
            return "unknown";
        }
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> counts_;
};

// `threads` threads cycling over `keys` with a mix of operations: mostly
// get_or_create (creator returns expected_value(key)), and every few calls a
// plain get, a get_multi of 8 keys, a set, or an erase. Every answer must be
// the expected value (or, for get and get_multi, a miss). Counts calls,
// creator runs and wrong answers.
template <class Region, class Key>
class RegionLoad {
public:
    using ValueOf = std::function<std::string(const Key&)>;

    RegionLoad(Region& region, std::vector<Key> keys, int threads, ValueOf expected_value)
        : region_(region), keys_(std::move(keys)), expected_(std::move(expected_value)) {
        for (int t = 0; t < threads; ++t) {
            workers_.emplace_back([this, t] { run(static_cast<std::size_t>(t)); });
        }
    }
    ~RegionLoad() { stop(); }
    RegionLoad(const RegionLoad&) = delete;
    RegionLoad& operator=(const RegionLoad&) = delete;

    void stop() {
        stop_.store(true);
        for (auto& w : workers_) {
            if (w.joinable()) w.join();
        }
    }

    std::uint64_t calls() const { return calls_.load(); }
    std::uint64_t creations() const { return creations_.load(); }
    std::uint64_t wrong() const { return wrong_.load(); }
    std::uint64_t exceptions() const { return exceptions_.load(); }
    std::string first_wrong() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return first_wrong_;
    }

private:
    void run(std::size_t t) {
        std::size_t i = t * 7;
        while (!stop_.load(std::memory_order_relaxed)) {
            const std::size_t n = i++;
            const Key& key = keys_[n % keys_.size()];
            const std::string want = expected_(key);
            try {
                switch (n % 16) {
                    case 3:
                    case 11:
                        check(region_.get(key), want);
                        break;
                    case 5: {
                        std::vector<Key> some;
                        for (std::size_t k = 0; k < 8; ++k) some.push_back(keys_[(n + k * 5) % keys_.size()]);
                        const auto got = region_.get_multi(some);
                        for (std::size_t k = 0; k < some.size(); ++k) check(got[k], expected_(some[k]));
                        break;
                    }
                    case 7:
                        region_.set(key, want);
                        break;
                    case 13:
                        region_.erase(key);
                        break;
                    default:
                        check(std::optional<std::string>(region_.get_or_create(key, [&] {
                                  creations_.fetch_add(1);
                                  return want;
                              })),
                              want);
                }
            } catch (const std::exception&) {
                exceptions_.fetch_add(1);
            }
            calls_.fetch_add(1, std::memory_order_relaxed);
        }
    }

    // A miss is fine; any other value than the expected one is not.
    void check(const std::optional<std::string>& got, const std::string& want) {
        if (!got || *got == want) return;
        if (wrong_.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(mutex_);
            first_wrong_ = "expected '" + want + "', got '" + *got + "'";
        }
    }

    Region& region_;
    std::vector<Key> keys_;
    ValueOf expected_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> calls_{0}, creations_{0}, wrong_{0}, exceptions_{0};
    mutable std::mutex mutex_;
    std::string first_wrong_;
    std::vector<std::thread> workers_;
};

// Runs `probe` every `period` on its own thread and records when it failed
// and succeeded, to measure how long an outage lasted for a client.
class Prober {
public:
    using Clock = std::chrono::steady_clock;

    explicit Prober(std::function<void()> probe, std::chrono::milliseconds period = std::chrono::milliseconds(5))
        : probe_(std::move(probe)), period_(period), thread_([this] { run(); }) {}
    ~Prober() { stop(); }
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    void stop() {
        stop_.store(true);
        if (thread_.joinable()) thread_.join();
    }

    // The first success at or after `t`, if any yet.
    std::optional<Clock::time_point> first_success_after(Clock::time_point t) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& s : successes_) {
            if (s >= t) return s;
        }
        return std::nullopt;
    }
    std::optional<Clock::time_point> last_failure() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return last_failure_;
    }
    std::uint64_t failures() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return failures_;
    }
    const ErrorTally& errors() const { return errors_; }

private:
    void run() {
        while (!stop_.load()) {
            const auto start = Clock::now();
            try {
                probe_();
                std::lock_guard<std::mutex> lock(mutex_);
                successes_.push_back(Clock::now());
            } catch (const std::exception&) {
                errors_.add(std::current_exception());
                std::lock_guard<std::mutex> lock(mutex_);
                ++failures_;
                last_failure_ = Clock::now();
            }
            std::this_thread::sleep_until(start + period_);
        }
    }

    std::function<void()> probe_;
    std::chrono::milliseconds period_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<Clock::time_point> successes_;
    std::optional<Clock::time_point> last_failure_;
    std::uint64_t failures_ = 0;
    ErrorTally errors_;
    std::thread thread_;
};

inline long long ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace dogpile::test
