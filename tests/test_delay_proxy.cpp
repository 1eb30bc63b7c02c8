// DelayProxy (tests/support/delay_proxy.hpp), the slow network of the tests
// and benchmarks: bytes arrive intact and in order, each direction adds at
// least its delay, a pipelined batch is forwarded as one stream, many
// connections stay apart, and the proxy stops cleanly with live connections.
//
// The clients are plain hiredis, independent of the library under test. The
// timing checks are lower bounds only (the delay is a minimum a slow
// scheduler cannot break); how close the proxy gets to its delay is measured
// by bench/delay_proxy_bench.cpp.

#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/redis.hpp>

#include "support/delay_proxy.hpp"
#include "support/latch.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::test::DelayProxy;
using dogpile::test::DelayProxyOptions;
using dogpile::test::Latch;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;
using dogpile::test::RedisServerOptions;
using dogpile::test::redis_server_details::ContextPtr;
using dogpile::test::redis_server_details::raw_on;
using Clock = std::chrono::steady_clock;

// Microseconds since `started`, as a number gtest prints readably.
long long microseconds_since(Clock::time_point started) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
}

RedisServerOptions tcp_only() {
    RedisServerOptions options;
    options.listen = RedisServerOptions::Listen::Tcp;
    return options;
}

RedisServer& server() {
    static RedisServer instance(tcp_only());
    return instance;
}

DelayProxyOptions to_server(std::chrono::microseconds one_way_delay, int threads = 1) {
    DelayProxyOptions options;
    options.target_port = server().port();
    options.one_way_delay = one_way_delay;
    options.threads = threads;
    return options;
}

// A hiredis connection with a generous timeout: a proxy that loses a reply
// fails the test after 30 s instead of hanging it.
ContextPtr connect(int port) {
    const timeval timeout{30, 0};
    ContextPtr context(redisConnectWithTimeout("127.0.0.1", port, timeout));
    if (context == nullptr || context->err != 0) {
        throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    redisSetTimeout(context.get(), timeout);
    return context;
}

// Reads one reply of a pipeline; nullopt when the connection failed.
std::optional<RawReply> read_reply(redisContext* context) {
    void* reply = nullptr;
    if (redisGetReply(context, &reply) != REDIS_OK || reply == nullptr) return std::nullopt;
    RawReply out = dogpile::test::redis_server_details::copy_reply(static_cast<redisReply*>(reply));
    freeReplyObject(reply);
    return out;
}

TEST(DelayProxy, ForwardsCommandsAndReplies) {
    DelayProxy proxy(to_server(1ms));
    auto context = connect(proxy.port());
    EXPECT_EQ(raw_on(context.get(), {"PING"}).str, "PONG");
    EXPECT_EQ(raw_on(context.get(), {"SET", "delay-proxy:forward", "value"}).str, "OK");
    EXPECT_EQ(raw_on(context.get(), {"GET", "delay-proxy:forward"}).str, "value");
    EXPECT_TRUE(raw_on(context.get(), {"GET", "delay-proxy:missing"}).is_nil());
    EXPECT_TRUE(raw_on(context.get(), {"NOSUCHCOMMAND"}).is_error());
}

TEST(DelayProxy, ZeroDelayForwardsToo) {
    DelayProxy proxy(to_server(0us));
    auto context = connect(proxy.port());
    EXPECT_EQ(raw_on(context.get(), {"SET", "delay-proxy:zero", "v"}).str, "OK");
    EXPECT_EQ(raw_on(context.get(), {"GET", "delay-proxy:zero"}).str, "v");
}

TEST(DelayProxy, TheLibraryClientWorksThroughIt) {
    DelayProxy proxy(to_server(500us));
    auto client = dogpile::redis::make_client(proxy.url());
    client->command("delay-proxy:client", {"SET", "delay-proxy:client", "through"});
    EXPECT_EQ(client->command("delay-proxy:client", {"GET", "delay-proxy:client"}).as_string(), "through");
}

// Both directions are delayed: a round trip takes at least twice the delay.
TEST(DelayProxy, ARoundTripTakesAtLeastBothDelays) {
    constexpr auto one_way = 20ms;
    DelayProxy proxy(to_server(one_way));
    auto context = connect(proxy.port());
    for (int i = 0; i < 5; ++i) {
        const auto started = Clock::now();
        EXPECT_EQ(raw_on(context.get(), {"PING"}).str, "PONG");
        EXPECT_GE(microseconds_since(started), std::chrono::microseconds(2 * one_way).count());
    }
}

// 100 pipelined commands, each in a write of its own (so the proxy holds
// many chunks at once), come back right and in order, and take at least one
// added round trip (the bench shows it is about one, not 100).
TEST(DelayProxy, APipelinedBatchIsForwardedInOrder) {
    constexpr auto one_way = 10ms;
    constexpr int kCommands = 100;
    DelayProxy proxy(to_server(one_way));
    auto direct = connect(server().port());
    for (int i = 0; i < kCommands; ++i) {
        const std::string key = "delay-proxy:batch:" + std::to_string(i);
        ASSERT_EQ(raw_on(direct.get(), {"SET", key, "value-" + std::to_string(i)}).str, "OK");
    }
    auto context = connect(proxy.port());
    const auto started = Clock::now();
    for (int i = 0; i < kCommands; ++i) {
        const std::string key = "delay-proxy:batch:" + std::to_string(i);
        ASSERT_EQ(redisAppendCommand(context.get(), "GET %b", key.data(), key.size()), REDIS_OK);
        int written_all = 0;
        ASSERT_EQ(redisBufferWrite(context.get(), &written_all), REDIS_OK);
    }
    for (int i = 0; i < kCommands; ++i) {
        const auto reply = read_reply(context.get());
        ASSERT_TRUE(reply.has_value()) << "reply " << i << ": " << context->errstr;
        EXPECT_EQ(reply->str, "value-" + std::to_string(i));
    }
    EXPECT_GE(microseconds_since(started), std::chrono::microseconds(2 * one_way).count());
}

class DelayProxyLargeValues : public ::testing::TestWithParam<std::size_t> {};

// Values far larger than a socket buffer, with the default per-direction cap
// (many chunks queued at once) and with one small enough that the proxy must
// stop reading and resume: nothing lost, torn or reordered.
TEST_P(DelayProxyLargeValues, SurviveIntactInBothDirections) {
    auto options = to_server(200us);
    options.max_queued_bytes_per_direction = GetParam();
    DelayProxy proxy(options);
    auto context = connect(proxy.port());
    std::string value(3 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + (i * 7919) % 26);
    for (int round = 0; round < 3; ++round) {
        const std::string key = "delay-proxy:large:" + std::to_string(round);
        ASSERT_EQ(raw_on(context.get(), {"SET", key, value}).str, "OK");
        ASSERT_EQ(raw_on(context.get(), {"GET", key}).str, value);
    }
}

INSTANTIATE_TEST_SUITE_P(QueueCaps, DelayProxyLargeValues,
                         ::testing::Values(DelayProxyOptions{}.max_queued_bytes_per_direction, std::size_t{16 * 1024}),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                             return std::to_string(info.param / 1024) + "KiB";
                         });

class DelayProxyConcurrency : public ::testing::TestWithParam<int> {};

// 64 connections at once, each reading its own key 100 times: every reply
// is its own connection's value (counted exactly), none lost.
TEST_P(DelayProxyConcurrency, ConnectionsStayApart) {
    constexpr int kConnections = 64;
    constexpr int kReads = 100;
    DelayProxy proxy(to_server(100us, GetParam()));
    for (int c = 0; c < kConnections; ++c) {
        raw_on(connect(server().port()).get(),
               {"SET", "delay-proxy:own:" + std::to_string(c), "value-of-" + std::to_string(c)});
    }
    std::vector<ContextPtr> contexts;
    for (int c = 0; c < kConnections; ++c) contexts.push_back(connect(proxy.port()));

    Latch start(kConnections);
    std::atomic<int> right{0};
    std::atomic<int> wrong{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < kConnections; ++c) {
        threads.emplace_back([&, c] {
            const std::string key = "delay-proxy:own:" + std::to_string(c);
            const std::string expected = "value-of-" + std::to_string(c);
            start.arrive_and_wait();
            for (int i = 0; i < kReads; ++i) {
                try {
                    (raw_on(contexts[static_cast<std::size_t>(c)].get(), {"GET", key}).str == expected ? right : wrong)
                        .fetch_add(1);
                } catch (const std::exception&) {
                    failed.fetch_add(1);
                    return;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(right.load(), kConnections * kReads);
    EXPECT_EQ(proxy.connections_accepted(), static_cast<std::uint64_t>(kConnections));
}

INSTANTIATE_TEST_SUITE_P(Loops, DelayProxyConcurrency, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                             return std::to_string(info.param) + "Threads";
                         });

// A client that closes its connection closes the proxy's connection to the
// server too: the server's client count drops back.
TEST(DelayProxy, AClosedClientClosesTheServerSide) {
    RedisServer own_server(tcp_only());  // no other test's connections in its count
    auto options = to_server(1ms);
    options.target_port = own_server.port();
    DelayProxy proxy(options);
    auto watcher = connect(own_server.port());
    const auto connected_clients = [&] {
        const std::string info = raw_on(watcher.get(), {"INFO", "clients"}).str;
        const auto at = info.find("connected_clients:");
        return std::stoi(info.substr(at + std::strlen("connected_clients:")));
    };
    const int before = connected_clients();
    {
        auto context = connect(proxy.port());
        EXPECT_EQ(raw_on(context.get(), {"PING"}).str, "PONG");
        EXPECT_EQ(connected_clients(), before + 1);
    }
    EXPECT_TRUE(dogpile::test::wait_for_condition([&] { return connected_clients() == before; }, 30s));
}

// A command sent while the target is unreachable fails instead of hanging.
TEST(DelayProxy, AnUnreachableTargetClosesTheClient) {
    DelayProxyOptions options;
    options.target_port = dogpile::test::redis_server_details::pick_free_port();  // nothing listens there
    DelayProxy proxy(options);
    auto context = connect(proxy.port());
    EXPECT_EQ(redisCommand(context.get(), "PING"), nullptr);
    EXPECT_NE(context->err, 0);
}

// cut_connections() fails the connections open then; new ones work.
TEST(DelayProxy, CutConnectionsFailsOpenConnectionsOnly) {
    DelayProxy proxy(to_server(200us));
    auto before = connect(proxy.port());
    EXPECT_EQ(raw_on(before.get(), {"PING"}).str, "PONG");
    proxy.cut_connections();
    EXPECT_EQ(redisCommand(before.get(), "PING"), nullptr);
    auto after = connect(proxy.port());
    EXPECT_EQ(raw_on(after.get(), {"PING"}).str, "PONG");
}

// Destroying the proxy with connections open and replies in flight returns
// (the join is bounded by the latch's wait) and the clients see the
// connection closed rather than waiting for a reply.
TEST(DelayProxy, DestructionWithLiveConnectionsDoesNotHang) {
    std::signal(SIGPIPE, SIG_IGN);
    // A delay far longer than the test: every PING is still in the proxy.
    auto proxy = std::make_unique<DelayProxy>(to_server(std::chrono::seconds(600), 2));
    std::vector<ContextPtr> contexts;
    for (int c = 0; c < 8; ++c) {
        contexts.push_back(connect(proxy->port()));
        ASSERT_EQ(redisAppendCommand(contexts.back().get(), "PING"), REDIS_OK);
        int done = 0;
        ASSERT_EQ(redisBufferWrite(contexts.back().get(), &done), REDIS_OK);
    }
    Latch destroyed(1);
    std::thread destroyer([&] {
        proxy.reset();
        destroyed.count_down();
    });
    const bool returned = destroyed.wait_for(60s);
    if (!returned) destroyer.detach();  // the test fails; do not hang the process on join
    ASSERT_TRUE(returned) << "~DelayProxy did not return";
    destroyer.join();
    for (auto& context : contexts) {
        // The PING's reply was still in the proxy: the connection ends without it.
        EXPECT_FALSE(read_reply(context.get()).has_value());
    }
}

}  // namespace
