#pragma once
/// \file
/// DistributedLocks: the Redis locks of one backend. Backend::get_mutex()
/// returns make(resource); the locks share what a lost reply leaves to release
/// (details/lock_shared_state.hpp), and before the first one the server is
/// checked once:
///
/// * Scripting. The release is a compare-and-delete script. A server that
///   refuses EVALSHA or SCRIPT LOAD (an ACL user without `@scripting`, a renamed
///   command) would let a lock be taken and never released, so every other
///   process would wait out its TTL on every miss. The first make() throws
///   ScriptingRefused instead (a region reports it through its error hook and
///   carries on under its in-process lock) and every later one returns nullptr:
///   creators then run once per process, not once overall.
/// * Eviction. Under a maxmemory-policy other than noeviction, Redis may evict
///   a lock key while it is held, and another process may then create the same
///   value. Reported once through `hook` as an EvictionPolicyWarning, when the
///   server lets the client read its configuration (CONFIG GET; managed
///   services often refuse it, and then nothing is reported).
///
/// Thread-safe.

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "../errors.hpp"
#include "../mutex.hpp"
#include "client.hpp"
#include "command.hpp"
#include "details/lock_shared_state.hpp"
#include "errors.hpp"
#include "lock.hpp"
#include "reply.hpp"

namespace dogpile::redis {

/// The Redis locks of one backend (what its get_mutex() returns); checks the server's scripting and
/// eviction policy once, as distributed_locks.hpp describes. Thread-safe.
class DistributedLocks {
public:
    /// The clock of the recheck delay.
    using Clock = std::chrono::steady_clock;
    /// Receives the EvictionPolicyWarning (the backend's error hook).
    using Hook = std::function<void(const BackendErrorEvent&)>;

    /// Throws ConfigurationError for a null client or invalid options.
    DistributedLocks(std::shared_ptr<Client> client, LockOptions options, Hook hook = {});

    /// The lock of `resource`, or nullptr once the server has refused the
    /// lock's scripts. The first call checks the server (one or two round
    /// trips); it throws ScriptingRefused once, and whatever a failed round
    /// trip throws. After a failed round trip the check waits `recheck_after`
    /// (locks are handed out unchecked meanwhile, as they would be without it),
    /// so an unreachable server costs no extra round trip per lock.
    std::unique_ptr<Mutex> make(const std::string& resource);

    /// How long make() hands out unchecked locks after the server check failed, before it checks
    /// again.
    static constexpr std::chrono::seconds recheck_after{1};

    /// True once the server refused the lock scripts: make() returns nullptr from then on.
    bool scripting_refused() const noexcept {
        return state_.load(std::memory_order_acquire) == ServerCheck::scripting_refused;
    }

    /// Lock commands whose reply was lost, the releases later made for them, and those still
    /// pending.
    details::LockStateStats stats() const { return shared_->stats(); }
    /// The wake-ups its locks share (LockOptions::wake_on_release), else null.
    const details::LockWakeups* wakeups() const noexcept { return shared_->wakeups(); }
    /// The options its locks are made with.
    const LockOptions& options() const noexcept { return options_; }

    /// NOPERM, or an unknown command (renamed or disabled with rename-command).
    static bool refuses_scripting(const ReplyError& e);

private:
    enum class ServerCheck : int { pending, passed, scripting_refused };

    // Concurrent first callers may each check; only one reports.
    void check_server(const std::string& key);

    void warn_if_locks_can_be_evicted(const std::string& key) noexcept;

    std::shared_ptr<Client> client_;
    LockOptions options_;
    Hook hook_;
    std::shared_ptr<details::LockSharedState> shared_;
    std::atomic<ServerCheck> state_{ServerCheck::pending};
    std::atomic<Clock::rep> next_check_{0};
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "distributed_locks-inl.hpp"
#endif
