// The dogpile lock without a region (dogpile/dogpile_lock.hpp, dogpile.core's
// Lock), LocalMutex, and lock introspection (Mutex::locked(),
// Region::key_is_locked). Creator calls are counted exactly; threads meet on
// latches, with generous timeouts only as the failure path.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/proxy.hpp>
#include <dogpile/dogpile_lock.hpp>
#include <dogpile/mutex.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/wait.hpp"

using namespace std::chrono_literals;
using dogpile::DogpileLock;
using dogpile::DogpileLockOptions;
using dogpile::HeldMutex;
using dogpile::LocalMutex;
using dogpile::TimePoint;
using dogpile::ValueAndCreated;
using dogpile::test::Latch;
using dogpile::test::wait_for_condition;

namespace {

constexpr int kThreads = 4;
constexpr auto kGenerous = 10s;

// The user's own storage: one value with its creation time.
class Store {
public:
    std::optional<ValueAndCreated<std::string>> find() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return value_;
    }
    ValueAndCreated<std::string> put(std::string value, TimePoint created_at) {
        std::lock_guard<std::mutex> lk(mutex_);
        value_ = ValueAndCreated<std::string>{std::move(value), created_at};
        return *value_;
    }

private:
    mutable std::mutex mutex_;
    std::optional<ValueAndCreated<std::string>> value_;
};

// Counts callers that reached lock() (blocked, or about to) on a LocalMutex.
class CountingMutex final : public dogpile::Mutex {
public:
    bool try_lock() override { return inner.try_lock(); }
    bool lock(std::optional<std::chrono::milliseconds> timeout) override {
        ++blocking_calls;
        return inner.lock(timeout);
    }
    void unlock() override { inner.unlock(); }
    std::optional<bool> locked() const override { return inner.locked(); }

    LocalMutex inner;
    std::atomic<int> blocking_calls{0};
};

// Values expire after a minute; the clock stands still at `now`.
DogpileLockOptions a_minute_at(TimePoint now) {
    DogpileLockOptions options;
    options.expiration_time = std::chrono::minutes(1);
    options.clock = [now] { return now; };
    return options;
}

template <class F>
void run_threads(int n, F&& f) {
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back(f);
    for (auto& t : threads) t.join();
}

TEST(DogpileLock, FreshValueIsReturnedWithoutTheCreator) {
    LocalMutex mutex;
    Store store;
    store.put("stored", dogpile::precise_now());
    int created = 0;
    DogpileLock<std::string> lock(
        mutex, [&] { return ++created, store.put("new", dogpile::precise_now()); }, [&] { return store.find(); },
        {std::chrono::hours(1)});
    EXPECT_EQ(lock.get(), "stored");
    EXPECT_EQ(created, 0);
}

TEST(DogpileLock, NoValueOneCreatorTheOthersWaitAndReadIt) {
    CountingMutex mutex;
    Store store;
    std::atomic<int> created{0};
    DogpileLock<std::string> lock(
        mutex,
        [&] {
            ++created;
            // Everyone else is queued on the mutex before the value exists.
            EXPECT_TRUE(wait_for_condition([&] { return mutex.blocking_calls.load() == kThreads; }, kGenerous));
            return store.put("created", dogpile::precise_now());
        },
        [&] { return store.find(); });
    Latch start(kThreads);
    run_threads(kThreads, [&] {
        start.arrive_and_wait();
        EXPECT_EQ(lock.get(), "created");
    });
    EXPECT_EQ(created.load(), 1);
    EXPECT_EQ(mutex.locked(), false);
}

TEST(DogpileLock, ExpiredValueOneRegeneratesTheOthersGetTheStaleValue) {
    LocalMutex mutex;
    Store store;
    const TimePoint now = dogpile::precise_now();
    store.put("old", now - std::chrono::minutes(10));
    std::atomic<int> created{0};
    Latch stale_returned(kThreads - 1);
    const DogpileLockOptions options = a_minute_at(now);
    DogpileLock<std::string> lock(
        mutex,
        [&] {
            ++created;
            EXPECT_TRUE(stale_returned.wait_for(kGenerous)) << "the others waited instead of taking the old value";
            return store.put("new", now);
        },
        [&] { return store.find(); }, options);
    std::atomic<int> got_new{0};
    Latch start(kThreads);
    run_threads(kThreads, [&] {
        start.arrive_and_wait();
        const std::string value = lock.get();
        if (value == "old") {
            stale_returned.count_down();
        } else {
            EXPECT_EQ(value, "new");
            ++got_new;
        }
    });
    EXPECT_EQ(created.load(), 1);
    EXPECT_EQ(got_new.load(), 1);
    EXPECT_EQ(lock.get(), "new");
    EXPECT_EQ(created.load(), 1);
}

TEST(DogpileLock, AsyncCreatorGetsTheHeldMutexAndTheCallerTheOldValue) {
    LocalMutex mutex;
    Store store;
    const TimePoint now = dogpile::precise_now();
    store.put("old", now - std::chrono::minutes(10));
    std::atomic<int> created{0};
    Latch let_it_run(1);
    std::thread worker;
    const DogpileLockOptions options = a_minute_at(now);
    DogpileLock<std::string> lock(
        mutex,
        [&] {
            ++created;
            return store.put("new", now);
        },
        [&] { return store.find(); }, options,
        [&](HeldMutex held) {
            worker = std::thread([&, held = std::move(held)]() mutable {
                let_it_run.wait();
                store.put("new", now);
                ++created;
                held.release();
            });
        });
    EXPECT_EQ(lock.get(), "old");
    EXPECT_EQ(mutex.locked(), true) << "the async creation holds the key";
    EXPECT_EQ(lock.get(), "old") << "a second caller sees the creation in progress";
    let_it_run.count_down();
    worker.join();
    EXPECT_EQ(mutex.locked(), false);
    EXPECT_EQ(lock.get(), "new");
    EXPECT_EQ(created.load(), 1);
}

TEST(DogpileLock, GetterThrowingNeedRegenerationMeansNoValue) {
    LocalMutex mutex;
    Store store;
    int created = 0;
    DogpileLock<std::string> lock(
        mutex, [&] { return ++created, store.put("created", dogpile::precise_now()); },
        [&]() -> std::optional<ValueAndCreated<std::string>> {
            auto found = store.find();
            if (!found) throw dogpile::NeedRegeneration();
            return found;
        });
    EXPECT_EQ(lock.get(), "created");
    EXPECT_EQ(lock.get(), "created");
    EXPECT_EQ(created, 1);
}

TEST(DogpileLock, ACreatorThatThrowsReleasesTheMutex) {
    LocalMutex mutex;
    DogpileLock<std::string> lock(
        mutex, []() -> ValueAndCreated<std::string> { throw std::runtime_error("boom"); },
        [] { return std::optional<ValueAndCreated<std::string>>(); });
    EXPECT_THROW(lock.get(), std::runtime_error);
    EXPECT_EQ(mutex.locked(), false);
}

TEST(DogpileLock, WaitingWithoutAValueHonoursLockTimeout) {
    LocalMutex mutex;
    ASSERT_TRUE(mutex.try_lock());  // somebody else is creating
    DogpileLockOptions options;
    options.lock_timeout = 0ms;
    int created = 0;
    DogpileLock<std::string> lock(
        mutex,
        [&] {
            return ++created, ValueAndCreated<std::string>{"x", dogpile::precise_now()};
        },
        [] { return std::optional<ValueAndCreated<std::string>>(); }, options);
    EXPECT_THROW(lock.get(), dogpile::LockTimeout);
    EXPECT_EQ(created, 0);
    mutex.unlock();
}

TEST(DogpileLock, RejectsBadConfiguration) {
    LocalMutex mutex;
    auto creator = [] { return ValueAndCreated<std::string>{"x", dogpile::precise_now()}; };
    auto getter = [] { return std::optional<ValueAndCreated<std::string>>(); };
    EXPECT_THROW(DogpileLock<std::string>(mutex, nullptr, getter), dogpile::ConfigurationError);
    EXPECT_THROW(DogpileLock<std::string>(mutex, creator, nullptr), dogpile::ConfigurationError);
    DogpileLockOptions negative;
    negative.expiration_time = -std::chrono::seconds(1);
    EXPECT_THROW(DogpileLock<std::string>(mutex, creator, getter, negative), dogpile::ConfigurationError);
}

// --------------------------------------------------------- lock introspection

TEST(LocalMutex, IsReleasableFromAnotherThreadAndReportsLocked) {
    LocalMutex mutex;
    EXPECT_EQ(mutex.locked(), false);
    ASSERT_TRUE(mutex.try_lock());
    EXPECT_EQ(mutex.locked(), true);
    EXPECT_FALSE(mutex.try_lock());
    EXPECT_FALSE(mutex.lock(0ms));
    std::thread([&] { mutex.unlock(); }).join();
    EXPECT_EQ(mutex.locked(), false);
    EXPECT_TRUE(mutex.lock(std::nullopt));
    mutex.unlock();
}

TEST(KeyIsLocked, SeesTheInProcessLockWhileACreatorRuns) {
    dogpile::Region<std::string> region(std::make_shared<dogpile::MemoryBackend<std::string>>());
    EXPECT_FALSE(region.key_is_locked("k"));
    bool locked_inside = false;
    bool other_key_locked = true;
    region.get_or_create("k", [&] {
        locked_inside = region.key_is_locked("k");
        other_key_locked = region.key_is_locked("other");
        return std::string("v");
    });
    EXPECT_TRUE(locked_inside);
    EXPECT_FALSE(other_key_locked);
    EXPECT_FALSE(region.key_is_locked("k"));
}

// A backend whose distributed mutex is one LocalMutex per key, standing in
// for a lock another process holds.
class SharedMutexBackend final : public dogpile::ProxyBackend<std::string> {
public:
    using ProxyBackend::ProxyBackend;
    std::unique_ptr<dogpile::Mutex> get_mutex(const std::string&) override { return std::make_unique<View>(shared); }
    LocalMutex shared;

private:
    // Another handle on `shared`, as a RedisLock is a handle on its key.
    struct View final : dogpile::Mutex {
        explicit View(LocalMutex& m) : m(m) {}
        bool try_lock() override { return m.try_lock(); }
        bool lock(std::optional<std::chrono::milliseconds> t) override { return m.lock(t); }
        void unlock() override { m.unlock(); }
        std::optional<bool> locked() const override { return m.locked(); }
        LocalMutex& m;
    };
};

TEST(KeyIsLocked, AsksTheBackendsDistributedMutexWhenItCanTell) {
    auto backend = std::make_shared<SharedMutexBackend>(std::make_shared<dogpile::MemoryBackend<std::string>>());
    dogpile::Region<std::string> region(backend);
    EXPECT_FALSE(region.key_is_locked("k"));
    ASSERT_TRUE(backend->shared.try_lock());  // "another process" creates
    EXPECT_TRUE(region.key_is_locked("k"));
    EXPECT_EQ(region.lock_registry_size(), 0u);
    backend->shared.unlock();
    EXPECT_FALSE(region.key_is_locked("k"));
}

}  // namespace
