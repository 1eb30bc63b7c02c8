#pragma once
// RedisLock: a dogpile::Mutex shared by every process that talks to one Redis,
// so that a burst of processes asking for one missing key runs its creator
// once, not once per process. A backend returns it from get_mutex(key).
//
//   acquire:  SET <prefix><resource> <token> NX PX <lock_timeout>
//   release:  if GET == token then DEL          (one Lua script, atomic)
//   extend:   if GET == token then PEXPIRE ttl  (one Lua script, atomic)
//
// * The token is 128 bits from the kernel's CSPRNG, fresh for every
//   acquisition. A holder that stalled past lock_timeout has lost the lock;
//   the token check keeps its late unlock() or extend() from touching the
//   lock somebody else took meanwhile.
// * A holder that dies leaves the key behind; Redis expires it after
//   lock_timeout and the next caller proceeds. lock_timeout is therefore both
//   "how long a crashed holder blocks everyone" and "how long a creator may
//   run before another process may start creating too": size it above the
//   slowest creation, or extend() from long creators.
// * lock(timeout) polls with SET NX, sleeping between attempts with
//   exponential backoff (retry_initial doubling up to retry_max) and jitter,
//   so waiters neither spin nor retry in lockstep. A released lock is noticed
//   within about retry_max.
// * Errors from Redis propagate as redis::Error (a Region counts them and
//   carries on under its in-process lock). A SET NX that timed out may still
//   have taken the lock; it then expires after lock_timeout.
//
// Thread safety: one owner at a time, as with any mutex; unlock() may run on
// another thread than lock() (a Region's async runner does that), given the
// usual happens-before of handing the object over. The object keeps its held
// state under an internal mutex, never across a round trip.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "../details/random.hpp"
#include "../errors.hpp"
#include "../mutex.hpp"
#include "client.hpp"
#include "command.hpp"
#include "errors.hpp"
#include "reply.hpp"
#include "script.hpp"

namespace dogpile::redis {

struct LockOptions {
    // Prepended to the resource name to form the lock key.
    std::string prefix = "dogpile-lock|";
    // The lock key's TTL: how long a holder keeps the lock without extend().
    std::chrono::milliseconds lock_timeout{30000};
    // First sleep between attempts in lock(timeout); doubles after each miss.
    std::chrono::milliseconds retry_initial{1};
    // Upper bound of that sleep: the worst delay between a release and a
    // waiter noticing it.
    std::chrono::milliseconds retry_max{50};

    // Throws ConfigurationError naming the bad field.
    void validate() const {
        if (lock_timeout.count() <= 0) {
            throw ConfigurationError("redis lock options: lock_timeout must be positive, got " +
                                     std::to_string(lock_timeout.count()) + " ms");
        }
        if (retry_initial.count() <= 0) {
            throw ConfigurationError("redis lock options: retry_initial must be positive, got " +
                                     std::to_string(retry_initial.count()) + " ms");
        }
        if (retry_max < retry_initial) {
            throw ConfigurationError("redis lock options: retry_max (" + std::to_string(retry_max.count()) +
                                     " ms) must not be below retry_initial (" +
                                     std::to_string(retry_initial.count()) + " ms)");
        }
    }
};

class RedisLock final : public dogpile::Mutex {
public:
    // The lock key is options.prefix + resource. Throws ConfigurationError for
    // a null client or invalid options. Talks to Redis only when locked.
    RedisLock(std::shared_ptr<Client> client, std::string resource, LockOptions options)
        : client_(std::move(client)), options_(std::move(options)) {
        if (!client_) throw ConfigurationError("RedisLock: the client is null");
        options_.validate();
        key_ = options_.prefix + resource;
    }

    RedisLock(const RedisLock&) = delete;
    RedisLock& operator=(const RedisLock&) = delete;

    // A lock dropped while held is released, best effort: a failed round trip
    // is swallowed (destructors must not throw) and the key then expires by
    // itself after lock_timeout.
    ~RedisLock() override {
        try {
            unlock();
        } catch (...) {
        }
    }

    // One SET NX round trip. Calling it while this object holds the lock is a
    // usage error (dogpile::Error): the lock is not recursive.
    bool try_lock() override {
        require_not_held("try_lock");
        return attempt();
    }

    // Retries until acquired or `timeout` has passed (std::nullopt: no limit).
    // A zero timeout makes exactly one attempt.
    bool lock(std::optional<std::chrono::milliseconds> timeout) override {
        using Clock = std::chrono::steady_clock;
        require_not_held("lock");
        std::optional<Clock::time_point> deadline;
        if (timeout) deadline = Clock::now() + std::max(*timeout, std::chrono::milliseconds(0));

        std::chrono::microseconds backoff = options_.retry_initial;
        const std::chrono::microseconds backoff_max = options_.retry_max;
        for (;;) {
            if (attempt()) return true;
            std::chrono::microseconds pause = jittered(backoff);
            if (deadline) {
                const auto now = Clock::now();
                if (now >= *deadline) return false;
                pause = std::min(pause, std::chrono::duration_cast<std::chrono::microseconds>(*deadline - now) +
                                            std::chrono::microseconds(1));
            }
            std::this_thread::sleep_for(pause);
            backoff = std::min(backoff * 2, backoff_max);
        }
    }

    // Releases the lock if this object still owns it in Redis; a no-op when it
    // is not held here, and harmless when it has expired meanwhile (another
    // holder's lock is left alone). The object counts as released even when
    // the round trip fails (then the key expires by itself).
    void unlock() override {
        std::string token;
        {
            std::lock_guard<std::mutex> lk(state_);
            if (!held_) return;
            held_ = false;
            token = token_;
        }
        client_->eval(release_script(), {std::string_view(key_)}, {std::string_view(token)});
    }

    // Resets the lock key's TTL to `ttl` while this object still owns it, for
    // creators that run longer than lock_timeout. False when the lock is not
    // held here or has expired (been lost): the caller no longer owns it, and
    // this object then counts as released.
    bool extend(std::chrono::milliseconds ttl) {
        if (ttl.count() <= 0) {
            throw ConfigurationError("RedisLock::extend: ttl must be positive, got " + std::to_string(ttl.count()) +
                                     " ms");
        }
        std::string token;
        {
            std::lock_guard<std::mutex> lk(state_);
            if (!held_) return false;
            token = token_;
        }
        const std::string ms = std::to_string(ttl.count());
        const Reply reply =
            client_->eval(extend_script(), {std::string_view(key_)}, {std::string_view(token), std::string_view(ms)});
        const bool extended = reply.as_integer() == 1;
        if (!extended) {
            std::lock_guard<std::mutex> lk(state_);
            if (token_ == token) held_ = false;
        }
        return extended;
    }

    // The token of the current (or last) acquisition; empty before the first.
    // For the owner's use, not to be read while another thread locks.
    const std::string& token() const noexcept { return token_; }

    // Whether this object believes it holds the lock (Redis may have expired it).
    bool held() const {
        std::lock_guard<std::mutex> lk(state_);
        return held_;
    }

    const std::string& key() const noexcept { return key_; }
    const LockOptions& options() const noexcept { return options_; }

    // The scripts, for callers that preload them (SCRIPT LOAD) or pipeline them.
    static const Script& release_script() {
        static const Script script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0");
        return script;
    }
    static const Script& extend_script() {
        static const Script script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
            "return 0");
        return script;
    }

private:
    void require_not_held(const char* what) const {
        std::lock_guard<std::mutex> lk(state_);
        if (held_) {
            throw dogpile::Error(std::string("RedisLock::") + what + ": '" + key_ +
                                 "' is already held by this object (the lock is not recursive)");
        }
    }

    // One SET NX PX with a fresh token.
    bool attempt() {
        std::string token = dogpile::details::random_hex(16);
        Command cmd{"SET", key_, token, "NX", "PX"};
        cmd.arg(static_cast<long long>(options_.lock_timeout.count()));
        const Reply reply = client_->command(key_, cmd);
        if (reply.is_nil()) return false;
        if (!reply.is_ok()) {
            reply.throw_if_error("redis SET NX " + key_);
            throw ProtocolError("redis SET NX " + key_ + ": unexpected reply type " + to_string(reply.type()));
        }
        std::lock_guard<std::mutex> lk(state_);
        token_ = std::move(token);
        held_ = true;
        return true;
    }

    // Uniform in [backoff/2, backoff]: keeps the exponential growth while
    // spreading waiters that started together.
    static std::chrono::microseconds jittered(std::chrono::microseconds backoff) noexcept {
        const auto half = static_cast<std::uint64_t>(backoff.count() / 2);
        const std::uint64_t extra = half == 0 ? 0 : dogpile::details::fast_random() % (half + 1);
        return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(half + extra));
    }

    std::shared_ptr<Client> client_;
    LockOptions options_;
    std::string key_;
    mutable std::mutex state_;
    bool held_ = false;
    std::string token_;
};

}  // namespace dogpile::redis
