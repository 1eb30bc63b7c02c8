#pragma once
// LockSharedState: what the RedisLocks of one backend share, so that a lock
// whose SET NX (or release) lost its reply is still released: the token is
// remembered and the compare-and-delete retried once the connection is back,
// i.e. right after the next lock operation (of any lock sharing the state)
// that got its reply.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../client.hpp"
#include "../reply.hpp"
#include "../script.hpp"

namespace dogpile::redis::details {

// Compare-and-delete: the lock's release.
inline const Script& lock_release_script() {
    static const Script script(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0");
    return script;
}

// How a command failed without a reply, which decides what its failure may have left behind.
enum class ReplyLoss : std::uint8_t {
    // No connection was free: nothing was sent.
    never_sent,
    // The connection was closed (reset, EOF, killed): the server ran the
    // command before the close or never will, so one release settles it.
    connection_closed,
    // A timeout: the command may still be waiting in a stalled server's
    // buffer and run later, so a release that finds nothing is retried.
    may_still_run,
};

struct LockStateStats {
    std::uint64_t lost_replies = 0;     // lock commands whose reply was lost after they may have run
    std::uint64_t released_after_loss = 0;  // locks released with a token whose reply had been lost
    std::size_t pending = 0;            // tokens still to be released
};

class LockSharedState {
public:
    using Clock = std::chrono::steady_clock;

    // At most this many tokens are remembered (the oldest then just expire);
    // the due ones are retried together, in one pipelined round trip.
    static constexpr std::size_t max_pending = 1024;
    // How soon a release that found nothing is tried again when the SET may
    // not have run yet (a timeout: it may still be in a stalled server's buffer).
    static constexpr std::chrono::milliseconds retry_interval{100};

    // After a lock command on `key` with `token` failed without a reply:
    // releases the lock at once when the connection was merely closed (the
    // server is most likely up), else remembers the token for later.
    void release_or_remember(Client& client, const std::string& key, const std::string& token,
                             std::chrono::milliseconds ttl, ReplyLoss loss) noexcept {
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

    // Retries the remembered releases that are due, all in one round trip.
    // Called right after a lock command got its reply, so the server is
    // reachable. Costs one atomic load when there are none; never throws.
    void release_orphans(Client& client) noexcept {
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

    LockStateStats stats() const {
        LockStateStats s;
        s.lost_replies = lost_replies_.load(std::memory_order_relaxed);
        s.released_after_loss = released_after_loss_.load(std::memory_order_relaxed);
        s.pending = pending_.load(std::memory_order_acquire);
        return s;
    }

private:
    struct Orphan {
        std::string key;
        std::string token;
        Clock::time_point expires;
        Clock::time_point next_attempt;
        bool may_still_run = false;
    };

    enum class Outcome { released, not_held, failed };

    Outcome try_release(Client& client, std::string_view key, std::string_view token) noexcept {
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

    std::mutex mutex_;
    std::deque<Orphan> orphans_;
    std::atomic<std::size_t> pending_{0};
    std::atomic<std::uint64_t> lost_replies_{0};
    std::atomic<std::uint64_t> released_after_loss_{0};
};

}  // namespace dogpile::redis::details
