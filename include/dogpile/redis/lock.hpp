#pragma once
/// \file
/// RedisLock: a dogpile::Mutex shared by every process that talks to one Redis,
/// so that a burst of processes asking for one missing key runs its creator
/// once. A Redis store returns it from get_mutex(key) when its options ask for
/// a distributed lock (docs/architecture.md, "Where each mechanism lives").
///
/// \code{.unparsed}
///   acquire:  SET <prefix><resource> <token> NX PX <ttl>, with PTTL
///   release:  if GET == token then DEL, PUBLISH (one Lua script)
///   extend:   if GET == token then PEXPIRE ttl  (one Lua script)
/// \endcode
///
/// * ttl (dogpile.cache's lock_timeout) is both how long a crashed holder
///   blocks everyone and how long a creator may run before another process may
///   create too: size it above the slowest creation, or extend() from long
///   creators.
/// * Waiters poll with jittered exponential backoff (retry_initial to
///   retry_max) and give up after LockOptions::max_wait. A release publishes
///   the key (LockOptions::wake_on_release), which ends their pause at once
///   (details/lock_wakeups.hpp): one subscriber connection per client.
/// * A lock key without a TTL raises UnreleasableLockError instead of blocking
///   forever; a lock whose SET or release reply was lost is released later
///   with its token, never orphaned.
/// * Errors propagate as redis::RedisError; a Region counts them and carries on
///   under its in-process lock.
/// * Batches (dogpile::try_lock_all / unlock_all): the locks of one client take
///   their SET NX (with PTTL) or their releases in one pipelined round trip
///   (Client::batch: one per node on a cluster), with the same lost-reply
///   bookkeeping as one lock.
///
/// Thread safety: one owner at a time, as with any mutex; unlock() may run on
/// another thread than lock().

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
#include "../errors.hpp"
#include "../mutex.hpp"
#include "client.hpp"
#include "command.hpp"
#include "details/lock_shared_state.hpp"
#include "errors.hpp"
#include "reply.hpp"
#include "script.hpp"

namespace dogpile::redis {

/// How a RedisLock names its key, how long it holds it and how its waiters poll (lock.hpp has the
/// protocol).
struct LockOptions {
    /// Prepended to the resource name to form the lock key.
    std::string prefix = "dogpile-lock|";
    /// The lock key's TTL: how long a holder keeps the lock without extend().
    std::chrono::milliseconds ttl{30000};
    /// First sleep between attempts in lock(timeout); doubles after each miss.
    std::chrono::milliseconds retry_initial{1};
    /// Upper bound of that sleep: the worst delay between a release and a
    /// waiter noticing it.
    std::chrono::milliseconds retry_max{50};
    /// How long lock() waits when its caller gives no limit (a region without
    /// lock_timeout). nullopt: twice ttl. A holder keeps the lock at most ttl
    /// unless it extends it, so a longer wait means the lock is never released
    /// or is taken over and over; the region then applies its LockTimeoutPolicy.
    std::optional<std::chrono::milliseconds> max_wait{};
    /// Whether a release PUBLISHes on wake_channel() and waiters subscribe to
    /// it, so that a waiter in another process takes the lock at once instead
    /// of at its next poll (docs/architecture.md, "Lock wake-up"). Polling
    /// stays the fallback: a server that refuses the channel (ACL without
    /// `&<prefix>*`), a lost message or subscriber cost the polling latency only.
    bool wake_on_release = true;

    /// The channel of the release messages (their payload: the lock key).
    std::string wake_channel() const { return prefix + "~released"; }

    /// max_wait, or twice ttl when it is not set.
    std::chrono::milliseconds effective_max_wait() const { return max_wait ? *max_wait : 2 * ttl; }

    /// Throws ConfigurationError naming the bad field.
    void validate() const;
};

/// A dogpile::Mutex shared by every process that talks to one Redis: SET NX PX to take it, a
/// compare-and-delete script to release it (lock.hpp). One owner at a time; unlock() may run on
/// another thread than lock().
class RedisLock final : public dogpile::Mutex {
public:
    /// The lock key is options.prefix + resource. Throws ConfigurationError for
    /// a null client or invalid options. Talks to Redis only when locked.
    /// `shared` is what the locks of one backend share (DistributedLocks hands
    /// it out); a lock made without one keeps its lost-reply releases to itself
    /// and shares the wake-ups of its client (LockWakeups::of).
    RedisLock(std::shared_ptr<Client> client, std::string resource, LockOptions options,
              std::shared_ptr<details::LockSharedState> shared = nullptr);

    RedisLock(const RedisLock&) = delete;
    RedisLock& operator=(const RedisLock&) = delete;

    /// A lock dropped while held is released, best effort: a failed round trip
    /// is swallowed (destructors must not throw); the release is then retried
    /// as for a lost reply, or the key expires by itself after ttl.
    DOGPILE_INLINE ~RedisLock() override;

    /// One SET NX round trip (with the key's PTTL in the same pipeline).
    /// Calling it while this object holds the lock is a usage error
    /// (dogpile::Error): the lock is not recursive. Throws
    /// UnreleasableLockError when the key exists without a TTL.
    bool try_lock() override {
        require_not_held("try_lock");
        return attempt();
    }

    /// Retries until acquired or `timeout` has passed (std::nullopt: at most
    /// options().effective_max_wait()). A zero timeout makes exactly one attempt.
    DOGPILE_INLINE bool lock(std::optional<std::chrono::milliseconds> timeout) override;

    /// Releases the lock if this object still owns it in Redis; a no-op when it
    /// is not held here, and harmless when it has expired meanwhile (another
    /// holder's lock is left alone). The object counts as released even when
    /// the round trip fails; the error propagates, and the release is retried
    /// as for a lost reply.
    DOGPILE_INLINE void unlock() override;

    /// Resets the lock key's TTL to `ttl` while this object still owns it, for
    /// creators that run longer than ttl. False when the lock is not
    /// held here or has expired (been lost): the caller no longer owns it, and
    /// this object then counts as released.
    bool extend(std::chrono::milliseconds ttl);

    /// The token of the current (or last) acquisition; empty before the first.
    /// For the owner's use, not to be read while another thread locks.
    const std::string& token() const noexcept { return token_; }

    /// Whether this object believes it holds the lock (Redis may have expired it).
    bool held() const;

    /// Whether anybody holds the lock: one EXISTS round trip on the lock key
    /// (needs ACL +exists). Errors propagate as redis::RedisError.
    DOGPILE_INLINE std::optional<bool> locked() const override;

    /// The lock key: options().prefix followed by the resource name.
    const std::string& key() const noexcept { return key_; }
    /// The options it was made with.
    const LockOptions& options() const noexcept { return options_; }

    /// Same client, same batch: see dogpile::try_lock_all.
    const void* batch_group() const noexcept override { return client_.get(); }
    /// `group`: RedisLocks of this lock's client. One round trip for all.
    DOGPILE_INLINE std::vector<TryResult> try_lock_batch(const std::vector<Mutex*>& group) override;
    /// `group`: RedisLocks of this lock's client. Their releases go in one round trip.
    DOGPILE_INLINE void unlock_batch(const std::vector<Mutex*>& group) override;

    /// The scripts, for callers that preload them (SCRIPT LOAD) or pipeline them.
    static const Script& release_script() { return details::lock_release_script(); }
    /// The script extend() runs: PEXPIRE when GET still returns the caller's token.
    static const Script& extend_script();

private:
    void require_not_held(const char* what) const;

    // A command that failed this way may or may not have run.
    static details::ReplyLoss loss_of(const RedisError& e) noexcept {
        // An open circuit breaker fails fast without I/O: remembering its
        // "lost" tokens would only crowd out the real ones (max_pending).
        if (dynamic_cast<const PoolTimeout*>(&e) != nullptr || dynamic_cast<const CircuitOpenError*>(&e) != nullptr) {
            return details::ReplyLoss::never_sent;
        }
        if (dynamic_cast<const TimeoutError*>(&e) != nullptr) return details::ReplyLoss::may_still_run;
        return details::ReplyLoss::connection_closed;
    }

    // SET NX PX with a fresh token, and the key's PTTL, in one round trip.
    bool attempt();

    // The SET NX PX and PTTL commands of one attempt with `token`.
    std::vector<Command> attempt_commands(const std::string& token) const;
    // After a lock command with `token` failed without a reply.
    void settle_lost_reply(const std::string& token, const RedisError& e) noexcept;
    // The attempt's two replies: true when taken (this object then holds the lock).
    bool take_if_acquired(const Reply& acquired, const Reply& ttl, std::string token);
    // Marks this object released; the token to release, or nullopt when not held.
    std::optional<std::string> give_up_hold();
    // The release script's call for `token`: the key, the token and, with
    // wake-ups, the channel to publish the release on.
    ScriptCall release_call(const std::string& token) const;

    // Uniform in [backoff/2, backoff]: keeps the exponential growth while
    // spreading waiters that started together.
    static std::chrono::microseconds jittered(std::chrono::microseconds backoff) noexcept;

    std::shared_ptr<Client> client_;
    LockOptions options_;
    std::shared_ptr<details::LockSharedState> shared_;
    std::string key_;
    mutable std::mutex state_;
    bool held_ = false;
    std::string token_;
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "lock-inl.hpp"
#endif
