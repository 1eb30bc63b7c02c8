#pragma once
// The per-key mutex a backend may supply to coordinate creators across
// processes (dogpile.cache's backend.get_mutex(key)). The in-process lock is
// always taken first, so only one thread per process ever contends here.
// The standalone dogpile lock (dogpile_lock.hpp) takes one too.
//
// Batches: try_lock_all() / unlock_all() take and release several mutexes at
// once (a multi-key region call). Mutexes that name the same batch_group()
// are handed to one of them together, so a Redis lock does the whole group in
// one round trip; any other mutex is tried or released on its own, so custom
// mutexes work unchanged.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <vector>

namespace dogpile {

/// The per-key mutex a backend may supply to coordinate creators across processes (dogpile.cache's
/// backend.get_mutex(key)). The in-process lock is always taken first, so only one thread per
/// process contends here.
class Mutex {
public:
    virtual ~Mutex() = default;

    /// Non-blocking attempt. True when this object now holds the lock.
    virtual bool try_lock() = 0;

    /// Waits at most `timeout` (std::nullopt: no limit). Implementations must not
    /// busy-spin. True when this object now holds the lock.
    virtual bool lock(std::optional<std::chrono::milliseconds> timeout) = 0;

    /// Releases a lock this object holds. Must be callable from any thread (the
    /// async creation runner releases on its own thread) and must never release
    /// a lock that has meanwhile been taken by somebody else.
    virtual void unlock() = 0;

    /// Whether anybody (this object or another, in any process) holds the lock
    /// right now, for introspection only: the answer may be stale by the time
    /// it is read. std::nullopt when this mutex cannot tell.
    virtual std::optional<bool> locked() const { return std::nullopt; }

    /// Mutexes returning the same non-null pointer here can be taken and
    /// released together by any one of them (try_lock_batch, unlock_batch).
    virtual const void* batch_group() const noexcept { return nullptr; }

    /// What one try_lock() of a batch did.
    struct TryResult {
        bool taken = false;        ///< whether this mutex is now held
        std::exception_ptr error;  ///< what try_lock() would have thrown; not taken then
    };

    /// Tries `group` (this mutex's batch_group() members, this one among them),
    /// one result per mutex, in order. Throws when the whole batch failed
    /// without telling which were taken; the implementation then makes sure
    /// none stays held.
    virtual std::vector<TryResult> try_lock_batch(const std::vector<Mutex*>& group) {
        std::vector<TryResult> results(group.size());
        for (std::size_t i = 0; i < group.size(); ++i) {
            try {
                results[i].taken = group[i]->try_lock();
            } catch (...) {
                results[i].error = std::current_exception();
            }
        }
        return results;
    }

    /// Releases every member of `group` (which this object holds). All count
    /// as released even when it throws; the first error propagates.
    virtual void unlock_batch(const std::vector<Mutex*>& group) {
        std::exception_ptr first_error;
        for (Mutex* m : group) {
            try {
                m->unlock();
            } catch (...) {
                if (!first_error) first_error = std::current_exception();
            }
        }
        if (first_error) std::rethrow_exception(first_error);
    }
};

namespace details {

// Positions of `mutexes` split by batch_group(), first appearance first;
// a mutex without a group is a group of its own.
inline std::vector<std::vector<std::size_t>> batch_groups(const std::vector<Mutex*>& mutexes) {
    std::vector<std::vector<std::size_t>> groups;
    std::vector<const void*> names;
    for (std::size_t i = 0; i < mutexes.size(); ++i) {
        const void* name = mutexes[i]->batch_group();
        std::size_t g = 0;
        while (name != nullptr && g < names.size() && names[g] != name) ++g;
        if (name == nullptr || g == names.size()) {
            names.push_back(name);
            groups.emplace_back();
            g = groups.size() - 1;
        }
        groups[g].push_back(i);
    }
    return groups;
}

inline std::vector<Mutex*> batch_members(const std::vector<Mutex*>& mutexes,
                                         const std::vector<std::size_t>& positions) {
    std::vector<Mutex*> out;
    out.reserve(positions.size());
    for (std::size_t i : positions) out.push_back(mutexes[i]);
    return out;
}

}  // namespace details

/// Tries every mutex without waiting, one batch per batch_group(); results in
/// the order of `mutexes`. A group whose batch throws reports that error for
/// each of its members (none of them is held).
inline std::vector<Mutex::TryResult> try_lock_all(const std::vector<Mutex*>& mutexes) {
    std::vector<Mutex::TryResult> results(mutexes.size());
    for (const auto& positions : details::batch_groups(mutexes)) {
        const std::vector<Mutex*> group = details::batch_members(mutexes, positions);
        std::vector<Mutex::TryResult> group_results;
        try {
            group_results = group.front()->try_lock_batch(group);
        } catch (...) {
            group_results.assign(group.size(), Mutex::TryResult{false, std::current_exception()});
        }
        for (std::size_t j = 0; j < positions.size() && j < group_results.size(); ++j) {
            results[positions[j]] = std::move(group_results[j]);
        }
    }
    return results;
}

/// Releases every mutex (all held by the caller), one batch per batch_group().
/// All count as released even when it throws; the first error propagates.
inline void unlock_all(const std::vector<Mutex*>& mutexes) {
    std::exception_ptr first_error;
    for (const auto& positions : details::batch_groups(mutexes)) {
        const std::vector<Mutex*> group = details::batch_members(mutexes, positions);
        try {
            group.front()->unlock_batch(group);
        } catch (...) {
            if (!first_error) first_error = std::current_exception();
        }
    }
    if (first_error) std::rethrow_exception(first_error);
}

/// An in-process Mutex for the standalone dogpile lock (dogpile_lock.hpp):
/// one per key, shared by the threads that may create that key's value.
/// Unlike std::mutex it may be released from another thread (an async
/// creator's), and it answers locked(). It cannot expire, so unlock() is only
/// ever called by whoever holds it (as DogpileLock does).
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
