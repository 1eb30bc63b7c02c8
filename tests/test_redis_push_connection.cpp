// PushConnection's own contract, against a real server: it speaks to the
// server as a Connection does (AUTH as an ACL user, refused credentials are
// an AuthError), receives a channel's messages and its PING answers, refuses
// request/reply commands once subscribed, stops waiting when woken, and a
// write after the server closed the connection is an IoError, not a SIGPIPE.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/redis/errors.hpp>
#include <dogpile/redis/push_connection.hpp>

#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::ConfigurationError;
using dogpile::redis::AuthError;
using dogpile::redis::Command;
using dogpile::redis::ConnectionOptions;
using dogpile::redis::IoError;
using dogpile::redis::PushConnection;
using dogpile::redis::PushedMessage;
using dogpile::redis::details::WakePipe;
using dogpile::test::RedisAclUser;
using dogpile::test::RedisServer;
using dogpile::test::RedisServerOptions;

using Clock = std::chrono::steady_clock;
constexpr auto deadline = std::chrono::milliseconds(10000);

// The next push within `deadline`, or nullopt.
std::optional<PushedMessage> next_push(PushConnection& push, WakePipe& wake) {
    const auto until = Clock::now() + deadline;
    while (Clock::now() < until) {
        if (auto pushed = push.next_buffered()) return pushed;
        push.receive(100ms, wake);
    }
    return std::nullopt;
}

// Publishes until the subscriber has seen a message (PUBLISH reaches only
// current subscribers, and SUBSCRIBE has been confirmed, so once is enough).
void publish(const RedisServer& server, const std::string& channel, const std::string& payload) {
    const auto r = server.raw({"PUBLISH", channel, payload});
    ASSERT_FALSE(r.is_error()) << r.str;
    ASSERT_EQ(r.integer, 1) << "one subscriber expected on " << channel;
}

// A subscribed connection that the server has just closed (CLIENT KILL).
PushConnection closed_by_the_server(const RedisServer& server) {
    PushConnection push(server.options());
    const long long id = push.command({"CLIENT", "ID"}).as_integer();
    push.subscribe("doomed");
    const auto killed = server.raw({"CLIENT", "KILL", "ID", std::to_string(id)});
    EXPECT_EQ(killed.integer, 1) << killed.str;
    return push;
}

TEST(PushConnection, ReceivesTheMessagesOfItsChannel) {
    auto& server = RedisServer::shared();
    WakePipe wake;
    PushConnection push(server.options());
    push.subscribe("news");
    publish(server, "news", std::string("binary\0payload", 14));
    const auto pushed = next_push(push, wake);
    ASSERT_TRUE(pushed);
    ASSERT_EQ(pushed->kind(), PushedMessage::Kind::message);
    EXPECT_EQ(pushed->channel(), "news");
    EXPECT_EQ(pushed->payload().view(), std::string_view("binary\0payload", 14));
    EXPECT_FALSE(push.next_buffered());
}

TEST(PushConnection, AnswersAPingSentWhileSubscribedAmongTheMessages) {
    auto& server = RedisServer::shared();
    WakePipe wake;
    PushConnection push(server.options());
    push.subscribe("pings");
    push.send(Command{"PING"});
    const auto pushed = next_push(push, wake);
    ASSERT_TRUE(pushed);
    EXPECT_EQ(pushed->kind(), PushedMessage::Kind::pong);
}

TEST(PushConnection, RefusesRequestReplyCommandsOnceSubscribed) {
    auto& server = RedisServer::shared();
    PushConnection push(server.options());
    EXPECT_GT(push.command({"CLIENT", "ID"}).as_integer(), 0) << "before subscribe() it is a plain connection";
    push.subscribe("quiet");
    EXPECT_THROW(push.command({"CLIENT", "ID"}), ConfigurationError);
    EXPECT_THROW(push.subscribe("another"), ConfigurationError);
}

TEST(PushConnection, AWakeUpEndsTheWaitAtOnce) {
    auto& server = RedisServer::shared();
    WakePipe wake;
    PushConnection push(server.options());
    push.subscribe("silence");
    auto waker = std::async(std::launch::async, [&] {
        std::this_thread::sleep_for(50ms);
        wake.wake();
    });
    const auto start = Clock::now();
    push.receive(std::chrono::hours(1), wake);
    EXPECT_LT(Clock::now() - start, deadline) << "receive() ignored the wake-up";
    waker.get();
    EXPECT_FALSE(push.next_buffered());
}

TEST(PushConnection, AuthenticatesAsAnAclUserAndRefusesAWrongPassword) {
    RedisServerOptions so;
    so.password = "admin-secret";
    so.acl_users.push_back(RedisAclUser{"listener", "listener-secret", {"&news", "+subscribe", "+ping"}});
    RedisServer server(so);
    WakePipe wake;

    ConnectionOptions o = server.options();
    o.username = "listener";
    o.password = "listener-secret";
    PushConnection push(o);
    push.subscribe("news");
    publish(server, "news", "hello");
    const auto pushed = next_push(push, wake);
    ASSERT_TRUE(pushed);
    EXPECT_EQ(pushed->payload().view(), "hello");

    o.password = "wrong";
    EXPECT_THROW(PushConnection{o}, AuthError);
}

// SIGPIPE's default action would kill this test binary: the write must fail
// with EPIPE instead, reported as an IoError, and the connection stay lost.
TEST(PushConnection, WritingAfterTheServerClosedItIsAnIoErrorNotSigpipe) {
    WakePipe wake;
    PushConnection push = closed_by_the_server(RedisServer::shared());
    // The first write after the close may still be accepted by the kernel;
    // the peer's reset makes a later one fail.
    EXPECT_THROW(
        {
            for (int i = 0; i < 1000; ++i) {
                push.send(Command{"PING"});
                std::this_thread::sleep_for(5ms);
            }
        },
        IoError);
    EXPECT_THROW(push.send(Command{"PING"}), IoError);
    EXPECT_THROW(
        {
            (void)push.next_buffered();
            push.receive(10ms, wake);
        },
        IoError);
}

TEST(PushConnection, NoticesThatTheServerClosedIt) {
    WakePipe wake;
    PushConnection push = closed_by_the_server(RedisServer::shared());
    EXPECT_THROW(
        {
            const auto until = Clock::now() + deadline;
            while (Clock::now() < until) {
                (void)push.next_buffered();
                push.receive(100ms, wake);
            }
        },
        IoError);
}

}  // namespace
