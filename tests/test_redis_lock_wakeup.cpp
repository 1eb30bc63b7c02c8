// The distributed lock's release wake-ups (redis/details/lock_wakeups.hpp)
// against a real redis-server: a waiter takes the lock on the release message
// rather than at its next poll, and everything that loses the message (a
// killed subscriber, a holder that dies without releasing, a user refused the
// channel) costs only the polling latency: every waiter still gets the lock
// and the value is created once.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/details/random.hpp>
#include <dogpile/redis.hpp>

#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::redis::Client;
using dogpile::redis::LockOptions;
using dogpile::redis::RedisLock;
using dogpile::redis::details::LockWakeups;
using dogpile::test::RedisAclUser;
using dogpile::test::RedisServer;
using dogpile::test::RedisServerOptions;
using dogpile::test::wait_for_condition;

RedisServer& server() { return RedisServer::shared(); }

// Backoff from `retry_initial` to `retry_max`, giving up after `max_wait`.
LockOptions options_for(const std::string& what, std::chrono::milliseconds retry_initial,
                        std::chrono::milliseconds retry_max, std::chrono::milliseconds max_wait) {
    LockOptions o;
    o.prefix = "wake-test:" + what + ":" + dogpile::details::random_hex(6) + ":";
    o.retry_initial = retry_initial;
    o.retry_max = retry_max;
    o.max_wait = max_wait;
    return o;
}

// `waiters` threads take the lock of `resource` in turn, as a region's callers
// would: the first to find no value creates it. Returns the creations; every
// waiter that did not get the lock within max_wait counts in `gave_up`.
struct Stampede {
    Stampede(std::shared_ptr<Client> client, LockOptions options, std::size_t waiters)
        : client_(std::move(client)), options_(std::move(options)) {
        for (std::size_t i = 0; i < waiters; ++i) threads_.emplace_back([this] { run(); });
    }
    ~Stampede() { join(); }

    void join() {
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }

    long long creations() const {
        const auto r = dogpile::test::raw_command(server(), {"GET", options_.prefix + "creations"});
        return r.is_nil() ? 0 : std::stoll(r.str);
    }

    std::atomic<int> gave_up{0};

private:
    void run() {
        RedisLock lock(client_, "r", options_);
        if (!lock.lock(std::nullopt)) {
            ++gave_up;
            return;
        }
        const std::string value = options_.prefix + "value";
        if (client_->command(value, {"GET", value}).is_nil()) {
            const std::string count = options_.prefix + "creations";
            client_->command(count, {"INCR", count});
            client_->command(value, {"SET", value, "v"});
        }
        lock.unlock();
    }

    std::shared_ptr<Client> client_;
    LockOptions options_;
    std::vector<std::thread> threads_;
};

// The waiter's pause is 10 to 20 s (retry 20 s, jittered) and its wait ends
// at 5 s: only the release message can end the pause early (`woken` counts
// exactly that). Without the message it would attempt again at its deadline,
// find the lock free and return true all the same, with woken still 0.
TEST(RedisLockWakeup, AWaiterTakesTheLockOnTheReleaseMessageNotAtItsNextPoll) {
    auto client = dogpile::redis::make_client(server().url());
    const LockOptions o = options_for("wake", 20s, 20s, 5s);
    RedisLock holder(client, "r", o);
    ASSERT_TRUE(holder.try_lock());
    const auto wakeups = LockWakeups::of(client, o.wake_channel());
    const auto before = wakeups->stats();

    RedisLock waiter(client, "r", o);
    std::atomic<bool> acquired{false};
    std::thread t([&] { acquired = waiter.lock(std::nullopt); });
    // In its pause (it enters at the first one), with the subscription confirmed.
    const bool waiting = wait_for_condition([&] { return wakeups->waiters() == 1 && wakeups->subscribed(); }, 10s);
    holder.unlock();
    t.join();
    ASSERT_TRUE(waiting) << "never subscribed: " << wakeups->last_error();
    EXPECT_TRUE(acquired);
    EXPECT_TRUE(waiter.held());
    EXPECT_EQ(wakeups->stats().woken - before.woken, 1u) << "the waiter slept through the release";
    waiter.unlock();
}

// The subscriber is killed over and over while the waiters wait and while
// the holder releases: messages are lost, the waiters fall back to polling,
// every one gets the lock and the value is created once.
TEST(RedisLockWakeup, ASubscriberKilledMidWaitFallsBackToPolling) {
    auto client = dogpile::redis::make_client(server().url());
    const LockOptions o = options_for("killed", 1ms, 20ms, 20s);
    RedisLock holder(client, "r", o);
    ASSERT_TRUE(holder.try_lock());
    const auto wakeups = LockWakeups::of(client, o.wake_channel());
    const auto before = wakeups->stats();

    std::optional<Stampede> stampede(std::in_place, client, o, 4);
    ASSERT_TRUE(wait_for_condition([&] { return wakeups->waiters() == 4 && wakeups->subscribed(); }, 10s));
    std::atomic<bool> done{false};
    std::thread killer([&] {
        while (!done) {
            dogpile::test::raw_command(server(), {"CLIENT", "KILL", "TYPE", "pubsub"});
            std::this_thread::sleep_for(1ms);
        }
    });
    const bool noticed = wait_for_condition([&] { return wakeups->stats().failures > before.failures; }, 10s);
    holder.unlock();  // the holder found no value either: it leaves the creation to a waiter
    stampede->join();
    done = true;
    killer.join();
    EXPECT_TRUE(noticed) << "the kill was never noticed: the test proves nothing";
    EXPECT_EQ(stampede->gave_up.load(), 0);
    EXPECT_EQ(stampede->creations(), 1);
}

// A holder that dies without releasing (SIGKILL: nothing is published, the
// key only expires): the waiters proceed after the lock's TTL by polling.
TEST(RedisLockWakeup, AHolderThatNeverReleasesLetsTheOthersProceedAfterTheTtl) {
    auto client = dogpile::redis::make_client(server().url());
    const LockOptions o = options_for("dead-holder", 1ms, 20ms, 20s);
    // What a SIGKILLed holder leaves: its key with a TTL, and no release ever.
    const std::string key = o.prefix + "r";
    ASSERT_EQ(dogpile::test::raw_command(server(), {"SET", key, "dead-token", "NX", "PX", "300"}).str, "OK");
    Stampede stampede(client, o, 3);
    stampede.join();
    EXPECT_EQ(stampede.gave_up.load(), 0);
    EXPECT_EQ(stampede.creations(), 1);
    EXPECT_EQ(dogpile::test::raw_command(server(), {"EXISTS", key}).integer, 0);
}

// A user refused the channel (ACL without &<prefix>*: Redis 7 users have no
// channels by default): the subscription fails with NOPERM, the release still
// releases (the script's PUBLISH is a pcall), and the waiter polls.
TEST(RedisLockWakeup, AUserWithoutChannelRightsPollsAndReleasesNormally) {
    RedisServerOptions so;
    so.acl_users.push_back(RedisAclUser{"no-channels", "pw", {"~*", "resetchannels", "+@all"}});
    RedisServer s(so);
    auto client = dogpile::redis::make_client("redis://no-channels:pw@127.0.0.1:" + std::to_string(s.port()));
    const LockOptions o = options_for("no-channels", 1ms, 20ms, 20s);
    RedisLock holder(client, "r", o);
    ASSERT_TRUE(holder.try_lock());
    const auto wakeups = LockWakeups::of(client, o.wake_channel());

    RedisLock waiter(client, "r", o);
    std::atomic<bool> acquired{false};
    std::thread t([&] { acquired = waiter.lock(std::nullopt); });
    const bool refused = wait_for_condition([&] { return wakeups->stats().failures > 0; }, 10s);
    EXPECT_NO_THROW(holder.unlock());
    t.join();
    EXPECT_TRUE(refused);
    EXPECT_NE(wakeups->last_error().find("NOPERM"), std::string::npos) << wakeups->last_error();
    EXPECT_EQ(wakeups->stats().sessions, 0u);
    EXPECT_TRUE(acquired);
    EXPECT_NO_THROW(waiter.unlock());
    EXPECT_EQ(s.raw({"EXISTS", o.prefix + "r"}).integer, 0) << "a lock was left to expire";
}

}  // namespace
