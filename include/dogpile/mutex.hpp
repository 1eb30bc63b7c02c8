#pragma once
// The per-key mutex a backend may supply to coordinate creators across
// processes (dogpile.cache's backend.get_mutex(key)). The in-process lock is
// always taken first, so only one thread per process ever contends here.
// The standalone dogpile lock (dogpile_lock.hpp) takes one too.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace dogpile {

class Mutex {
public:
    virtual ~Mutex() = default;

    // Non-blocking attempt. True when this object now holds the lock.
    virtual bool try_lock() = 0;

    // Waits at most `timeout` (std::nullopt: no limit). Implementations must not
    // busy-spin. True when this object now holds the lock.
    virtual bool lock(std::optional<std::chrono::milliseconds> timeout) = 0;

    // Releases a lock this object holds. Must be callable from any thread (the
    // async creation runner releases on its own thread) and must never release
    // a lock that has meanwhile been taken by somebody else.
    virtual void unlock() = 0;

    // Whether anybody (this object or another, in any process) holds the lock
    // right now, for introspection only: the answer may be stale by the time
    // it is read. std::nullopt when this mutex cannot tell.
    virtual std::optional<bool> locked() const { return std::nullopt; }
};

// An in-process Mutex for the standalone dogpile lock (dogpile_lock.hpp):
// one per key, shared by the threads that may create that key's value.
// Unlike std::mutex it may be released from another thread (an async
// creator's), and it answers locked(). It cannot expire, so unlock() is only
// ever called by whoever holds it (as DogpileLock does).
class LocalMutex final : public Mutex {
public:
    bool try_lock() override {
        std::lock_guard<std::mutex> lk(mutex_);
        if (held_) return false;
        held_ = true;
        return true;
    }

    bool lock(std::optional<std::chrono::milliseconds> timeout) override {
        std::unique_lock<std::mutex> lk(mutex_);
        auto is_free = [this] { return !held_; };
        if (!timeout) {
            released_.wait(lk, is_free);
        } else if (!released_.wait_for(lk, *timeout, is_free)) {
            return false;
        }
        held_ = true;
        return true;
    }

    void unlock() override {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            held_ = false;
        }
        released_.notify_one();
    }

    std::optional<bool> locked() const override {
        std::lock_guard<std::mutex> lk(mutex_);
        return held_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable released_;
    bool held_ = false;
};

}  // namespace dogpile
