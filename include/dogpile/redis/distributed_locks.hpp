#pragma once
// DistributedLocks: the Redis locks of one backend. Backend::get_mutex()
// returns make(resource); the locks share what a lost reply leaves to release
// (details/lock_shared_state.hpp), and before the first one the server is
// checked once:
//
// * Scripting. The release is a compare-and-delete script. A server that
//   refuses EVALSHA or SCRIPT LOAD (an ACL user without @scripting, a renamed
//   command) would let a lock be taken and never released, so every other
//   process would wait out its TTL on every miss. The first make() throws
//   ScriptingRefused instead (a region reports it through its error hook and
//   carries on under its in-process lock) and every later one returns nullptr:
//   creators then run once per process, not once overall.
// * Eviction. Under a maxmemory-policy other than noeviction, Redis may evict
//   a lock key while it is held, and another process may then create the same
//   value. Reported once through `hook` as an EvictionPolicyWarning, when the
//   server lets the client read its configuration (CONFIG GET; managed
//   services often refuse it, and then nothing is reported).
//
// Thread-safe.

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

class DistributedLocks {
public:
    using Clock = std::chrono::steady_clock;
    using Hook = std::function<void(const BackendErrorEvent&)>;

    // Throws ConfigurationError for a null client or invalid options.
    DistributedLocks(std::shared_ptr<Client> client, LockOptions options, Hook hook = {})
        : client_(std::move(client)), options_(std::move(options)), hook_(std::move(hook)) {
        if (!client_) throw ConfigurationError("DistributedLocks: the client is null");
        options_.validate();
    }

    // The lock of `resource`, or nullptr once the server has refused the
    // lock's scripts. The first call checks the server (one or two round
    // trips); it throws ScriptingRefused once, and whatever a failed round
    // trip throws. After a failed round trip the check waits `recheck_after`
    // (locks are handed out unchecked meanwhile, as they would be without it),
    // so an unreachable server costs no extra round trip per lock.
    std::unique_ptr<Mutex> make(const std::string& resource) {
        if (state_.load(std::memory_order_acquire) == ServerCheck::pending &&
            Clock::now().time_since_epoch().count() >= next_check_.load(std::memory_order_relaxed)) {
            check_server(options_.prefix + resource);
        }
        if (state_.load(std::memory_order_acquire) == ServerCheck::scripting_refused) return nullptr;
        return std::make_unique<RedisLock>(client_, resource, options_, shared_);
    }

    static constexpr std::chrono::seconds recheck_after{1};

    bool scripting_refused() const noexcept {
        return state_.load(std::memory_order_acquire) == ServerCheck::scripting_refused;
    }

    details::LockStateStats stats() const { return shared_->stats(); }
    const LockOptions& options() const noexcept { return options_; }

    // NOPERM, or an unknown command (renamed or disabled with rename-command).
    static bool refuses_scripting(const ReplyError& e) {
        return e.is_noperm() || (e.code() == "ERR" && e.message().find("unknown command") != std::string::npos);
    }

private:
    enum class ServerCheck : int { pending, passed, scripting_refused };

    // Concurrent first callers may each check; only one reports.
    void check_server(const std::string& key) {
        try {
            // An empty token is never a lock's: this releases nothing.
            client_->eval(RedisLock::release_script(), {std::string_view(key)}, {std::string_view()});
        } catch (const ReplyError& e) {
            if (!refuses_scripting(e)) throw;
            ServerCheck expected = ServerCheck::pending;
            if (!state_.compare_exchange_strong(expected, ServerCheck::scripting_refused)) return;
            throw ScriptingRefused(
                "the server refuses the distributed lock's release script (" + e.message() +
                "): a lock taken now could never be released, so this backend takes no more distributed locks and "
                "keeps the region's in-process lock (a value may then be created once per process). Grant the "
                "ACL user +evalsha +script|load (or +@scripting), then recreate the backend");
        } catch (...) {
            next_check_.store((Clock::now() + recheck_after).time_since_epoch().count(), std::memory_order_relaxed);
            throw;
        }
        ServerCheck expected = ServerCheck::pending;
        if (state_.compare_exchange_strong(expected, ServerCheck::passed)) warn_if_locks_can_be_evicted(key);
    }

    void warn_if_locks_can_be_evicted(const std::string& key) noexcept {
        if (!hook_) return;
        try {
            const auto replies = client_->pipeline(
                key, {Command{"CONFIG", "GET", "maxmemory"}, Command{"CONFIG", "GET", "maxmemory-policy"}});
            if (replies.size() != 2) return;
            for (const Reply& r : replies) {
                if (!r.is_array() || r.size() != 2) return;  // refused or renamed: nothing to say
            }
            const std::string maxmemory(replies[0].at(1).view());
            const std::string policy(replies[1].at(1).view());
            if (maxmemory == "0" || policy == "noeviction") return;
            const std::string message =
                "maxmemory-policy " + policy + " (maxmemory " + maxmemory +
                ") lets Redis evict a lock key while it is held; another process may then create the same value. "
                "Use maxmemory-policy noeviction on the server that holds the locks to keep creations single";
            hook_(BackendErrorEvent{"lock", std::make_exception_ptr(EvictionPolicyWarning(message)), message});
        } catch (...) {
            // A warning must not fail a lock, nor a throwing hook.
        }
    }

    std::shared_ptr<Client> client_;
    LockOptions options_;
    Hook hook_;
    std::shared_ptr<details::LockSharedState> shared_ = std::make_shared<details::LockSharedState>();
    std::atomic<ServerCheck> state_{ServerCheck::pending};
    std::atomic<Clock::rep> next_check_{0};
};

}  // namespace dogpile::redis
