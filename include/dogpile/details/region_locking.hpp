#pragma once
// RegionLocking: a key's lock for the region's creation paths, the in-process
// lock first, then the backend's distributed mutex if it has one, both within
// the one lock_timeout. A backend whose lock_requirement() is none gets no
// lock at all: every caller is its own creator.

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

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
        if (backend->lock_requirement() == LockRequirement::none) return Lock();
        using Clock = std::chrono::steady_clock;
        const auto started = Clock::now();
        Contention contention = Contention::none;
        auto local = how == Acquire::try_only ? registry.try_lock(key)
                                              : registry.lock(key, options.lock_timeout, &contention);
        if (!local) {
            if (how == Acquire::blocking) lock_timeouts.add();
            return std::nullopt;
        }
        std::unique_ptr<Mutex> distributed;
        try {
            distributed = backend->get_mutex(key);
        } catch (...) {
            on_backend_error("get_mutex");  // degrade: the in-process lock still holds
        }
        if (distributed) {
            bool locked = false;
            try {
                locked = distributed->try_lock();
                if (!locked && how == Acquire::blocking) {
                    contention = Contention::waited;
                    std::optional<std::chrono::milliseconds> remaining;
                    if (options.lock_timeout) {
                        const auto spent =
                            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
                        remaining = std::max(std::chrono::milliseconds(0), *options.lock_timeout - spent);
                    }
                    locked = distributed->lock(remaining);
                }
            } catch (...) {
                on_backend_error("lock");
                distributed.reset();  // degrade: carry on under the in-process lock
                locked = true;
            }
            if (!locked) {
                if (how == Acquire::blocking) lock_timeouts.add();
                return std::nullopt;
            }
        }
        if (contention == Contention::waited) lock_waits.add();
        if (!distributed) return Lock(std::move(*local));
        // A release that fails leaves the lock to expire (after its TTL other
        // creators wait for nothing): worth counting and reporting.
        return Lock(std::move(*local), std::move(distributed), [this] { count_and_report("unlock"); });
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
