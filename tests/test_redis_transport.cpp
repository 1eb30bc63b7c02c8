// The transport a Connection owns (redis/details/socket_stream.hpp), against a
// real redis-server: TCP and unix socket round trips, every address of a
// name tried, connect and read timeouts, a peer that has gone (IoError, never
// SIGPIPE), a server killed while a reply is awaited or half sent, and the
// call budget of details/call_budget.hpp: a spent budget sends nothing and
// leaves the connection usable, a budget shorter than command_timeout cuts
// the wait.

#include <gtest/gtest.h>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/details/call_budget.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/details/socket_stream.hpp>

#include "support/message_of.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::details::CallBudget;
using dogpile::redis::Command;
using dogpile::redis::Connection;
using dogpile::redis::ConnectionOptions;
using dogpile::redis::IoError;
using dogpile::redis::TimeoutError;
using dogpile::test::message_of;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;

using dogpile::test::contains;

long long commands_processed(const RedisServer& server) {
    Connection info(server.options());
    const std::string text = info.command({"INFO", "stats"}).as_string();
    const std::string field = "total_commands_processed:";
    const auto at = text.find(field);
    if (at == std::string::npos) throw std::runtime_error("INFO stats without " + field);
    return std::stoll(text.substr(at + field.size()));
}

// A TCP listener on a free loopback port that never accepts.
class Listener {
public:
    explicit Listener(int backlog) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, backlog) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw std::runtime_error(std::string("listener: ") + std::strerror(errno));
        }
        port_ = ntohs(addr.sin_port);
    }
    ~Listener() {
        for (int fd : fillers_) ::close(fd);
        ::close(fd_);
    }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    int port() const noexcept { return port_; }
    int fd() const noexcept { return fd_; }

    // Fills the accept queue, so the next connect is never answered.
    void fill_backlog() {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        for (int i = 0; i < 4; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
            fillers_.push_back(fd);
        }
    }

private:
    int fd_ = -1;
    int port_ = 0;
    std::vector<int> fillers_;
};

// A loopback port nobody listens on: connecting to it is refused.
int refusing_port() {
    Listener l(1);
    return l.port();  // closed again when `l` goes
}

sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
}

// ------------------------------------------------------------- round trips

TEST(RedisTransport, RoundTripOverTcpAndUnixSocket) {
    RedisServer& server = RedisServer::shared();
    for (const ConnectionOptions& o : {server.options(), server.unix_options()}) {
        Connection c(o);
        c.command({"SET", "transport:k", std::string("a\0b\r\n", 5)});
        EXPECT_EQ(c.command({"GET", "transport:k"}).as_string(), std::string("a\0b\r\n", 5));
        const auto before = c.round_trips();
        const auto replies = c.pipeline({Command{"PING"}, Command{"ECHO", "x"}, Command{"GET", "transport:k"}});
        EXPECT_EQ(c.round_trips(), before + 1);
        ASSERT_EQ(replies.size(), 3u);
        EXPECT_EQ(replies[1].as_string(), "x");
        EXPECT_TRUE(c.usable_after_idle());
        EXPECT_GE(c.fd(), 0);
    }
}

TEST(RedisTransport, EveryAddressIsTriedUntilOneAccepts) {
    RedisServer& server = RedisServer::shared();
    // A resolver answer whose first address refuses and whose second is the server.
    sockaddr_in refused = loopback(refusing_port());
    sockaddr_in served = loopback(server.port());
    addrinfo second{};
    second.ai_family = AF_INET;
    second.ai_socktype = SOCK_STREAM;
    second.ai_addr = reinterpret_cast<sockaddr*>(&served);
    second.ai_addrlen = sizeof served;
    addrinfo first = second;
    first.ai_addr = reinterpret_cast<sockaddr*>(&refused);
    first.ai_next = &second;

    const int fd = dogpile::redis::details::connect_any_address(&first, std::chrono::steady_clock::now() + 10s);
    ASSERT_GE(fd, 0);
    dogpile::redis::details::PlainStream stream(fd);
    stream.write_all("PING\r\n", std::chrono::steady_clock::now() + 10s);
    char buffer[16];
    const std::size_t n = stream.read_some(buffer, sizeof buffer, std::chrono::steady_clock::now() + 10s);
    EXPECT_EQ(std::string(buffer, n), "+PONG\r\n");

    // Only refusing addresses: an IoError naming each of them.
    second.ai_addr = reinterpret_cast<sockaddr*>(&refused);
    const std::string message = message_of<IoError>(
        [&] { dogpile::redis::details::connect_any_address(&first, std::chrono::steady_clock::now() + 10s); });
    EXPECT_TRUE(contains(message, "Connection refused")) << message;
    EXPECT_NE(message.find(','), std::string::npos) << message;  // two addresses listed
}

TEST(RedisTransport, ANameIsResolved) {
    RedisServer& server = RedisServer::shared();
    ConnectionOptions o = server.options();
    o.host = "localhost";
    Connection c(o);
    EXPECT_EQ(c.command({"PING"}).status(), "PONG");
}

TEST(RedisTransport, BytesReadButNotParsedMakeAnIdleConnectionUnusable) {
    Connection c(RedisServer::shared().options());
    c.send_without_reply(Command{"PING"});  // its +PONG is unsolicited for command()
    c.read_available();
    EXPECT_FALSE(c.usable_after_idle());
    const auto pong = c.next_buffered_reply();
    ASSERT_TRUE(pong);
    EXPECT_EQ(pong->status(), "PONG");
    EXPECT_TRUE(c.usable_after_idle());
}

// ---------------------------------------------------------------- timeouts

TEST(RedisTransport, ConnectToAListenerThatNeverAnswersTimesOut) {
    Listener listener(0);
    listener.fill_backlog();
    ConnectionOptions o;
    o.port = listener.port();
    o.connect_timeout = 200ms;
    const std::string message = message_of<TimeoutError>([&] { Connection c(o); });
    EXPECT_TRUE(contains(message, "connect timed out after 200 ms")) << message;
}

TEST(RedisTransport, ReadAgainstAPausedServerTimesOut) {
    RedisServer server;
    ConnectionOptions o = server.options();
    o.command_timeout = 200ms;
    Connection c(o);
    server.pause();
    const std::string message = message_of<TimeoutError>([&] { c.command({"PING"}); });
    server.resume();
    EXPECT_TRUE(contains(message, "PING timed out after 200 ms")) << message;
    EXPECT_TRUE(c.broken());  // the late PONG may still arrive
    EXPECT_THROW(c.command({"PING"}), IoError);
    c.reconnect();
    EXPECT_EQ(c.command({"PING"}).status(), "PONG");
}

// -------------------------------------------------------------- lost peers

TEST(RedisTransport, WritingToAClosedConnectionIsAnIoErrorNotSigpipe) {
    RedisServer& server = RedisServer::shared();
    Connection c(server.options());
    const long long id = c.command({"CLIENT", "ID"}).as_integer();
    Connection killer(server.options());
    killer.command(Command{"CLIENT", "KILL", "ID"}.arg(id));
    // The first write after the close may still be accepted by the kernel;
    // once the peer's reset arrived, send() fails with EPIPE, which without
    // MSG_NOSIGNAL would kill this process.
    std::string last;
    const bool failed = wait_for_condition(
        [&] {
            try {
                c.send_without_reply(Command{"PING"});
                return false;
            } catch (const IoError& e) {
                last = e.what();
                return true;
            }
        },
        10s);
    ASSERT_TRUE(failed);
    EXPECT_TRUE(contains(last, "PING failed")) << last;
    EXPECT_TRUE(c.broken());
}

TEST(RedisTransport, ServerKilledWhileAReplyIsAwaited) {
    RedisServer server;
    ConnectionOptions o = server.options();
    o.command_timeout = 60s;
    Connection c(o);
    Connection other(o);
    const long long id = c.command({"CLIENT", "ID"}).as_integer();
    std::string message;
    std::thread waiter([&] { message = message_of<IoError>([&] { c.command({"BLPOP", "transport:never", "0"}); }); });
    // Killed once the BLPOP is blocked on the server.
    ASSERT_TRUE(wait_for_condition(
        [&] {
            const std::string list = other.command({"CLIENT", "LIST"}).as_string();
            return contains(list, "id=" + std::to_string(id) + " ") && contains(list, "cmd=blpop");
        },
        10s));
    server.kill();
    waiter.join();
    EXPECT_TRUE(contains(message, "server closed the connection")) << message;
    EXPECT_TRUE(c.broken());
}

TEST(RedisTransport, PeerClosingInTheMiddleOfAReplyIsAnIoError) {
    // A peer that sends half a bulk string and closes: the byte-level fault
    // a server killed mid-reply leaves behind, made deterministic.
    Listener listener(4);
    ConnectionOptions o;
    o.port = listener.port();
    o.command_timeout = 10s;
    std::thread peer([&] {
        const int fd = ::accept(listener.fd(), nullptr, nullptr);
        char buffer[256];
        (void)::recv(fd, buffer, sizeof buffer, 0);  // the GET
        const char half[] = "$10\r\nabc";
        (void)::send(fd, half, sizeof half - 1, MSG_NOSIGNAL);
        ::close(fd);
    });
    Connection c(o);
    const std::string message = message_of<IoError>([&] { c.command({"GET", "k"}); });
    peer.join();
    EXPECT_TRUE(contains(message, "GET failed: server closed the connection")) << message;
    EXPECT_TRUE(c.broken());
}

// ------------------------------------------------------------- call budget

TEST(RedisTransport, ASpentBudgetSendsNothingAndKeepsTheConnection) {
    RedisServer server;
    Connection c(server.options());
    const long long before = commands_processed(server);
    std::string message;
    {
        CallBudget::Scope scope(CallBudget::duration::zero());
        message = message_of<TimeoutError>([&] { c.command({"SET", "transport:budget", "1"}); });
        EXPECT_THROW(c.pipeline({Command{"PING"}, Command{"PING"}}), TimeoutError);
    }
    // One more: the INFO that read `before`; nothing of ours arrived.
    EXPECT_EQ(commands_processed(server), before + 1);
    EXPECT_TRUE(contains(message, "not sent: the call's Redis time budget is spent")) << message;
    EXPECT_FALSE(c.broken());
    EXPECT_TRUE(c.usable_after_idle());
    EXPECT_TRUE(c.command({"GET", "transport:budget"}).is_nil());
}

TEST(RedisTransport, ABudgetShorterThanTheTimeoutCutsTheWait) {
    RedisServer server;
    ConnectionOptions o = server.options();
    o.command_timeout = 60s;  // never reached: the budget is
    Connection c(o);
    server.pause();
    std::string message;
    CallBudget::duration left{};
    {
        CallBudget::Scope scope(100ms);
        message = message_of<TimeoutError>([&] { c.command({"PING"}); });
        left = *CallBudget::remaining(o.command_timeout);
    }
    server.resume();
    EXPECT_TRUE(contains(message, "PING timed out: the call's Redis time budget is spent")) << message;
    EXPECT_EQ(left, CallBudget::duration::zero());
    EXPECT_TRUE(c.broken());
}

TEST(RedisTransport, ABudgetBoundsTheConnectToo) {
    Listener listener(0);
    listener.fill_backlog();
    ConnectionOptions o;
    o.port = listener.port();
    o.connect_timeout = 60s;
    CallBudget::Scope scope(100ms);
    const std::string message = message_of<TimeoutError>([&] { Connection c(o); });
    EXPECT_TRUE(contains(message, "connect timed out: the call's Redis time budget is spent")) << message;
    EXPECT_EQ(*CallBudget::remaining(o.command_timeout), CallBudget::duration::zero());
    // With nothing left, no connect is attempted at all.
    const std::string second = message_of<TimeoutError>([&] { Connection c(o); });
    EXPECT_TRUE(contains(second, "connect not attempted")) << second;
}

TEST(RedisTransport, RoundTripsOutsideABudgetAreNotCharged) {
    RedisServer& server = RedisServer::shared();
    Connection c(server.options());
    EXPECT_FALSE(CallBudget::remaining(1s).has_value());
    c.command({"PING"});
    CallBudget::Scope scope(10s);
    c.command({"PING"});
    const auto left = *CallBudget::remaining(1s);
    EXPECT_LT(left, 10s);  // charged what the round trip waited
    EXPECT_GT(left, CallBudget::duration::zero());
}

}  // namespace
