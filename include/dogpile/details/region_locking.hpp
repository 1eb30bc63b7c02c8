#pragma once
// RegionLocking: a key's lock for the region's creation paths, the in-process
// lock first, then the backend's distributed mutex if it has one, both within
// the one lock_timeout. A backend whose lock_requirement() is none gets no
// lock at all: every caller is its own creator. A multi-key call takes its
// keys' distributed mutexes in batches (acquire_all, release_all).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../errors.hpp"
#include "../lock.hpp"
#include "../mutex.hpp"
#include "region_state.hpp"

namespace dogpile::details {

enum class Acquire { try_only, blocking };

template <class Value, class Key, class Hash>
struct RegionLocking : RegionState<Value, Key, Hash> {
    using State = RegionState<Value, Key, Hash>;
    using State::State;
    using Lock = KeyLock<Key, Hash>;
    using State::backend;
    using State::count_and_report;
    using State::lock_timeouts;
    using State::lock_waits;
    using State::on_backend_error;
    using State::options;
    using State::registry;

    // The key's lock: in-process first, then the backend's distributed mutex
    // if it has one, both within the one lock_timeout.
    std::optional<Lock> acquire(const Key& key, Acquire how) {
        return std::move(acquire_all({KeyRequest{&key, how}}).front());
    }

    // The key's lock for a caller that re-reads the value under it: when the
    // caller had to wait for the in-process lock and the backend has a
    // distributed mutex, `settled` re-reads first, and if it says the value is
    // there the caller keeps the in-process lock alone. The holder it waited
    // for has just created (or found) the value, so a stampede takes the
    // distributed lock once per process, not once per caller
    // (docs/architecture.md, "Lock wake-up").
    std::optional<Lock> acquire_unless_settled(const Key& key, const std::function<bool()>& settled) {
        return std::move(acquire_all({KeyRequest{&key, Acquire::blocking, &settled}}).front());
    }

    struct KeyRequest {
        const Key* key;
        Acquire how;
        const std::function<bool()>* settled = nullptr;
    };

    // The locks of several keys, in the order given (which must be the same
    // order for every caller: sorted), each as acquire() would take it, but
    // the distributed mutexes tried together (dogpile::try_lock_all: one round
    // trip for a Redis backend's locks).
    //
    // Deadlock freedom: all in-process locks are taken first, in order, so a
    // caller waiting for an in-process lock holds no distributed one. Before
    // waiting for the distributed lock of key k, a caller releases the ones
    // the batch gave it for keys after k (they are tried again after the
    // wait), so whoever waits for a distributed lock holds only distributed
    // locks of smaller keys: waits go up the key order and cannot form a cycle.
    std::vector<std::optional<Lock>> acquire_all(const std::vector<KeyRequest>& requests) {
        std::vector<std::optional<Lock>> locks(requests.size());
        if (backend->lock_requirement() == LockRequirement::none) {
            for (auto& lock : locks) lock.emplace();
            return locks;
        }
        std::vector<Taking> taking(requests.size());
        std::vector<std::size_t> remote;  // positions that still need their distributed mutex
        for (std::size_t i = 0; i < requests.size(); ++i) {
            Taking& t = taking[i];
            t.started = Clock::now();
            auto local = requests[i].how == Acquire::try_only
                             ? registry.try_lock(*requests[i].key)
                             : registry.lock(*requests[i].key, options.lock_timeout, &t.contention);
            if (!local) {
                if (requests[i].how == Acquire::blocking) lock_timeouts.add();
                continue;
            }
            t.local = std::move(*local);
            try {
                t.distributed = backend->get_mutex(*requests[i].key);
            } catch (...) {
                on_backend_error("get_mutex");  // degrade: the in-process lock still holds
            }
            // Only where a distributed lock is to be saved: without one the
            // caller's own re-read under the lock is the only read.
            if (t.distributed && t.contention == Contention::waited && requests[i].settled &&
                (*requests[i].settled)()) {
                t.distributed.reset();
            }
            if (t.distributed) {
                remote.push_back(i);
            } else {
                locks[i] = finish(t, Outcome::taken, requests[i].how);
            }
        }
        std::size_t next = 0;
        while (next < remote.size()) {
            std::vector<Mutex*> mutexes;
            for (std::size_t j = next; j < remote.size(); ++j) mutexes.push_back(taking[remote[j]].distributed.get());
            std::vector<Mutex::TryResult> tried = dogpile::try_lock_all(mutexes);
            std::size_t wait_at = tried.size();
            for (std::size_t j = 0; j < tried.size(); ++j) {
                if (!tried[j].taken && !tried[j].error && requests[remote[next + j]].how == Acquire::blocking) {
                    wait_at = j;
                    break;
                }
            }
            release_after(mutexes, tried, wait_at);
            for (std::size_t j = 0; j < wait_at; ++j) {
                const std::size_t i = remote[next + j];
                if (tried[j].error) {
                    try {
                        std::rethrow_exception(tried[j].error);
                    } catch (...) {
                        on_backend_error("lock");  // degrade: carry on under the in-process lock
                    }
                }
                locks[i] = finish(taking[i], outcome_of(tried[j]), requests[i].how);
            }
            if (wait_at == tried.size()) break;
            const std::size_t i = remote[next + wait_at];
            locks[i] = finish(taking[i], wait_for(taking[i]), requests[i].how);
            next += wait_at + 1;
        }
        return locks;
    }

    // Releases the distributed mutexes of `locks` together (one round trip for
    // a Redis backend's), then the in-process locks.
    void release_all(const std::vector<Lock*>& locks) noexcept {
        std::vector<std::unique_ptr<Mutex>> distributed;
        for (Lock* lock : locks) {
            if (auto mutex = lock->take_distributed()) distributed.push_back(std::move(mutex));
        }
        std::vector<Mutex*> mutexes;
        for (const auto& mutex : distributed) mutexes.push_back(mutex.get());
        try {
            dogpile::unlock_all(mutexes);
        } catch (...) {
            // The distributed locks expire by themselves; the local ones must still go.
            count_and_report("unlock");
        }
        distributed.clear();
        for (Lock* lock : locks) lock->release();
    }

    // The in-process lock, then the backend's distributed mutex where it can tell.
    bool is_locked(const Key& key) const {
        if (registry.is_held(key)) return true;
        std::unique_ptr<Mutex> distributed;
        try {
            distributed = backend->get_mutex(key);
            return distributed && distributed->locked().value_or(false);
        } catch (...) {
            on_backend_error("locked");
            return false;
        }
    }

private:
    using Clock = std::chrono::steady_clock;

    struct Taking {
        typename Lock::LocalGuard local;
        std::unique_ptr<Mutex> distributed;
        Clock::time_point started;
        Contention contention = Contention::none;
    };

    enum class Outcome { taken, busy, failed };

    static Outcome outcome_of(const Mutex::TryResult& tried) {
        if (tried.error) return Outcome::failed;
        return tried.taken ? Outcome::taken : Outcome::busy;
    }

    // The batch took these mutexes after `wait_at`, where the caller is about
    // to wait: they go back (see acquire_all) and are tried again later.
    void release_after(const std::vector<Mutex*>& mutexes, const std::vector<Mutex::TryResult>& tried,
                       std::size_t wait_at) {
        std::vector<Mutex*> give_back;
        for (std::size_t j = wait_at + 1; j < tried.size(); ++j) {
            if (tried[j].taken) give_back.push_back(mutexes[j]);
        }
        try {
            dogpile::unlock_all(give_back);
        } catch (...) {
            count_and_report("unlock");
        }
    }

    // The distributed mutex was busy: wait for it within what is left of lock_timeout.
    Outcome wait_for(Taking& t) {
        t.contention = Contention::waited;
        std::optional<std::chrono::milliseconds> remaining;
        if (options.lock_timeout) {
            const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t.started);
            remaining = std::max(std::chrono::milliseconds(0), *options.lock_timeout - spent);
        }
        try {
            return t.distributed->lock(remaining) ? Outcome::taken : Outcome::busy;
        } catch (...) {
            on_backend_error("lock");
            return Outcome::failed;
        }
    }

    // A failed distributed mutex degrades to the in-process lock; a busy one
    // gives the key up (a timeout when the caller would have waited).
    std::optional<Lock> finish(Taking& t, Outcome outcome, Acquire how) {
        if (outcome == Outcome::busy) {
            if (how == Acquire::blocking) lock_timeouts.add();
            t.distributed.reset();
            t.local.unlock();
            return std::nullopt;
        }
        if (outcome == Outcome::failed) t.distributed.reset();
        if (t.contention == Contention::waited) lock_waits.add();
        if (!t.distributed) return Lock(std::move(t.local));
        // A release that fails leaves the lock to expire (after its TTL other
        // creators wait for nothing): worth counting and reporting.
        return Lock(std::move(t.local), std::move(t.distributed), [this] { count_and_report("unlock"); });
    }

public:
    [[noreturn]] void throw_lock_timeout() const {
        if (options.lock_timeout) {
            throw LockTimeout("timed out after " + std::to_string(options.lock_timeout->count()) +
                              " ms waiting for another caller to create the value");
        }
        // No region lock_timeout: only a distributed lock gives up, after its own wait limit.
        throw LockTimeout("gave up waiting for another process to create the value: the distributed lock's "
                          "wait limit passed (redis::LockOptions::max_wait)");
    }
};

}  // namespace dogpile::details
