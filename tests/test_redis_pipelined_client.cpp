// PipelinedClient (redis/pipelined_client.hpp) on a real redis-server: the
// commands of concurrent callers share one connection, and what must hold
// whatever happens to it is that no caller ever receives another caller's
// reply. Values carry their key, so a reply matched to the wrong caller is
// seen. Faults are real: CLIENT KILL storms, SIGKILL and restart, CLIENT PAUSE
// to hold a write in flight, SCRIPT FLUSH under load.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/details/call_budget.hpp>
#include <dogpile/redis.hpp>

#include "support/latch.hpp"
#include "support/message_of.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using dogpile::redis::BreakerState;
using dogpile::redis::CircuitOpenError;
using dogpile::redis::Command;
using dogpile::redis::IoError;
using dogpile::redis::PipelinedClient;
using dogpile::redis::PipelinedOptions;
using dogpile::redis::Reply;
using dogpile::redis::ReplyError;
using dogpile::redis::Script;
using dogpile::redis::ScriptCall;
using dogpile::test::Latch;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;

// How long a test waits for load to make progress before it fails: far
// beyond what a loaded 2-core machine or a sanitizer needs.
constexpr auto progress_deadline = 30000ms;

// A bound on one call: a connect, one command timeout, and slack for a
// loaded machine and sanitizers. A call never takes longer unless it hangs.
constexpr std::chrono::milliseconds call_bound(std::chrono::milliseconds command_timeout) {
    return 500ms + command_timeout + 10000ms;
}

PipelinedOptions options_for(const RedisServer& server, std::chrono::milliseconds command_timeout = 1000ms) {
    PipelinedOptions o;
    o.pool.connection = server.options();
    o.pool.connection.connect_timeout = 500ms;
    o.pool.connection.command_timeout = command_timeout;
    o.pool.breaker.failure_threshold = std::nullopt;  // the fault tests count every failure
    return o;
}

std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("pipelined:") + info->name() + ":";
}

// What a load run saw. Every call ends in exactly one of ok, io_errors or
// other_errors; a wrong reply is also counted in wrong.
struct Tally {
    std::atomic<std::uint64_t> ok{0};
    std::atomic<std::uint64_t> io_errors{0};
    std::atomic<std::uint64_t> other_errors{0};
    std::atomic<std::uint64_t> wrong{0};
    std::atomic<std::int64_t> longest_ms{0};

    std::uint64_t calls() const { return ok + io_errors + other_errors; }
    void took(Clock::duration d) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        std::int64_t seen = longest_ms.load();
        while (ms > seen && !longest_ms.compare_exchange_weak(seen, ms)) {
        }
    }
};

// One call, counted. `check` says whether the reply is the caller's own.
void counted_call(Tally& tally, const std::function<Reply()>& call, const std::function<bool(const Reply&)>& check) {
    const auto start = Clock::now();
    try {
        const Reply r = call();
        if (!check(r)) tally.wrong.fetch_add(1);
        tally.ok.fetch_add(1);
    } catch (const IoError&) {
        tally.io_errors.fetch_add(1);
    } catch (...) {
        tally.other_errors.fetch_add(1);
    }
    tally.took(Clock::now() - start);
}

// `threads` callers each SET and GET keys of their own, values "<key>#<n>",
// until `stop`. A GET must answer nil or a value of its own key; a SET must
// answer OK: a reply delivered to the wrong caller fails one of the two.
void run_get_set_load(dogpile::redis::Client& client, const std::string& prefix, int threads,
                      const std::atomic<bool>& stop, Tally& tally, Latch& started) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            started.count_down();
            for (std::uint64_t n = 0; !stop.load(); ++n) {
                const std::string key = prefix + std::to_string(t) + ":" + std::to_string(n % 8);
                const std::string value = key + "#" + std::to_string(n);
                counted_call(
                    tally,
                    [&] {
                        return client.command(key, {"SET", key, value});
                    },
                    [](const Reply& r) { return r.is_ok(); });
                counted_call(
                    tally,
                    [&] {
                        return client.command(key, {"GET", key});
                    },
                    [&key](const Reply& r) {
                        return r.is_nil() || (r.is_string() && r.view().substr(0, key.size() + 1) == key + "#");
                    });
            }
        });
    }
    for (auto& th : pool) th.join();
}

// A server of its own whose writes CLIENT PAUSE holds for `pause_ms`, and a
// client (10 s command timeout) whose shared connection is already open.
struct HeldWrites {
    RedisServer server;
    PipelinedClient client{options_for(server, 10000ms)};
    std::string prefix = test_prefix();

    explicit HeldWrites(const char* pause_ms) {
        EXPECT_EQ(client.command("", {"PING"}).status(), "PONG");
        EXPECT_EQ(client.lane_connects(), 1u);
        EXPECT_FALSE(server.raw({"CLIENT", "PAUSE", pause_ms, "WRITE"}).is_error());
    }
};

// ------------------------------------------------------------ routing

TEST(PipelinedClient, StateAndBlockingCommandsNeedTheirOwnConnection) {
    for (const char* name : {"SUBSCRIBE", "psubscribe", "CLIENT", "WATCH", "MULTI", "EXEC", "SELECT", "BLPOP",
                             "BZPOPMIN", "XREAD", "WAIT", "HELLO", "MONITOR"}) {
        EXPECT_TRUE(dogpile::redis::needs_own_connection(Command{name, "x"})) << name;
    }
    for (const char* name : {"GET", "SET", "HGET", "EVALSHA", "SCRIPT", "DEL", "PING"}) {
        EXPECT_FALSE(dogpile::redis::needs_own_connection(Command{name, "x"})) << name;
    }
}

TEST(PipelinedClient, StateCommandsRunOnThePoolAndNeverOnTheSharedConnection) {
    PipelinedClient client(options_for(RedisServer::shared()));
    const long long pooled_id = client.command("", {"CLIENT", "ID"}).as_integer();
    EXPECT_EQ(client.lane_connects(), 0u);
    EXPECT_EQ(client.pool().connections_created(), 1u);
    client.command("", {"PING"});
    EXPECT_EQ(client.lane_connects(), 1u);
    // WATCH/MULTI/EXEC through with_connection: the pool's connection again.
    client.with_connection("", [&](dogpile::redis::Connection& c) {
        EXPECT_EQ(c.command({"CLIENT", "ID"}).as_integer(), pooled_id);
    });
    // A pipeline holding one such command goes to the pool whole.
    const auto replies = client.pipeline("", {Command{"PING"}, Command{"CLIENT", "ID"}});
    EXPECT_EQ(replies.at(1).as_integer(), pooled_id);
    EXPECT_EQ(client.lane_connects(), 1u);
}

// ------------------------------------------------------------ one caller

TEST(PipelinedClient, ALoneCallerPaysOneRoundTripPerCall) {
    PipelinedClient client(options_for(RedisServer::shared()));
    const std::string k = test_prefix() + "k";
    auto before = client.round_trips();
    EXPECT_TRUE(client.command(k, {"SET", k, "v"}).is_ok());
    EXPECT_EQ(client.command(k, {"GET", k}).as_string(), "v");
    EXPECT_EQ(client.round_trips(), before + 2);

    before = client.round_trips();
    const auto replies = client.pipeline(k, {Command{"SET", k, "1"}, Command{"INCR", k}, Command{"HGET", k, "f"}});
    EXPECT_EQ(client.round_trips(), before + 1);
    EXPECT_EQ(replies.at(1).as_integer(), 2);
    EXPECT_TRUE(replies.at(2).is_error());  // WRONGTYPE, returned in place

    EXPECT_THROW(client.command(k, {"HGET", k, "f"}), ReplyError);
    const Script echo("return KEYS[1] .. ARGV[1]");
    EXPECT_EQ(client.eval(echo, {k}, {"!"}).as_string(), k + "!");
    EXPECT_THROW(client.eval(Script("return redis.call('HGET', KEYS[1], 'f')"), {k}, {}), ReplyError);
    // The shared connection is still in step after error replies.
    EXPECT_EQ(client.command(k, {"GET", k}).as_string(), "2");
}

// ------------------------------------------------------------ many callers

TEST(PipelinedClient, SixtyFourCallersEachGetTheirOwnReplies) {
    PipelinedClient client(options_for(RedisServer::shared(), 5000ms));
    Tally tally;
    std::atomic<bool> stop{false};
    Latch started(64);
    std::thread stopper([&] {
        started.wait();
        EXPECT_TRUE(wait_for_condition([&] { return tally.ok >= 20000; }, progress_deadline));
        stop = true;
    });
    run_get_set_load(client, test_prefix(), 64, stop, tally, started);
    stopper.join();
    std::cout << "calls " << tally.calls() << " round trips " << client.round_trips() << "\n";
    EXPECT_EQ(tally.wrong.load(), 0u);
    EXPECT_EQ(tally.io_errors.load(), 0u);
    EXPECT_EQ(tally.other_errors.load(), 0u);
    EXPECT_GE(tally.ok.load(), 20000u);
    EXPECT_EQ(client.lane_connects(), 1u);
    // Callers shared writes: fewer round trips than calls.
    EXPECT_LT(client.round_trips(), tally.calls());
}

TEST(PipelinedClient, ClientKillStormNeverDeliversAnotherCallersReply) {
    RedisServer server;
    const auto command_timeout = 1000ms;
    PipelinedClient client(options_for(server, command_timeout));
    Tally tally;
    std::atomic<bool> stop{false};
    std::atomic<long long> killed{0};
    Latch started(64);
    // Each round waits for 100 more successes before its kill: the lane has
    // reconnected, so every kill finds it, and successes outnumber the
    // failures (a kill fails at most the 64 calls in flight) however slow
    // the machine.
    constexpr int rounds = 100;
    std::thread killer([&] {
        started.wait();
        for (int round = 0; round < rounds; ++round) {
            const std::uint64_t ok = tally.ok;
            if (!wait_for_condition([&] { return tally.ok >= ok + 100; }, progress_deadline)) {
                ADD_FAILURE() << "no progress after kill " << round;
                break;
            }
            const auto r = server.raw({"CLIENT", "KILL", "TYPE", "normal"});
            if (!r.is_error()) killed += r.integer;
        }
        stop = true;
    });
    run_get_set_load(client, test_prefix(), 64, stop, tally, started);
    killer.join();
    std::cout << "calls " << tally.calls() << " ok " << tally.ok << " io errors " << tally.io_errors
              << " connections killed " << killed << " lane connects " << client.lane_connects() << " longest call "
              << tally.longest_ms << " ms\n";
    EXPECT_EQ(tally.wrong.load(), 0u);
    EXPECT_EQ(tally.other_errors.load(), 0u);
    EXPECT_GE(killed.load(), rounds);
    EXPECT_GT(tally.io_errors.load(), 0u);
    EXPECT_GT(tally.ok.load(), tally.io_errors.load());
    // Every kill found the lane, and it reconnected after each one.
    EXPECT_GE(client.lane_connects(), static_cast<std::uint64_t>(rounds));
    // No hang: a call is bounded by one connect and one command timeout.
    EXPECT_LT(tally.longest_ms.load(), call_bound(command_timeout).count());
    // And the next call works.
    const std::string k = test_prefix() + "after";
    EXPECT_TRUE(client.command(k, {"SET", k, "x"}).is_ok());
}

TEST(PipelinedClient, SigkillAndRestartMidLoad) {
    RedisServer server;
    const auto command_timeout = 1000ms;
    PipelinedClient client(options_for(server, command_timeout));
    Tally tally;
    std::atomic<bool> stop{false};
    Latch started(64);
    std::uint64_t ok_before_kill = 0;
    std::uint64_t ok_after_restart = 0;
    std::thread chaos([&] {
        started.wait();
        EXPECT_TRUE(wait_for_condition([&] { return tally.ok >= 1000; }, progress_deadline));
        ok_before_kill = tally.ok;
        server.kill();
        EXPECT_TRUE(wait_for_condition([&] { return tally.io_errors > 0; }, progress_deadline));
        server.start();
        const std::uint64_t at_restart = tally.ok;
        // More than the 64 calls that may have got their reply before the
        // kill and be counted only now.
        EXPECT_TRUE(wait_for_condition([&] { return tally.ok >= at_restart + 200; }, progress_deadline));
        ok_after_restart = tally.ok - at_restart;
        stop = true;
    });
    run_get_set_load(client, test_prefix(), 64, stop, tally, started);
    chaos.join();
    std::cout << "calls " << tally.calls() << " ok " << tally.ok << " io errors " << tally.io_errors
              << " lane connects " << client.lane_connects() << " longest call " << tally.longest_ms << " ms\n";
    EXPECT_EQ(tally.wrong.load(), 0u);
    EXPECT_EQ(tally.other_errors.load(), 0u);
    EXPECT_GT(ok_before_kill, 0u);
    EXPECT_GT(tally.io_errors.load(), 0u);
    EXPECT_GE(ok_after_restart, 200u);  // reconnected by itself
    EXPECT_GE(client.lane_connects(), 2u);
    EXPECT_LT(tally.longest_ms.load(), call_bound(command_timeout).count());
}

// CLIENT PAUSE WRITE holds SETs in flight on the server. The first SET is
// written alone; 7 more callers write theirs while it waits (several writes in
// flight on one connection; commands_written() says when each is out). Killing the connection fails exactly those 8; a
// caller that came before got its reply, and the next call reconnects.
TEST(PipelinedClient, ALostConnectionFailsExactlyTheCallersInFlight) {
    HeldWrites held("20000");
    auto& server = held.server;
    auto& client = held.client;
    const std::string& prefix = held.prefix;
    std::atomic<int> io_errors{0};
    std::atomic<int> ok{0};
    const auto set = [&](const std::string& key) {
        try {
            if (client.command(key, {"SET", key, "v"}).is_ok()) ok++;
        } catch (const IoError&) {
            io_errors++;
        }
    };
    const std::uint64_t written = client.commands_written();
    std::thread first([&] { set(prefix + "first"); });
    ASSERT_TRUE(wait_for_condition([&] { return client.commands_written() >= written + 1; }, progress_deadline));
    std::vector<std::thread> queued;
    for (int i = 0; i < 7; ++i) queued.emplace_back([&, i] { set(prefix + std::to_string(i)); });
    // Written, not answered: the pause holds them all.
    EXPECT_TRUE(wait_for_condition([&] { return client.commands_written() >= written + 8; }, progress_deadline));
    EXPECT_GE(client.round_trips(), 3u);  // the PING, the first SET, the others' write(s)
    EXPECT_EQ(io_errors.load() + ok.load(), 0);

    EXPECT_GE(server.raw({"CLIENT", "KILL", "TYPE", "normal"}).integer, 1);
    first.join();
    for (auto& t : queued) t.join();
    EXPECT_EQ(io_errors.load(), 8);
    EXPECT_EQ(ok.load(), 0);
    EXPECT_EQ(client.lane_connects(), 1u);
    EXPECT_FALSE(server.raw({"CLIENT", "UNPAUSE"}).is_error());
    EXPECT_TRUE(client.command(prefix + "next", {"SET", prefix + "next", "v"}).is_ok());
    EXPECT_EQ(client.lane_connects(), 2u);
}

// A caller whose deadline passes while its commands wait behind another
// caller's gives up alone, and the shared connection stays in step. The
// pause outlasts the connection's 10 s timeout and ends only when the test
// lifts it: had the caller waited for the connection to time out instead,
// the connection would have been dropped with A on it.
TEST(PipelinedClient, AWaitingCallerTimesOutAloneAndTheConnectionStaysInStep) {
    HeldWrites held("60000");
    auto& server = held.server;
    auto& client = held.client;
    const std::string& prefix = held.prefix;
    const std::uint64_t written = client.commands_written();
    std::atomic<bool> a_answered{false};
    std::thread writer([&] {
        EXPECT_TRUE(client.command(prefix + "a", {"SET", prefix + "a", "1"}).is_ok());
        a_answered = true;
    });
    ASSERT_TRUE(wait_for_condition([&] { return client.commands_written() >= written + 1; }, progress_deadline));
    // Queued behind the held SET, with a budget of 300 ms.
    const auto start = Clock::now();
    {
        dogpile::details::CallBudget::Scope scope(300ms);
        EXPECT_THROW(client.command(prefix + "b", {"GET", prefix + "a"}), dogpile::redis::TimeoutError);
    }
    // Gave up on its budget, before the connection's timeout and the pause.
    EXPECT_LT(Clock::now() - start, 10000ms);
    EXPECT_FALSE(a_answered.load());
    EXPECT_FALSE(server.raw({"CLIENT", "UNPAUSE"}).is_error());
    writer.join();
    EXPECT_EQ(client.command(prefix + "a", {"GET", prefix + "a"}).as_string(), "1");
    EXPECT_EQ(client.lane_connects(), 1u);
}

// A short budget must not cut the read short for the callers waiting on the
// same connection: the caller reading for everyone gives up alone and hands
// the reading over. B (3 s budget) and C (10 s) are written while CLIENT
// PAUSE holds them, past B's deadline; the test lifts the pause after.
TEST(PipelinedClient, AShortBudgetDoesNotFailTheCallersSharingItsWrite) {
    HeldWrites held("20000");
    auto& server = held.server;
    auto& client = held.client;
    const std::string& prefix = held.prefix;
    const std::uint64_t written = client.commands_written();
    std::atomic<bool> b_timed_out{false};
    std::atomic<std::uint64_t> written_when_b_gave_up{0};
    std::thread b([&] {
        dogpile::details::CallBudget::Scope scope(3000ms);
        try {
            client.command(prefix + "b", {"SET", prefix + "b", "1"});
        } catch (const dogpile::redis::TimeoutError&) {
            b_timed_out = true;
        }
        written_when_b_gave_up = client.commands_written();
    });
    // B written (and reading for everyone) before C comes.
    ASSERT_TRUE(wait_for_condition([&] { return client.commands_written() >= written + 1; }, progress_deadline));
    std::optional<Reply> c_reply;
    std::string c_error;
    std::thread c([&] {
        try {
            c_reply = client.command(prefix + "c", {"SET", prefix + "c", "1"});
        } catch (const std::exception& e) {
            c_error = e.what();
        }
    });
    b.join();  // its budget runs out while the pause holds its SET
    EXPECT_TRUE(b_timed_out.load());
    // C was written while B still read: B handed the reading over.
    EXPECT_GE(written_when_b_gave_up.load(), written + 2);
    EXPECT_FALSE(server.raw({"CLIENT", "UNPAUSE"}).is_error());
    c.join();
    ASSERT_TRUE(c_reply.has_value()) << c_error;
    EXPECT_TRUE(c_reply->is_ok());
    EXPECT_EQ(client.lane_connects(), 1u);  // B's deadline did not break the connection
    EXPECT_EQ(client.command(prefix + "b", {"GET", prefix + "b"}).as_string(), "1");
}

// Replies are read under the loosest ReplyLimitScope of the callers in
// flight; each caller's own limit applies to its replies alone. A held SET
// keeps the GETs of A and B and the MGET of C, all written, in flight behind
// it, so they are read together. A and C (limit 1000) get ReplyTooLarge for a
// 5000-byte value (C's inside an array), B (no limit of its own) its 5000
// bytes, and the connection stays in step.
TEST(PipelinedClient, EachCallersReplyLimitAppliesToItsOwnRepliesAlone) {
    HeldWrites held("20000");
    auto& server = held.server;
    auto& client = held.client;
    const std::string& prefix = held.prefix;
    const std::string big_a(5000, 'a');
    const std::string big_b(5000, 'b');
    EXPECT_FALSE(server.raw({"CLIENT", "UNPAUSE"}).is_error());
    ASSERT_TRUE(client.command("", {"SET", prefix + "a", big_a}).is_ok());
    ASSERT_TRUE(client.command("", {"SET", prefix + "b", big_b}).is_ok());
    EXPECT_FALSE(server.raw({"CLIENT", "PAUSE", "20000", "WRITE"}).is_error());

    std::uint64_t written = client.commands_written();
    std::vector<std::thread> callers;
    // Starts `call` and waits until its command is written.
    const auto written_alone = [&](std::function<void()> call) {
        callers.emplace_back(std::move(call));
        ASSERT_TRUE(wait_for_condition([&] { return client.commands_written() >= written + 1; }, progress_deadline));
        written = client.commands_written();
    };
    // What a caller under a limit of 1000 bytes got for `cmd`.
    const auto tight_call = [&](const Command& cmd, std::string& outcome) {
        const dogpile::redis::details::ReplyLimitScope tight(1000);
        try {
            client.command("", cmd);
            outcome = "a reply";
        } catch (const dogpile::redis::ReplyTooLarge& e) {
            outcome = std::string("ReplyTooLarge: ") + e.what();
        }
    };
    written_alone([&] { EXPECT_TRUE(client.command("", {"SET", prefix + "held", "1"}).is_ok()); });
    std::string a_outcome;
    std::string c_outcome;
    std::optional<Reply> b_reply;
    written_alone([&] { tight_call({"GET", prefix + "a"}, a_outcome); });
    written_alone([&] { b_reply = client.command("", {"GET", prefix + "b"}); });
    written_alone([&] { tight_call({"MGET", prefix + "held", prefix + "a"}, c_outcome); });
    EXPECT_FALSE(server.raw({"CLIENT", "UNPAUSE"}).is_error());
    for (auto& t : callers) t.join();
    EXPECT_EQ(a_outcome.rfind("ReplyTooLarge: ", 0), 0u) << a_outcome;
    EXPECT_EQ(c_outcome.rfind("ReplyTooLarge: ", 0), 0u) << c_outcome;
    ASSERT_TRUE(b_reply.has_value());
    EXPECT_EQ(b_reply->view(), big_b);
    EXPECT_EQ(client.command("", {"GET", prefix + "a"}).view(), big_a);
    EXPECT_EQ(client.lane_connects(), 1u);
}

// The shared connection has a circuit breaker like the pool's: failures open
// it, callers then fail fast (CircuitOpenError), and after probe_interval one
// probe closes it again.
TEST(PipelinedClient, TheBreakerOpensOnTheSharedConnectionAndAProbeClosesIt) {
    RedisServer server;
    PipelinedOptions o = options_for(server);
    o.pool.breaker.failure_threshold = 3;
    o.pool.breaker.probe_interval = 200ms;
    PipelinedClient client(o);
    EXPECT_EQ(client.command("", {"PING"}).status(), "PONG");
    server.kill();
    for (int i = 0; i < 3; ++i) EXPECT_THROW(client.command("", {"PING"}), IoError);
    EXPECT_EQ(client.breaker_stats().state, BreakerState::open);
    EXPECT_THROW(client.command("", {"PING"}), CircuitOpenError);
    EXPECT_GE(client.breaker_stats().rejected, 1u);
    server.start();
    EXPECT_TRUE(wait_for_condition(
        [&] {
            try {
                return client.command("", {"PING"}).status() == "PONG";
            } catch (const IoError&) {
                return false;
            }
        },
        5000ms));
    EXPECT_EQ(client.breaker_stats().state, BreakerState::closed);
    EXPECT_EQ(client.breaker_stats().closed, 1u);
}

// ------------------------------------------------------------ scripts

TEST(PipelinedClient, NoscriptIsRecoveredUnderLoad) {
    RedisServer server;
    PipelinedClient client(options_for(server, 5000ms));
    const Script echo("return KEYS[1] .. '|' .. ARGV[1]");
    std::atomic<bool> stop{false};
    std::atomic<int> flushes{0};
    Tally tally;
    Latch started(16);
    std::vector<std::thread> pool;
    for (int t = 0; t < 16; ++t) {
        pool.emplace_back([&, t] {
            started.count_down();
            for (int n = 0; !stop; ++n) {
                const std::string key = "k" + std::to_string(t);
                const std::string arg = std::to_string(n);
                counted_call(
                    tally, [&] { return client.eval(echo, {key}, {arg}); },
                    [&](const Reply& r) { return r.as_string() == key + "|" + arg; });
                std::vector<ScriptCall> calls{{{key}, {arg}}, {{key + "x"}, {arg}}};
                counted_call(
                    tally,
                    [&] {
                        const auto replies = client.eval_batch(echo, calls);
                        if (replies.at(0).as_string() != key + "|" + arg) tally.wrong.fetch_add(1);
                        return replies.at(1);
                    },
                    [&](const Reply& r) { return r.as_string() == key + "x|" + arg; });
            }
        });
    }
    started.wait();
    // Calls between every two flushes, however slow the machine.
    for (int i = 0; i < 50; ++i) {
        const std::uint64_t ok = tally.ok;
        if (!wait_for_condition([&] { return tally.ok >= ok + 10; }, progress_deadline)) break;
        if (!server.raw({"SCRIPT", "FLUSH"}).is_error()) flushes++;
    }
    stop = true;
    for (auto& th : pool) th.join();
    std::cout << "calls " << tally.calls() << " flushes " << flushes << "\n";
    EXPECT_EQ(flushes.load(), 50);
    EXPECT_EQ(tally.wrong.load(), 0u);
    EXPECT_EQ(tally.io_errors.load(), 0u);
    EXPECT_EQ(tally.other_errors.load(), 0u);
    EXPECT_GE(tally.ok.load(), 500u);
}

}  // namespace
