// Soak: 16 threads of mixed get_or_create / get_or_create_multi / get / set /
// erase / invalidate over 1,000 keys of the hash store (envelope payloads, so
// expiration and invalidation apply; a short hash TTL, so whole hashes vanish
// too) with the distributed lock, for DOGPILE_SOAK_SECONDS seconds (default
// 60). The threads are split over two regions with their own clients, like
// two processes sharing one Redis. Every value returned is checked against an
// oracle: it must name the key asked for, and carry a version that was
// already produced and is not older than a lower bound proven below.
//
// The oracle. Every value is "<key>#<version>", the version taken from a
// per-key counter when the value is produced (inside a creator, or before a
// set()). A production is "in flight" from taking its version until the call
// that produced it returns; when a set() of version v returns without a
// backend error, v is in Redis or has been overwritten by a later write.
// Let m(v) be the smallest version in flight when v was taken (v itself if
// none). Every write applied to Redis after v's comes from a production that
// was in flight when v was taken, or began later, so its version is >= m(v);
// every version below m(v) had finished before v was even produced. Hence,
// once that set() has returned, Redis holds (for that key) nothing, or a value
// of version >= m(v), forever after. The per-key floor is the largest such
// m(v). A call that reads the floor when it starts can only return a value
// read from Redis after that moment, or one its own creator produced later:
//     floor(at call start) <= returned version <= latest produced (at return).
// Stale values (expired or soft-invalidated entries served while another
// caller regenerates) are values read from Redis, so they obey the same
// bound: that is the allowed staleness. Creator-stored values raise no floor
// (whether they were stored is not visible from outside: a lock timeout
// returns them unstored), which only makes the bound looser, never wrong.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using dogpile::BackendErrorEvent;
using dogpile::HashKey;
using dogpile::Region;
using dogpile::RegionOptions;

constexpr int thread_count = 16;
constexpr int hash_count = 50;
constexpr int fields_per_hash = 20;  // 1,000 keys
constexpr int key_count = hash_count * fields_per_hash;

std::chrono::seconds soak_duration() {
    const char* env = std::getenv("DOGPILE_SOAK_SECONDS");
    if (env == nullptr || *env == '\0') return 60s;
    const long seconds = std::strtol(env, nullptr, 10);
    return std::chrono::seconds(std::max(1L, seconds));
}

HashKey key_at(std::size_t k) {
    return HashKey{"calculated-a|" + std::to_string(k / fields_per_hash), std::to_string(k % fields_per_hash)};
}
std::string name_of(std::size_t k) { return key_at(k).hash + "/" + key_at(k).field; }

// The per-key version bookkeeping described at the top.
class Oracle {
public:
    struct Production {
        std::size_t key;
        std::uint64_t version;
        std::uint64_t min_in_flight;  // m(version)
    };

    explicit Oracle(std::size_t keys) : keys_(keys) {}

    Production produce(std::size_t k) {
        KeyState& s = keys_[k];
        std::lock_guard<std::mutex> lock(s.mutex);
        const std::uint64_t v = ++s.latest;
        const std::uint64_t m = s.in_flight.empty() ? v : std::min(v, *s.in_flight.begin());
        s.in_flight.insert(v);
        return Production{k, v, m};
    }

    // `known_written`: the production was written to Redis by a call that
    // returned without a backend error.
    void finish(const Production& p, bool known_written) {
        KeyState& s = keys_[p.key];
        std::lock_guard<std::mutex> lock(s.mutex);
        s.in_flight.erase(s.in_flight.find(p.version));
        if (known_written) s.floor = std::max(s.floor, p.min_in_flight);
    }

    std::uint64_t floor(std::size_t k) {
        std::lock_guard<std::mutex> lock(keys_[k].mutex);
        return keys_[k].floor;
    }
    std::uint64_t latest(std::size_t k) {
        std::lock_guard<std::mutex> lock(keys_[k].mutex);
        return keys_[k].latest;
    }

    static std::string value(const Production& p) { return name_of(p.key) + "#" + std::to_string(p.version); }

    // An empty string when `value`, returned for key k by a call that started
    // when k's floor was `floor`, is allowed; otherwise what is wrong with it.
    std::string check(std::size_t k, std::uint64_t floor, const std::string& value) {
        const auto hash_mark = value.rfind('#');
        if (hash_mark == std::string::npos) return "not a produced value: '" + value + "'";
        const std::string name = value.substr(0, hash_mark);
        if (name != name_of(k)) return "asked for " + name_of(k) + ", got another key's value '" + value + "'";
        std::uint64_t version = 0;
        try {
            version = std::stoull(value.substr(hash_mark + 1));
        } catch (const std::exception&) {
            return "bad version in '" + value + "'";
        }
        const std::uint64_t latest_now = latest(k);
        if (version > latest_now) {
            return "'" + value + "' was never produced (latest " + std::to_string(latest_now) + ")";
        }
        if (version < floor) {
            return "'" + value + "' is older than allowed (floor " + std::to_string(floor) + " at call start)";
        }
        return {};
    }

private:
    struct KeyState {
        std::mutex mutex;
        std::uint64_t latest = 0;
        std::multiset<std::uint64_t> in_flight;
        std::uint64_t floor = 0;
    };
    std::vector<KeyState> keys_;
};

// Backend errors seen by the hook on the calling thread since the last reset.
thread_local std::uint64_t errors_on_this_thread = 0;

struct Totals {
    std::atomic<std::uint64_t> get_or_create{0}, multi{0}, get{0}, set{0}, erase{0}, invalidate{0}, checked{0},
        above_floor_one{0}, violations{0}, exceptions{0}, errors{0};
    std::mutex mutex;
    std::vector<std::string> problems;

    void problem(std::atomic<std::uint64_t>& counter, const std::string& what) {
        counter.fetch_add(1);
        std::lock_guard<std::mutex> lock(mutex);
        if (problems.size() < 10) problems.push_back(what);
    }
};

using SoakRegion = Region<std::string, HashKey>;
using Backend = dogpile::RedisHashBackend<std::string>;

std::shared_ptr<Backend> make_backend(const dogpile::test::RedisServer& server) {
    dogpile::redis::PoolOptions pool;
    pool.size = thread_count;  // no thread ever waits for a connection: any error is a real one
    dogpile::RedisHashBackendOptions o;
    o.client = dogpile::redis::make_client(server.url(), pool);
    o.ttl = 10s;  // on_create: whole hashes expire every 10 s, under load
    o.payload = dogpile::redis::PayloadMode::envelope;
    o.distributed_lock = dogpile::redis::LockOptions{};
    o.distributed_lock->ttl = 5s;
    return std::make_shared<Backend>(o);
}

RegionOptions region_options(Totals& totals) {
    RegionOptions o;
    o.expiration_time = 2s;
    o.lock_timeout = 10s;
    o.on_lock_timeout = dogpile::LockTimeoutPolicy::create_value;
    o.error_hook = [&totals](const BackendErrorEvent& e) {
        ++errors_on_this_thread;
        totals.problem(totals.errors, "backend error in " + std::string(e.operation) + ": " + std::string(e.message));
    };
    return o;
}

void soak(SoakRegion& region, Oracle& oracle, Totals& totals, unsigned seed, Clock::time_point until) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> any_key(0, key_count - 1);
    std::uniform_int_distribution<int> percent(0, 9999);
    auto verify = [&](std::size_t k, std::uint64_t floor, const std::string& value) {
        totals.checked.fetch_add(1);
        if (floor > 1) totals.above_floor_one.fetch_add(1);
        const std::string wrong = oracle.check(k, floor, value);
        if (!wrong.empty()) totals.problem(totals.violations, wrong);
    };

    while (Clock::now() < until) {
        const int roll = percent(rng);
        const std::size_t k = any_key(rng);
        std::vector<Oracle::Production> made;
        try {
            if (roll < 5500) {
                totals.get_or_create.fetch_add(1);
                const std::uint64_t floor = oracle.floor(k);
                const std::string value = region.get_or_create(key_at(k), [&made, &oracle, k] {
                    made.push_back(oracle.produce(k));
                    return Oracle::value(made.back());
                });
                verify(k, floor, value);
            } else if (roll < 6000) {
                totals.multi.fetch_add(1);
                std::vector<std::size_t> ks{k};
                const std::size_t extra = 1 + rng() % 5;
                for (std::size_t i = 0; i < extra; ++i) ks.push_back(any_key(rng));
                std::vector<HashKey> keys;
                std::vector<std::uint64_t> floors;
                for (std::size_t x : ks) {
                    keys.push_back(key_at(x));
                    floors.push_back(oracle.floor(x));
                }
                const auto values = region.get_or_create_multi(keys, [&](const std::vector<HashKey>& missing) {
                    std::vector<std::string> out;
                    for (const HashKey& m : missing) {
                        const std::size_t x =
                            static_cast<std::size_t>(std::stoul(m.hash.substr(13))) * fields_per_hash +
                            static_cast<std::size_t>(std::stoul(m.field));
                        made.push_back(oracle.produce(x));
                        out.push_back(Oracle::value(made.back()));
                    }
                    return out;
                });
                if (values.size() != ks.size()) {
                    totals.problem(totals.violations, "get_or_create_multi returned the wrong number of values");
                } else {
                    for (std::size_t i = 0; i < ks.size(); ++i) verify(ks[i], floors[i], values[i]);
                }
            } else if (roll < 7500) {
                totals.get.fetch_add(1);
                const std::uint64_t floor = oracle.floor(k);
                if (const auto value = region.get(key_at(k))) verify(k, floor, *value);
            } else if (roll < 9000) {
                totals.set.fetch_add(1);
                made.push_back(oracle.produce(k));
                const std::uint64_t errors_before = errors_on_this_thread;
                region.set(key_at(k), Oracle::value(made.back()));
                oracle.finish(made.back(), errors_on_this_thread == errors_before);
                made.clear();
            } else if (roll < 9998) {
                totals.erase.fetch_add(1);
                region.erase(key_at(k));
            } else {
                totals.invalidate.fetch_add(1);
                region.invalidate(roll % 2 == 0 ? dogpile::Invalidation::soft : dogpile::Invalidation::hard);
            }
        } catch (const std::exception& e) {
            totals.problem(totals.exceptions, std::string("exception: ") + e.what());
        }
        for (const auto& p : made) oracle.finish(p, false);
    }
}

TEST(SoakRedis, MixedOperationsOnAThousandKeysNeverReturnAnotherKeysOrAnOutdatedValue) {
    dogpile::test::RedisServer server;
    Oracle oracle(key_count);
    Totals totals;
    // Two "processes": separate clients, backends and regions over one Redis.
    SoakRegion first(make_backend(server), region_options(totals));
    SoakRegion second(make_backend(server), region_options(totals));

    const auto duration = soak_duration();
    const Clock::time_point until = Clock::now() + duration;  // bounded: stops by itself
    dogpile::test::Latch start(thread_count);
    std::vector<std::thread> workers;
    for (int t = 0; t < thread_count; ++t) {
        workers.emplace_back([&, t] {
            start.arrive_and_wait();
            soak(t % 2 == 0 ? first : second, oracle, totals, 1000u + static_cast<unsigned>(t), until);
        });
    }
    for (auto& w : workers) w.join();

    const auto a = first.stats();
    const auto b = second.stats();
    std::string problems;
    for (const auto& p : totals.problems) problems += "\n  " + p;
    std::cout << "[ soak     ] " << duration.count() << " s: " << totals.get_or_create << " get_or_create, "
              << totals.multi << " get_or_create_multi, " << totals.get << " get, " << totals.set << " set, "
              << totals.erase << " erase, " << totals.invalidate << " invalidate; " << totals.checked
              << " values checked (" << totals.above_floor_one << " against a floor above 1); hits " << a.hits + b.hits
              << ", misses " << a.misses + b.misses << ", stale served " << a.stale_served + b.stale_served
              << ", creations " << a.creations + b.creations << ", lock waits " << a.lock_waits + b.lock_waits
              << ", lock timeouts " << a.lock_timeouts + b.lock_timeouts << ", backend errors "
              << a.backend_errors + b.backend_errors << std::endl;

    EXPECT_EQ(totals.violations.load(), 0u) << problems;
    EXPECT_EQ(totals.exceptions.load(), 0u) << problems;
    EXPECT_EQ(totals.errors.load(), 0u) << problems;
    EXPECT_EQ(a.backend_errors + b.backend_errors, 0u) << problems;
    // It did exercise everything.
    EXPECT_GT(totals.checked.load(), 0u);
    EXPECT_GT(totals.set.load(), 0u);
    EXPECT_GT(totals.erase.load(), 0u);
    EXPECT_GT(totals.multi.load(), 0u);
    EXPECT_GT(a.hits + b.hits, 0u);
    EXPECT_GT(a.creations + b.creations, 0u);
}

}  // namespace
