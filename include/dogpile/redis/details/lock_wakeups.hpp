#pragma once
// LockWakeups: how a RedisLock waiter learns at once that the lock it waits
// for was released, instead of at its next poll (docs/architecture.md, "Lock
// wake-up"). The release script PUBLISHes the lock key on the lock prefix's
// channel (LockOptions::wake_channel()); one subscriber connection per client
// and channel, subscribed while at least one thread of the process waits,
// hands each message to the waiters of that key.
//
// Best effort by design: a waiter still polls with its backoff, so a message
// lost (published before the subscription was confirmed, a dropped
// subscriber, a server that refuses the channel to the ACL user, a holder
// whose key expired) costs the polling latency, never a hang.
//
// On a cluster the channel is a plain (not sharded) one: PUBLISH reaches every
// node, so the subscriber may sit on any of them (the node of the key its
// first waiter waits for). Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "../../details/linkage.hpp"
#include "../client.hpp"
#include "push_thread.hpp"

namespace dogpile::redis::details {

struct LockWakeupStats {
    std::uint64_t sessions = 0;  // subscriptions confirmed
    std::uint64_t failures = 0;  // sessions that could not subscribe or were lost
    std::uint64_t messages = 0;  // releases received
    std::uint64_t woken = 0;     // waits ended by a release rather than by their backoff
};

class LockWakeups {
public:
    // The subscriber stays this long after the last waiter left, so a burst of
    // misses does not reconnect for each.
    static constexpr std::chrono::milliseconds linger{2000};

    // The one instance of `client` and `channel` in this process (created on
    // first use, kept while a lock or backend uses it).
    static std::shared_ptr<LockWakeups> of(const std::shared_ptr<Client>& client, const std::string& channel);

    LockWakeups(std::shared_ptr<Client> client, std::string channel);
    ~LockWakeups();
    LockWakeups(const LockWakeups&) = delete;
    LockWakeups& operator=(const LockWakeups&) = delete;

    // One waiter on one lock key, from its first pause to its return.
    class Waiter {
    public:
        Waiter(LockWakeups& wakeups, const std::string& key);
        ~Waiter();
        Waiter(const Waiter&) = delete;
        Waiter& operator=(const Waiter&) = delete;

        // Sleeps up to `pause`, less when `key` is released meanwhile (or was
        // since the previous sleep). True when a release ended it.
        bool sleep(std::chrono::microseconds pause);

    private:
        LockWakeups& wakeups_;
        const std::string& key_;
        std::uint64_t seen_;
    };

    // True while the subscription is confirmed.
    bool subscribed() const;
    // Threads of this process between their first pause and their return.
    std::size_t waiters() const;
    LockWakeupStats stats() const;
    // Why the last session failed (a NOPERM, a lost connection); empty if none did.
    std::string last_error() const;
    const std::string& channel() const noexcept { return channel_; }

private:
    struct Waiting {
        std::size_t waiters = 0;
        std::uint64_t releases = 0;
    };

    std::uint64_t enter(const std::string& key);
    void leave(const std::string& key) noexcept;
    void serve(PushThread& thread, bool& established);
    void session_ended(bool established, std::optional<std::string_view> failure) noexcept;
    void released(std::string_view key);

    const std::shared_ptr<Client> client_;
    const std::string channel_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::unordered_map<std::string, Waiting> waiting_;
    std::size_t waiters_ = 0;
    std::string route_;  // a waited-for key: where a cluster's subscriber connects
    bool subscribed_ = false;
    bool idle_ = false;  // the session waits for a first waiter (nudge it)
    LockWakeupStats stats_;
    std::string last_error_;
    std::unique_ptr<PushThread> thread_;  // started by the first waiter
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "lock_wakeups-inl.hpp"
#endif
