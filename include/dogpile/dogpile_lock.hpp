#pragma once
// DogpileLock<Value>: the dogpile lock without a region (dogpile.core's Lock),
// for users who keep values in their own storage. Given a key's Mutex, a
// getter that reads the stored value with its creation time and a creator
// that makes (and stores) a new one, get() returns:
//
// * the stored value while it is fresh;
// * no value yet: one caller runs the creator, the others wait for the
//   mutex, read again and return what it created;
// * an expired value: one caller regenerates (or hands the held mutex to
//   async_creator and returns the old value), the others return the expired
//   value without waiting.
//
//   dogpile::LocalMutex mutex;  // one per key
//   dogpile::DogpileLock<std::string> lock(
//       mutex,
//       [&] { return store.put(compute()); },  // -> ValueAndCreated<std::string>
//       [&] { return store.find(); },          // -> std::optional<ValueAndCreated<...>>
//       {std::chrono::minutes(5)});
//   std::string value = lock.get();
//
// The getter reports "no value" by returning std::nullopt or, as code ported
// from dogpile.core does, by throwing NeedRegeneration.
//
// Thread safety: one DogpileLock per call (it is cheap), or one shared by
// every thread: get() keeps no state between calls. The mutex must outlive
// the lock and any async creation it was handed to.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "clock.hpp"
#include "errors.hpp"
#include "mutex.hpp"

namespace dogpile {

/// dogpile.core's NeedRegenerationException: thrown by a getter that has no value.
class NeedRegeneration : public Error {
public:
    NeedRegeneration() : Error("the value needs to be (re)generated") {}
};

/// A stored value with its creation time: what DogpileLock's creator and getter return.
template <class Value>
struct ValueAndCreated {
    Value value;           ///< the value
    TimePoint created_at;  ///< when it was created (wall clock)
};

/// Ownership of a held Mutex: unlocks it when destroyed, from any thread.
class HeldMutex {
public:
    /// Takes over `mutex`, which the caller holds.
    explicit HeldMutex(Mutex& mutex) noexcept : mutex_(&mutex) {}
    /// Takes over the mutex `other` held; `other` then holds none.
    HeldMutex(HeldMutex&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    /// Releases the mutex held, then takes over `other`'s.
    HeldMutex& operator=(HeldMutex&& other) noexcept {
        if (this != &other) {
            release();
            mutex_ = std::exchange(other.mutex_, nullptr);
        }
        return *this;
    }
    HeldMutex(const HeldMutex&) = delete;
    HeldMutex& operator=(const HeldMutex&) = delete;
    ~HeldMutex() { release(); }

    /// A failing unlock is swallowed: a distributed mutex expires by itself.
    void release() noexcept {
        if (Mutex* mutex = std::exchange(mutex_, nullptr)) {
            try {
                mutex->unlock();
            } catch (...) {
            }
        }
    }

private:
    Mutex* mutex_;
};

/// How DogpileLock judges freshness and waits.
struct DogpileLockOptions {
    /// How old a value may be before it is regenerated. std::nullopt: never
    /// expires (only a missing value is created).
    std::optional<Duration> expiration_time{};
    /// How long a caller without a value waits for the creator; std::nullopt:
    /// no limit (a distributed mutex applies its own). Past it: LockTimeout.
    std::optional<std::chrono::milliseconds> lock_timeout{};
    /// Tests inject their own wall clock.
    std::function<TimePoint()> clock{};
};

/// The dogpile lock without a region (dogpile.core's Lock), for values kept in the user's own
/// storage: given a key's Mutex, a getter and a creator, get() returns the fresh stored value, or
/// lets one caller create it while the others wait (no value) or return the expired value. get()
/// keeps no state between calls, so one lock may be shared by every thread; the mutex must outlive
/// it and any async creation it was handed to.
template <class Value>
class DogpileLock {
public:
    /// Makes a new value, stores it, and returns it with its creation time.
    using Creator = std::function<ValueAndCreated<Value>()>;
    /// Reads the stored value; std::nullopt (or throwing NeedRegeneration) when there is none.
    using Getter = std::function<std::optional<ValueAndCreated<Value>>()>;
    /// Regenerates an expired value elsewhere (a thread pool); the value is
    /// stored by whatever it runs. The HeldMutex releases the key when it is
    /// destroyed, so a runner that drops the work never leaves the key locked.
    using AsyncCreator = std::function<void(HeldMutex)>;

    /// Throws ConfigurationError for an empty creator or getter, or a negative expiration_time or
    /// lock_timeout. Without `async_creator`, an expired value is regenerated inline by the caller
    /// that takes the mutex.
    DogpileLock(Mutex& mutex, Creator creator, Getter value_and_created, DogpileLockOptions options = {},
                AsyncCreator async_creator = {})
        : mutex_(mutex),
          creator_(std::move(creator)),
          value_and_created_(std::move(value_and_created)),
          options_(std::move(options)),
          async_creator_(std::move(async_creator)) {
        if (!creator_) throw ConfigurationError("DogpileLock: the creator must not be empty");
        if (!value_and_created_)
            throw ConfigurationError("DogpileLock: the value_and_created getter must not be empty");
        if (options_.expiration_time && options_.expiration_time->count() < 0) {
            throw ConfigurationError("DogpileLock: expiration_time must not be negative");
        }
        if (options_.lock_timeout && options_.lock_timeout->count() < 0) {
            throw ConfigurationError("DogpileLock: lock_timeout must not be negative");
        }
    }

    /// The stored value while it is fresh; else as described for the class. Throws LockTimeout when
    /// a caller without a value waits past lock_timeout; the creator's and getter's errors
    /// propagate.
    Value get() const {
        auto current = read();
        if (!is_expired(current)) return std::move(current->value);

        const bool had_value = current.has_value();
        if (had_value) {
            // Somebody is regenerating: the expired value will do meanwhile.
            if (!mutex_.try_lock()) return std::move(current->value);
        } else if (!mutex_.lock(options_.lock_timeout)) {
            throw LockTimeout("DogpileLock: gave up waiting for another caller to create the value");
        }
        HeldMutex held(mutex_);

        if (!had_value) {
            // Whoever held the mutex may have created the value meanwhile.
            current = read();
            if (current && !is_expired(current)) return std::move(current->value);
        }
        if (current && async_creator_) {
            async_creator_(std::move(held));
            return std::move(current->value);
        }
        return creator_().value;
    }

private:
    std::optional<ValueAndCreated<Value>> read() const {
        try {
            return value_and_created_();
        } catch (const NeedRegeneration&) {
            return std::nullopt;
        }
    }

    bool is_expired(const std::optional<ValueAndCreated<Value>>& current) const {
        if (!current) return true;
        if (!options_.expiration_time) return false;
        return now(options_.clock, ClockPolicy::precise) - current->created_at > *options_.expiration_time;
    }

    Mutex& mutex_;
    Creator creator_;
    Getter value_and_created_;
    DogpileLockOptions options_;
    AsyncCreator async_creator_;
};

}  // namespace dogpile
