#pragma once
// The dogpile lock: the per-key mutex registry and the lock handle the
// region's get_or_create algorithm holds while one caller creates a value.
//
// MutexRegistry hands out one logical mutex per key. Entries exist only while
// somebody holds or waits for them, so a region that has seen a million
// distinct keys keeps no per-key state (size() returns to 0). Unlike
// std::mutex, a held key may be released from another thread, which is what
// lets an async creation runner finish the work and release the lock.

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "mutex.hpp"

namespace dogpile {

/// Whether acquiring a key's lock had to wait for another holder.
enum class Contention { none, waited };

/// The in-process lock of every key: one mutex per key, created on first use and dropped when
/// nobody holds or waits for it. Thread-safe.
template <class Key, class Hash = std::hash<Key>>
class MutexRegistry {
    struct Entry {
        bool held = false;
        std::size_t users = 0;  // holder + waiters; the entry dies at 0
        std::condition_variable released;
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<Key, Entry, Hash> entries;
    };

public:
    /// Exclusive ownership of one key's lock; movable, releases on destruction.
    class Guard {
    public:
        Guard() = default;
        /// Takes over `other`'s lock; `other` then holds none.
        Guard(Guard&& other) noexcept : shard_(std::exchange(other.shard_, nullptr)), key_(std::move(other.key_)) {}
        /// Releases the lock held, then takes over `other`'s.
        Guard& operator=(Guard&& other) noexcept {
            if (this != &other) {
                unlock();
                shard_ = std::exchange(other.shard_, nullptr);
                key_ = std::move(other.key_);
            }
            return *this;
        }
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
        ~Guard() { unlock(); }

        /// Whether this guard holds a lock.
        bool owns_lock() const noexcept { return shard_ != nullptr; }

        /// Releases the lock now (and wakes a waiter); nothing when none is held.
        void unlock() noexcept {
            if (!shard_) return;
            Shard* shard = std::exchange(shard_, nullptr);
            std::lock_guard<std::mutex> lk(shard->mutex);
            auto it = shard->entries.find(*key_);
            it->second.held = false;
            if (--it->second.users == 0) {
                shard->entries.erase(it);
            } else {
                it->second.released.notify_one();
            }
        }

    private:
        friend class MutexRegistry;
        Guard(Shard* shard, Key key) : shard_(shard), key_(std::move(key)) {}

        Shard* shard_ = nullptr;
        std::optional<Key> key_;
    };

    MutexRegistry() = default;
    MutexRegistry(const MutexRegistry&) = delete;
    MutexRegistry& operator=(const MutexRegistry&) = delete;

    /// Non-blocking: a Guard when the key was free, std::nullopt when it is held.
    std::optional<Guard> try_lock(const Key& key) {
        Shard& shard = shard_for(key);
        std::lock_guard<std::mutex> lk(shard.mutex);
        auto [it, inserted] = shard.entries.try_emplace(key);
        if (!inserted && it->second.held) return std::nullopt;
        it->second.held = true;
        ++it->second.users;
        return Guard(&shard, key);
    }

    /// Blocks until the key is free or `timeout` passes (std::nullopt: forever).
    std::optional<Guard> lock(const Key& key, std::optional<std::chrono::milliseconds> timeout,
                              Contention* contention = nullptr) {
        Shard& shard = shard_for(key);
        std::unique_lock<std::mutex> lk(shard.mutex);
        auto [it, inserted] = shard.entries.try_emplace(key);
        Entry& entry = it->second;  // node-based map: stays valid while users > 0
        ++entry.users;
        if (contention) *contention = entry.held ? Contention::waited : Contention::none;
        auto is_free = [&entry] { return !entry.held; };
        if (!timeout) {
            entry.released.wait(lk, is_free);
        } else if (!entry.released.wait_for(lk, *timeout, is_free)) {
            if (--entry.users == 0) shard.entries.erase(key);
            return std::nullopt;
        }
        entry.held = true;
        return Guard(&shard, key);
    }

    /// Callers blocked in lock() on `key` right now (the holder not counted).
    std::size_t waiters(const Key& key) const {
        Shard& shard = shard_for(key);
        std::lock_guard<std::mutex> lk(shard.mutex);
        auto it = shard.entries.find(key);
        if (it == shard.entries.end()) return 0;
        return it->second.users - (it->second.held ? 1 : 0);
    }

    /// Whether somebody holds `key` right now (stale as soon as it is returned).
    bool is_held(const Key& key) const {
        Shard& shard = shard_for(key);
        std::lock_guard<std::mutex> lk(shard.mutex);
        auto it = shard.entries.find(key);
        return it != shard.entries.end() && it->second.held;
    }

    /// Keys currently held or waited on.
    std::size_t size() const {
        std::size_t total = 0;
        for (auto& shard : shards_) {
            std::lock_guard<std::mutex> lk(shard.mutex);
            total += shard.entries.size();
        }
        return total;
    }

private:
    static constexpr std::size_t shard_count = 64;

    Shard& shard_for(const Key& key) const { return shards_[Hash{}(key) % shard_count]; }

    mutable std::array<Shard, shard_count> shards_;
};

/// What a region holds while it creates a key's value: the in-process lock,
/// plus the backend's distributed mutex when the backend supplies one.
/// Movable into an async creation task; releases both on destruction.
template <class Key, class Hash = std::hash<Key>>
class KeyLock {
public:
    using LocalGuard = typename MutexRegistry<Key, Hash>::Guard;  ///< the in-process lock

    KeyLock() = default;
    /// The in-process lock only (the backend offers no distributed mutex).
    explicit KeyLock(LocalGuard local) : local_(std::move(local)) {}
    /// `on_release_error` runs inside the catch block (so it can look at the
    /// current exception) when unlocking the distributed mutex throws.
    KeyLock(LocalGuard local, std::unique_ptr<Mutex> distributed, std::function<void()> on_release_error = {})
        : local_(std::move(local)),
          distributed_(std::move(distributed)),
          on_release_error_(std::move(on_release_error)) {}
    /// Takes over both locks; `other` then holds none.
    KeyLock(KeyLock&&) noexcept = default;
    /// Releases what is held, then takes over `other`'s locks.
    KeyLock& operator=(KeyLock&& other) noexcept {
        if (this != &other) {
            release();
            local_ = std::move(other.local_);
            distributed_ = std::move(other.distributed_);
            on_release_error_ = std::move(other.on_release_error_);
        }
        return *this;
    }
    ~KeyLock() { release(); }

    /// Distributed first: another process must not slip in between.
    void release() noexcept {
        if (distributed_) {
            try {
                distributed_->unlock();
            } catch (...) {
                // The distributed lock expires by itself; the local one must still go.
                if (on_release_error_) {
                    try {
                        on_release_error_();
                    } catch (...) {
                    }
                }
            }
            distributed_.reset();
        }
        local_.unlock();
    }

    /// The distributed mutex, still held, for a caller that releases several
    /// at once (dogpile::unlock_all) before the in-process locks; nullptr when none.
    std::unique_ptr<Mutex> take_distributed() noexcept { return std::move(distributed_); }

private:
    LocalGuard local_;
    std::unique_ptr<Mutex> distributed_;
    std::function<void()> on_release_error_;
};

}  // namespace dogpile
