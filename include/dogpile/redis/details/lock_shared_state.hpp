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
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../details/linkage.hpp"
#include "../client.hpp"
#include "../reply.hpp"
#include "../script.hpp"
#include "lock_wakeups.hpp"

namespace dogpile::redis::details {

// Compare-and-delete: the lock's release. With a second argument, a release
// that deleted also PUBLISHes the key on that channel (lock_wakeups.hpp), in
// the same round trip; pcall, so a user refused the channel still releases.
const Script& lock_release_script();

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
    std::uint64_t lost_replies = 0;         // lock commands whose reply was lost after they may have run
    std::uint64_t released_after_loss = 0;  // locks released with a token whose reply had been lost
    std::size_t pending = 0;                // tokens still to be released
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

    // `wakeups`: where waiters learn of releases; null: they only poll.
    explicit LockSharedState(std::shared_ptr<LockWakeups> wakeups = nullptr) : wakeups_(std::move(wakeups)) {}

    LockWakeups* wakeups() const noexcept { return wakeups_.get(); }

    // After a lock command on `key` with `token` failed without a reply:
    // releases the lock at once when the connection was merely closed (the
    // server is most likely up), else remembers the token for later.
    void release_or_remember(Client& client, const std::string& key, const std::string& token,
                             std::chrono::milliseconds ttl, ReplyLoss loss) noexcept;

    // Retries the remembered releases that are due, all in one round trip.
    // Called right after a lock command got its reply, so the server is
    // reachable. Costs one atomic load when there are none; never throws.
    void release_orphans(Client& client) noexcept;

    LockStateStats stats() const;

private:
    struct Orphan {
        std::string key;
        std::string token;
        Clock::time_point expires;
        Clock::time_point next_attempt;
        bool may_still_run = false;
    };

    enum class Outcome { released, not_held, failed };

    Outcome try_release(Client& client, std::string_view key, std::string_view token) noexcept;

    const std::shared_ptr<LockWakeups> wakeups_;
    std::mutex mutex_;
    std::deque<Orphan> orphans_;
    std::atomic<std::size_t> pending_{0};
    std::atomic<std::uint64_t> lost_replies_{0};
    std::atomic<std::uint64_t> released_after_loss_{0};
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "lock_shared_state-inl.hpp"
#endif
