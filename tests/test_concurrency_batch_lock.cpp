// Batched distributed mutexes in a region's multi-key calls, without Redis:
// two regions over one store stand for two processes, sharing a lock table
// whose mutexes batch (dogpile::Mutex::batch_group). Overlapping batches in
// opposite orders create each key exactly once and never deadlock; the
// region tries the table's mutexes in one batch per call when nobody holds
// them; a custom mutex without a batch group still works key by key.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/proxy.hpp>
#include <dogpile/region.hpp>

#include "support/creation_log.hpp"
#include "support/latch.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::test::CreationLog;
using dogpile::test::Latch;
using dogpile::test::numbered;
using Keys = std::vector<std::string>;
using StringRegion = dogpile::Region<std::string>;

// The "server" of the distributed locks: which keys are held, and how many
// batch round trips were made.
class LockTable {
public:
    bool try_take(const std::string& key) {
        std::lock_guard<std::mutex> lk(mutex_);
        return held_.insert(key).second;
    }
    bool take(const std::string& key, std::optional<std::chrono::milliseconds> timeout) {
        std::unique_lock<std::mutex> lk(mutex_);
        auto is_free = [&] { return held_.count(key) == 0; };
        if (!timeout) {
            released_.wait(lk, is_free);
        } else if (!released_.wait_for(lk, *timeout, is_free)) {
            return false;
        }
        held_.insert(key);
        return true;
    }
    void give_back(const std::string& key) {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            held_.erase(key);
        }
        released_.notify_all();
    }
    void count_batch(bool release) {
        std::lock_guard<std::mutex> lk(mutex_);
        ++(release ? release_batches_ : take_batches_);
    }
    int take_batches() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return take_batches_;
    }
    int release_batches() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return release_batches_;
    }
    std::size_t held() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return held_.size();
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable released_;
    std::set<std::string> held_;
    int take_batches_ = 0;
    int release_batches_ = 0;
};

class TableMutex final : public dogpile::Mutex {
public:
    TableMutex(LockTable& table, std::string key, bool batches)
        : table_(table), key_(std::move(key)), batches_(batches) {}
    ~TableMutex() override { unlock(); }

    bool try_lock() override { return held_ = table_.try_take(key_); }
    bool lock(std::optional<std::chrono::milliseconds> timeout) override { return held_ = table_.take(key_, timeout); }
    void unlock() override {
        if (held_) table_.give_back(key_);
        held_ = false;
    }

    const void* batch_group() const noexcept override { return batches_ ? &table_ : nullptr; }
    std::vector<TryResult> try_lock_batch(const std::vector<dogpile::Mutex*>& group) override {
        table_.count_batch(false);
        return dogpile::Mutex::try_lock_batch(group);
    }
    void unlock_batch(const std::vector<dogpile::Mutex*>& group) override {
        table_.count_batch(true);
        dogpile::Mutex::unlock_batch(group);
    }

private:
    LockTable& table_;
    std::string key_;
    bool batches_;
    bool held_ = false;
};

class TableLockedBackend final : public dogpile::ProxyBackend<std::string> {
public:
    TableLockedBackend(std::shared_ptr<dogpile::Backend<std::string>> store, LockTable& table, bool batches)
        : dogpile::ProxyBackend<std::string>(std::move(store)), table_(table), batches_(batches) {}
    std::unique_ptr<dogpile::Mutex> get_mutex(const std::string& key) override {
        return std::make_unique<TableMutex>(table_, key, batches_);
    }

private:
    LockTable& table_;
    bool batches_;
};

void overlapping_batches_create_each_key_once(bool batches) {
    auto store = std::make_shared<dogpile::MemoryBackend<std::string>>();
    LockTable table;
    StringRegion region_a(std::make_shared<TableLockedBackend>(store, table, batches));
    StringRegion region_b(std::make_shared<TableLockedBackend>(store, table, batches));
    CreationLog log;
    constexpr int rounds = 60;
    std::atomic<int> wrong{0};
    auto run = [&](StringRegion& region, int variant) {
        for (int r = 0; r < rounds; ++r) {
            const std::string stem = "r" + std::to_string(r) + ":";
            Keys keys = numbered(stem, 3 * variant, 3 * variant + 10);
            if (variant % 2 == 1) std::reverse(keys.begin(), keys.end());
            const Keys got = region.get_or_create_multi(keys, [&](const Keys& missing) { return log(missing); });
            for (std::size_t i = 0; i < keys.size(); ++i) {
                if (got[i] != "v-" + keys[i]) wrong.fetch_add(1);
            }
        }
    };
    Latch start(1);
    std::vector<std::future<void>> workers;
    for (int variant = 0; variant < 4; ++variant) {
        StringRegion& region = variant < 2 ? region_a : region_b;
        workers.push_back(std::async(std::launch::async, [&, variant] {
            start.wait();
            run(region, variant);
        }));
    }
    start.count_down();
    for (auto& w : workers) ASSERT_EQ(w.wait_for(120s), std::future_status::ready) << "deadlock";
    for (auto& w : workers) w.get();

    EXPECT_EQ(wrong.load(), 0);
    const auto per_key = log.per_key();
    EXPECT_EQ(per_key.size(), static_cast<std::size_t>(rounds * 19));
    for (const auto& [key, count] : per_key) EXPECT_EQ(count, 1) << key;
    EXPECT_EQ(table.held(), 0u);
}

TEST(ConcurrencyBatchLock, OverlappingBatchesInOppositeOrdersCreateEachKeyOnce) {
    overlapping_batches_create_each_key_once(true);
}

TEST(ConcurrencyBatchLock, MutexesWithoutABatchGroupWorkKeyByKey) { overlapping_batches_create_each_key_once(false); }

TEST(ConcurrencyBatchLock, AnUncontendedCallTriesAndReleasesItsMutexesInOneBatchEach) {
    auto store = std::make_shared<dogpile::MemoryBackend<std::string>>();
    LockTable table;
    StringRegion region(std::make_shared<TableLockedBackend>(store, table, true));
    CreationLog log;
    region.get_or_create_multi(numbered("k", 0, 20), [&](const Keys& missing) { return log(missing); });
    EXPECT_EQ(table.take_batches(), 1);
    EXPECT_EQ(table.release_batches(), 1);
    EXPECT_EQ(table.held(), 0u);
}

}  // namespace
