#pragma once
// Definitions of distributed_locks.hpp (details/linkage.hpp: inline when header-only).

#include "distributed_locks.hpp"

namespace dogpile::redis {

DOGPILE_INLINE DistributedLocks::DistributedLocks(std::shared_ptr<Client> client, LockOptions options, Hook hook)
    : client_(std::move(client)), options_(std::move(options)), hook_(std::move(hook)) {
    if (!client_) throw ConfigurationError("DistributedLocks: the client is null");
    options_.validate();
    shared_ = std::make_shared<details::LockSharedState>(
        options_.wake_on_release ? details::LockWakeups::of(client_, options_.wake_channel()) : nullptr);
}

DOGPILE_INLINE std::unique_ptr<Mutex> DistributedLocks::make(const std::string& resource) {
    if (state_.load(std::memory_order_acquire) == ServerCheck::pending &&
        Clock::now().time_since_epoch().count() >= next_check_.load(std::memory_order_relaxed)) {
        check_server(options_.prefix + resource);
    }
    if (state_.load(std::memory_order_acquire) == ServerCheck::scripting_refused) return nullptr;
    return std::make_unique<RedisLock>(client_, resource, options_, shared_);
}

DOGPILE_INLINE bool DistributedLocks::refuses_scripting(const ReplyError& e) {
    return e.is_noperm() || (e.code() == "ERR" && e.message().find("unknown command") != std::string::npos);
}

DOGPILE_INLINE void DistributedLocks::check_server(const std::string& key) {
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

DOGPILE_INLINE void DistributedLocks::warn_if_locks_can_be_evicted(const std::string& key) noexcept {
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

}  // namespace dogpile::redis
