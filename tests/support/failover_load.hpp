#pragma once
// Load for the failover and resharding tests: threads that keep calling a
// Region (or a Client) while a test kills, fails over or migrates Redis
// nodes, and tally what they saw.
//
//   ErrorTally errors;                        // options.error_hook = errors.hook();
//   EXPECT_EQ(serves_from_redis(region, keys, expected_value), "");   // hits, not creator calls
//   RegionLoad load(region, keys, 8);         // get_or_create with a known value per key
//   Prober probe([&] { client->command(k, {"SET", k, "x"}); });
//   ... break something ...
//   EXPECT_GT(errors.count("IoError (connect refused)"), 0u);        // the fault's own kind
//   ... heal ...
//   EXPECT_EQ(wait_for_quiet_window(region, load, errors, 2000, 60s), "");  // errors stop, hits resume
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
#include <set>
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

    // Errors of one kind (as kind_of names it).
    std::uint64_t count(const std::string& kind) const {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto it = counts_.find(kind);
        return it == counts_.end() ? 0 : it->second;
    }

    // The kinds seen that are not in `allowed`, with their counts ("" if none).
    std::string kinds_outside(const std::set<std::string>& allowed) const {
        std::ostringstream out;
        for (const auto& [kind, n] : counts()) {
            if (allowed.count(kind) == 0) out << kind << ": " << n << "; ";
        }
        return out.str();
    }

    std::string summary() const {
        const std::string all = kinds_outside({});
        return all.empty() ? "none" : all;
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
                    case 11: check(region_.get(key), want); break;
                    case 5: {
                        std::vector<Key> some;
                        for (std::size_t k = 0; k < 8; ++k) some.push_back(keys_[(n + k * 5) % keys_.size()]);
                        const auto got = region_.get_multi(some);
                        for (std::size_t k = 0; k < some.size(); ++k) check(got[k], expected_(some[k]));
                        break;
                    }
                    case 7: region_.set(key, want); break;
                    case 13: region_.erase(key); break;
                    default:
                        check(std::optional<std::string>(region_.get_or_create(key,
                                                                               [&] {
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
// and succeeded, to measure how long an outage lasted for a client. A
// success is recorded with the time its probe started, so "a probe that
// started after the kill succeeded" never counts one that the dead server
// answered just before it died.
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

    // When the first probe that started at or after `t` and succeeded
    // finished, if there was one yet.
    std::optional<Clock::time_point> first_success_after(Clock::time_point t) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& s : successes_) {
            if (s.started >= t) return s.finished;
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
                successes_.push_back(Success{start, Clock::now()});
            } catch (const std::exception&) {
                errors_.add(std::current_exception());
                std::lock_guard<std::mutex> lock(mutex_);
                ++failures_;
                last_failure_ = Clock::now();
            }
            std::this_thread::sleep_until(start + period_);
        }
    }

    struct Success {
        Clock::time_point started, finished;
    };

    std::function<void()> probe_;
    std::chrono::milliseconds period_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<Success> successes_;
    std::optional<Clock::time_point> last_failure_;
    std::uint64_t failures_ = 0;
    ErrorTally errors_;
    std::thread thread_;
};

// One caller, the load stopped: every key is served from Redis. The keys
// are written first (the load erases some), then read with get_or_create
// whose creator returns a marker that is never the expected value: every
// answer must be the expected value, every call a hit, the creator never
// called, no backend error reported. Returns what went wrong, or "". A
// region that always misses, or always runs the creator, fails this.
template <class Region, class Key, class ValueOf>
std::string serves_from_redis_once(Region& region, const std::vector<Key>& keys, const ValueOf& value_of) {
    const std::string marker = "created-by-the-clean-pass";
    const auto before = region.stats();
    std::uint64_t created = 0;
    try {
        for (const Key& key : keys) region.set(key, value_of(key));
        for (const Key& key : keys) {
            const std::string want = value_of(key);
            const std::string got = region.get_or_create(key, [&] {
                ++created;
                return marker;
            });
            if (got != want) return "expected '" + want + "', got '" + got + "'";
        }
    } catch (const std::exception& e) {
        return std::string("a call threw: ") + e.what();
    }
    const auto after = region.stats();
    if (after.backend_errors != before.backend_errors) {
        return std::to_string(after.backend_errors - before.backend_errors) + " backend error(s)";
    }
    if (created != 0) return std::to_string(created) + " creator call(s) although Redis holds every key";
    if (after.hits - before.hits != keys.size()) {
        return std::to_string(after.hits - before.hits) + " hits for " + std::to_string(keys.size()) + " keys";
    }
    return {};
}

// serves_from_redis_once, up to `attempts` times: with short command
// timeouts a scheduling hiccup can spoil one pass, while a region that does
// not serve from Redis fails every one. Returns the last failure, or "".
template <class Region, class Key, class ValueOf>
std::string serves_from_redis(Region& region, const std::vector<Key>& keys, const ValueOf& value_of, int attempts = 1) {
    std::string last;
    for (int i = 0; i < attempts; ++i) {
        last = serves_from_redis_once(region, keys, value_of);
        if (last.empty()) break;
    }
    return last;
}

// Waits, up to `timeout`, for a stretch of `calls` calls of the running load
// during which the region reported no backend error and at least a quarter
// of the calls were hits (served from the backend, not by the creator).
// Returns "" once there was one, else what the last stretch saw. A stretch
// that a scheduling hiccup spoiled (a timeout on a loaded machine) is
// followed by another; a region that keeps failing, or keeps missing, never
// gets one.
template <class Region, class Load>
std::string wait_for_quiet_window(Region& region, const Load& load, const ErrorTally& errors, std::uint64_t calls,
                                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last = "no stretch of " + std::to_string(calls) + " calls completed";
    while (std::chrono::steady_clock::now() < deadline) {
        const auto errors_before = errors.total();
        const auto stats_before = region.stats();
        const auto calls_before = load.calls();
        while (load.calls() < calls_before + calls && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a counter, not waiting on a peer
        }
        const auto made = load.calls() - calls_before;
        if (made < calls) break;
        const auto new_errors = errors.total() - errors_before;
        const auto hits = region.stats().hits - stats_before.hits;
        if (new_errors == 0 && hits * 4 >= made) return {};
        last = std::to_string(made) + " calls: " + std::to_string(new_errors) + " backend error(s) (" +
               errors.summary() + " so far), " + std::to_string(hits) + " hits";
    }
    return last;
}

inline long long ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace dogpile::test
