#pragma once
// Definitions of lock_shared_state.hpp (details/linkage.hpp: inline when header-only).

#include "lock_shared_state.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE const Script& lock_release_script() {
    static const Script script("if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
                               "local deleted = redis.call('DEL', KEYS[1]) "
                               "if ARGV[2] then redis.pcall('PUBLISH', ARGV[2], KEYS[1]) end "
                               "return deleted");
    return script;
}

DOGPILE_INLINE void LockSharedState::release_or_remember(Client& client, const std::string& key,
                                                         const std::string& token, std::chrono::milliseconds ttl,
                                                         ReplyLoss loss) noexcept {
    lost_replies_.fetch_add(1, std::memory_order_relaxed);
    const Clock::time_point now = Clock::now();
    if (loss == ReplyLoss::connection_closed) {
        const Outcome outcome = try_release(client, key, token);
        if (outcome != Outcome::failed) return;
    }
    try {
        std::lock_guard<std::mutex> lk(mutex_);
        if (orphans_.size() >= max_pending) orphans_.pop_front();
        orphans_.push_back(Orphan{key, token, now + ttl, now, loss == ReplyLoss::may_still_run});
        pending_.store(orphans_.size(), std::memory_order_release);
    } catch (...) {
        // Out of memory: the key expires after its TTL, as before this existed.
    }
}

DOGPILE_INLINE void LockSharedState::release_orphans(Client& client) noexcept {
    if (pending_.load(std::memory_order_acquire) == 0) return;
    const Clock::time_point now = Clock::now();
    std::vector<Orphan> due;
    try {
        std::lock_guard<std::mutex> lk(mutex_);
        for (auto it = orphans_.begin(); it != orphans_.end();) {
            if (it->expires <= now) {
                it = orphans_.erase(it);  // Redis has expired it by itself
            } else if (it->next_attempt <= now) {
                due.push_back(std::move(*it));
                it = orphans_.erase(it);
            } else {
                ++it;
            }
        }
        pending_.store(orphans_.size() + due.size(), std::memory_order_release);
    } catch (...) {
        return;
    }
    if (due.empty()) return;
    std::vector<Orphan> again;
    try {
        std::vector<ScriptCall> calls;
        calls.reserve(due.size());
        for (const Orphan& orphan : due) calls.push_back(ScriptCall{{orphan.key}, {orphan.token}});
        const std::vector<Reply> replies = client.eval_batch(lock_release_script(), calls);
        for (std::size_t i = 0; i < due.size(); ++i) {
            Outcome outcome = Outcome::failed;
            if (i < replies.size() && replies[i].is_integer()) {
                outcome = replies[i].as_integer() == 1 ? Outcome::released : Outcome::not_held;
            }
            if (outcome == Outcome::released) released_after_loss_.fetch_add(1, std::memory_order_relaxed);
            if (outcome == Outcome::released || (outcome == Outcome::not_held && !due[i].may_still_run)) continue;
            // Found nothing yet: wait a little. Failed: due at the next reply.
            due[i].next_attempt = outcome == Outcome::not_held ? Clock::now() + retry_interval : now;
            again.push_back(std::move(due[i]));
        }
    } catch (...) {
        again = std::move(due);
    }
    try {
        std::lock_guard<std::mutex> lk(mutex_);
        for (Orphan& orphan : again) {
            if (orphans_.size() < max_pending) orphans_.push_back(std::move(orphan));
        }
        pending_.store(orphans_.size(), std::memory_order_release);
    } catch (...) {
    }
}

DOGPILE_INLINE LockStateStats LockSharedState::stats() const {
    LockStateStats s;
    s.lost_replies = lost_replies_.load(std::memory_order_relaxed);
    s.released_after_loss = released_after_loss_.load(std::memory_order_relaxed);
    s.pending = pending_.load(std::memory_order_acquire);
    return s;
}

DOGPILE_INLINE LockSharedState::Outcome LockSharedState::try_release(Client& client, std::string_view key,
                                                                     std::string_view token) noexcept {
    try {
        const Reply reply = client.eval(lock_release_script(), {key}, {token});
        if (reply.as_integer() == 1) {
            released_after_loss_.fetch_add(1, std::memory_order_relaxed);
            return Outcome::released;
        }
        return Outcome::not_held;
    } catch (...) {
        return Outcome::failed;
    }
}

}  // namespace dogpile::redis::details
