// The Redis client layer against a real redis-server: URLs, replies,
// binary safety, AUTH/ACL/SELECT, timeouts, pipelining in one round trip,
// NOSCRIPT recovery, the pool (bounds, healing, concurrency) and the Client.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/details/sha1.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/details/group_positions.hpp>
#include <dogpile/redis/details/interval_gate.hpp>
#include <dogpile/redis/details/multi_key.hpp>

#include "support/latch.hpp"
#include "support/redis_server.hpp"
#include "support/message_of.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::redis::AuthError;
using dogpile::redis::Client;
using dogpile::redis::Command;
using dogpile::redis::Connection;
using dogpile::redis::ConnectionOptions;
using dogpile::redis::ConnectionPool;
using dogpile::redis::IoError;
using dogpile::redis::KeyedCommand;
using dogpile::redis::Pipeline;
using dogpile::test::wait_for_condition;
using dogpile::redis::PoolOptions;
using dogpile::redis::PoolTimeout;
using dogpile::redis::ProtocolError;
using dogpile::redis::Reply;
using dogpile::redis::ReplyError;
using dogpile::redis::Script;
using dogpile::redis::ScriptCall;
using dogpile::redis::TimeoutError;
using dogpile::test::RedisServer;
using dogpile::test::RedisServerOptions;

// Fails the test (instead of passing vacuously) when `fn` does not throw E,
// and returns the message for further checks.
using dogpile::test::message_of;

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(byte(gen));
    return out;
}

// ---------------------------------------------------------------- SHA-1

TEST(Sha1, KnownVectors) {
    using dogpile::details::sha1_hex;
    EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    EXPECT_EQ(sha1_hex("The quick brown fox jumps over the lazy dog"), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
    EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    EXPECT_EQ(sha1_hex(std::string("a\0b", 3)), "4a3dec2d1f8245280855c42db0ee4239f917fdb8");
    std::string all_bytes;
    for (int r = 0; r < 4; ++r) {
        for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
    }
    EXPECT_EQ(sha1_hex(all_bytes), "5b00669c480d5cffbdfa8bdba99561160f2d1b77");
    const auto raw = dogpile::details::sha1("abc");
    EXPECT_EQ(raw[0], 0xa9);
    EXPECT_EQ(raw[19], 0x9d);
}

// Redis names scripts by SHA-1 too: lengths 0..140 cover every padding case
// (tails of 55, 56 and 64 bytes, one and two extra blocks).
TEST(Sha1, MatchesRedisScriptLoadForEveryTailLength) {
    auto& server = RedisServer::shared();
    for (std::size_t n = 0; n <= 140; ++n) {
        const std::string source = "return '" + std::string(n, 'x') + "'";
        const auto reply = server.raw({"SCRIPT", "LOAD", source});
        ASSERT_FALSE(reply.is_error()) << reply.str;
        EXPECT_EQ(dogpile::details::sha1_hex(source), reply.str) << "length " << source.size();
        EXPECT_EQ(Script(source).sha1(), reply.str);
    }
}

// ---------------------------------------------------------------- URLs

TEST(ConnectionUrl, ParsesTcpForms) {
    auto o = ConnectionOptions::from_url("redis://cache.example");
    EXPECT_EQ(o.host, "cache.example");
    EXPECT_EQ(o.port, 6379);
    EXPECT_EQ(o.db, 0);
    EXPECT_TRUE(o.unix_socket.empty());
    EXPECT_TRUE(o.username.empty());
    EXPECT_FALSE(o.password.has_value());

    o = ConnectionOptions::from_url("redis://10.1.2.3:6380/2");
    EXPECT_EQ(o.host, "10.1.2.3");
    EXPECT_EQ(o.port, 6380);
    EXPECT_EQ(o.db, 2);

    o = ConnectionOptions::from_url("redis://:s3cret@h:1/");
    EXPECT_EQ(o.password, "s3cret");
    EXPECT_TRUE(o.username.empty());
    EXPECT_EQ(o.port, 1);
    EXPECT_EQ(o.db, 0);

    o = ConnectionOptions::from_url("redis://alice:p%40ss%3Aw%2Fd%20x@h:65535/15");
    EXPECT_EQ(o.username, "alice");
    EXPECT_EQ(o.password, "p@ss:w/d x");
    EXPECT_EQ(o.port, 65535);
    EXPECT_EQ(o.db, 15);

    o = ConnectionOptions::from_url("redis://[::1]:6390");
    EXPECT_EQ(o.host, "::1");
    EXPECT_EQ(o.port, 6390);
    EXPECT_EQ(o.describe(), "redis://[::1]:6390");

    o = ConnectionOptions::from_url("redis://h?db=3&connect_timeout=250&command_timeout=1500&client_name=worker-1");
    EXPECT_EQ(o.db, 3);
    EXPECT_EQ(o.connect_timeout, 250ms);
    EXPECT_EQ(o.command_timeout, 1500ms);
    EXPECT_EQ(o.client_name, "worker-1");

    o = ConnectionOptions::from_url("redis://:@h");
    EXPECT_FALSE(o.password.has_value());
}

TEST(ConnectionUrl, ParsesUnixForms) {
    auto o = ConnectionOptions::from_url("unix:///var/run/redis/redis.sock");
    EXPECT_EQ(o.unix_socket, "/var/run/redis/redis.sock");
    EXPECT_EQ(o.db, 0);

    o = ConnectionOptions::from_url("unix:///tmp/r.sock?db=4");
    EXPECT_EQ(o.unix_socket, "/tmp/r.sock");
    EXPECT_EQ(o.db, 4);

    o = ConnectionOptions::from_url("unix://:pw@/tmp/r.sock");
    EXPECT_EQ(o.unix_socket, "/tmp/r.sock");
    EXPECT_EQ(o.password, "pw");
    EXPECT_EQ(o.describe(), "unix:///tmp/r.sock");
}

TEST(ConnectionUrl, RejectsMalformedUrlsWithClearMessages) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"localhost:6379", "expected redis://host"},
        {"http://h", "unknown scheme 'http'"},
        {"rediss://h:6380?min_tls=1.0", "bad min_tls '1.0'"},
        {"redis://h?ca_file=/ca.pem", "'ca_file' is a TLS option: use a rediss:// URL"},
        {"redis://", "host is empty"},
        {"redis://:6379", "host is empty"},
        {"redis://:pw@/0", "host is empty"},
        {"redis://h:", "bad port ''"},
        {"redis://h:0", "bad port '0'"},
        {"redis://h:65536", "bad port '65536'"},
        {"redis://h:12ab", "bad port '12ab'"},
        {"redis://h:-1", "bad port '-1'"},
        {"redis://h/abc", "bad database 'abc'"},
        {"redis://h/-1", "bad database '-1'"},
        {"redis://h/1/2", "bad database '1/2'"},
        {"redis://alice@h", "ambiguous"},
        {"redis://:p%4@h", "bad percent-escape in the password"},
        {"redis://:p%zz@h", "bad percent-escape in the password"},
        {"redis://h?foo=1", "unknown query option 'foo'"},
        {"redis://h?db", "has no value"},
        {"redis://h/1?db=2", "given twice"},
        {"redis://h?command_timeout=0", "positive number of milliseconds"},
        {"redis://h?connect_timeout=soon", "bad connect_timeout 'soon'"},
        {"unix://relative.sock", "absolute path"},
        {"unix://", "absolute path"},
        {"unix:///s.sock?db=x", "bad database 'x'"},
        {"redis://[::1", "unterminated '['"},
        {"redis://[::1]x", "unexpected text after the IPv6 host"},
        {"redis://h#frag", "fragment"},
    };
    for (const auto& c : cases) {
        const std::string& url = c.first;
        const std::string message =
            message_of<dogpile::ConfigurationError>([&url] { (void)ConnectionOptions::from_url(url); });
        EXPECT_NE(message.find(c.second), std::string::npos) << url << " -> " << message;
    }
}

TEST(ConnectionUrl, ErrorsAndDescriptionsNeverShowThePassword) {
    const std::string message = message_of<dogpile::ConfigurationError>(
        [] { (void)ConnectionOptions::from_url("redis://bob:hunter2@h:99999"); });
    EXPECT_NE(message.find("bad port"), std::string::npos) << message;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    const auto o = ConnectionOptions::from_url("redis://bob:hunter2@h:7000/1");
    EXPECT_EQ(o.describe(), "redis://bob@h:7000/1");
}

TEST(ConnectionOptionsTest, ValidateRejectsNonsense) {
    ConnectionOptions o;
    o.port = 0;
    EXPECT_THROW(o.validate(), dogpile::ConfigurationError);
    o = ConnectionOptions{};
    o.command_timeout = 0ms;
    EXPECT_THROW(o.validate(), dogpile::ConfigurationError);
    o = ConnectionOptions{};
    o.username = "alice";
    EXPECT_THROW(o.validate(), dogpile::ConfigurationError);
    o = ConnectionOptions{};
    o.db = -1;
    EXPECT_THROW(Connection{o}, dogpile::ConfigurationError);
    PoolOptions p;
    p.size = 0;
    EXPECT_THROW(ConnectionPool{p}, dogpile::ConfigurationError);
}

// ---------------------------------------------------------------- errors

TEST(ReplyErrorTest, CodesAndRedirections) {
    const ReplyError noscript("NOSCRIPT No matching script. Please use EVAL.");
    EXPECT_TRUE(noscript.is_noscript());
    EXPECT_EQ(noscript.code(), "NOSCRIPT");
    EXPECT_FALSE(noscript.redirection().has_value());

    const ReplyError moved("MOVED 3999 127.0.0.1:6381");
    EXPECT_TRUE(moved.is_moved());
    const auto r = moved.redirection();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->kind, dogpile::redis::Redirection::Kind::moved);
    EXPECT_EQ(r->slot, 3999);
    EXPECT_EQ(r->host, "127.0.0.1");
    EXPECT_EQ(r->port, 6381);

    const ReplyError ask("ASK 16383 ::1:7000", "redis GET");
    EXPECT_TRUE(ask.is_ask());
    EXPECT_EQ(ask.message(), "ASK 16383 ::1:7000");
    EXPECT_EQ(std::string(ask.what()), "redis GET: ASK 16383 ::1:7000");
    ASSERT_TRUE(ask.redirection().has_value());
    EXPECT_EQ(ask.redirection()->host, "::1");
    EXPECT_EQ(ask.redirection()->kind, dogpile::redis::Redirection::Kind::ask);

    EXPECT_FALSE(ReplyError("MOVED 16384 h:1").redirection().has_value());
    EXPECT_FALSE(ReplyError("MOVED x h:1").redirection().has_value());
    EXPECT_FALSE(ReplyError("MOVED 1 h").redirection().has_value());
    EXPECT_EQ(ReplyError("OOM").code(), "OOM");

    // The hierarchy lets a region catch one type.
    EXPECT_THROW(throw PoolTimeout("x"), TimeoutError);
    EXPECT_THROW(throw TimeoutError("x"), IoError);
    EXPECT_THROW(throw AuthError("x"), ReplyError);
    EXPECT_THROW(throw ReplyError("x"), dogpile::BackendError);
    EXPECT_THROW(throw ProtocolError("x"), dogpile::redis::RedisError);
}

TEST(CommandTest, BuildsBinarySafeArgv) {
    Command c{"SET", std::string("k\0ey", 4)};
    c.arg(42).arg(std::string_view("v")).args(std::vector<std::string>{"a", "b"});
    ASSERT_EQ(c.size(), 6u);
    EXPECT_EQ(c.name(), "SET");
    EXPECT_EQ(c[1], std::string_view("k\0ey", 4));
    EXPECT_EQ(c[2], "42");
    EXPECT_EQ(c[5], "b");
    EXPECT_EQ(Command::from(std::vector<std::string_view>{"GET", "x"}), (Command{"GET", "x"}));
    EXPECT_EQ(Command{}.name(), "");
}

// ---------------------------------------------------------------- connections

class RedisConnectionTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto r = server().raw({"FLUSHALL"});
        ASSERT_FALSE(r.is_error()) << r.str;
    }
    static RedisServer& server() { return RedisServer::shared(); }
};

TEST_F(RedisConnectionTest, TcpAndUnixSocketSeeTheSameData) {
    Connection tcp(server().options());
    Connection unix_conn(server().unix_options());
    EXPECT_TRUE(tcp.command({"SET", "shared", "value"}).is_ok());
    EXPECT_EQ(unix_conn.command({"GET", "shared"}).as_string(), "value");
    EXPECT_EQ(tcp.command({"PING"}).status(), "PONG");
    Connection from_url(ConnectionOptions::from_url(server().unix_url()));
    EXPECT_EQ(from_url.command({"GET", "shared"}).as_string(), "value");
}

TEST_F(RedisConnectionTest, KeysAndValuesAreBinarySafe) {
    Connection c(server().options());
    const std::vector<std::string> keys = {"with space",         "new\nline\r\n",   std::string("nul\0byte", 8),
                                           std::string("\0", 1), "*3\r\n$3\r\nSET", ""};
    const std::string big = random_bytes(1 << 20, 7);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::string value = keys[i] + std::string("\0\r\n", 3) + random_bytes(100 + i, static_cast<unsigned>(i));
        EXPECT_TRUE(c.command({"SET", keys[i], value}).is_ok());
        EXPECT_EQ(c.command({"GET", keys[i]}).as_string(), value) << i;
        // Checked independently of the library: the key is the exact bytes.
        EXPECT_EQ(server().raw({"GET", keys[i]}).str, value) << i;
    }
    EXPECT_TRUE(c.command({"SET", "big", big}).is_ok());
    EXPECT_EQ(server().raw({"STRLEN", "big"}).integer, 1 << 20);
    const Reply got = c.command({"GET", "big"});
    EXPECT_EQ(got.view().size(), big.size());
    EXPECT_TRUE(got.view() == big);
    EXPECT_EQ(server().raw({"GET", "big"}).str, big);
    EXPECT_EQ(c.command(std::vector<std::string>{"DBSIZE"}).as_integer(), static_cast<long long>(keys.size() + 1));
    EXPECT_EQ(c.command(std::vector<std::string_view>{"STRLEN", "big"}).as_integer(), 1 << 20);
}

TEST_F(RedisConnectionTest, ReplyTypesAndErrors) {
    Connection c(server().options());
    EXPECT_EQ(c.command({"INCRBY", "n", "5"}).as_integer(), 5);
    EXPECT_TRUE(c.command({"GET", "missing"}).is_nil());
    EXPECT_FALSE(c.command({"GET", "missing"}).as_optional_string().has_value());
    c.command({"RPUSH", "list", "a", "b", "c"});
    const Reply list = c.command({"LRANGE", "list", "0", "-1"});
    ASSERT_TRUE(list.is_array());
    EXPECT_EQ(list.size(), 3u);
    EXPECT_EQ(list[1].as_string(), "b");
    EXPECT_EQ(list.as_strings(), (std::vector<std::string>{"a", "b", "c"}));
    c.command({"HSET", "h", "f1", "v1"});
    const auto values = c.command({"HMGET", "h", "f1", "nope"}).as_optional_strings();
    ASSERT_EQ(values.size(), 2u);
    EXPECT_EQ(values[0], "v1");
    EXPECT_FALSE(values[1].has_value());

    // An element outlives the reply it came from.
    Reply element = c.command({"LRANGE", "list", "0", "0"}).at(0);
    EXPECT_EQ(element.as_string(), "a");

    const std::string message = message_of<ReplyError>([&] { c.command({"HGET", "list", "f"}); });
    EXPECT_NE(message.find("WRONGTYPE"), std::string::npos) << message;
    try {
        c.command({"INCR", "list"});
        ADD_FAILURE() << "no throw";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_wrongtype());
        EXPECT_EQ(e.code(), "WRONGTYPE");
    }
    EXPECT_FALSE(c.broken()) << "an error reply leaves the connection usable";
    EXPECT_EQ(c.command({"GET", "n"}).as_string(), "5");

    EXPECT_THROW(c.command({"GET", "n"}).as_integer(), ProtocolError);
    EXPECT_THROW(c.command({"INCR", "n"}).as_string(), ProtocolError);
    EXPECT_THROW(c.command({"GET", "missing"}).as_string(), ProtocolError);
    EXPECT_THROW(c.command(Command{}), dogpile::ConfigurationError);
}

TEST_F(RedisConnectionTest, SelectsTheConfiguredDatabase) {
    ConnectionOptions o = server().options();
    o.db = 5;
    Connection c(o);
    c.command({"SET", "in-db-5", "yes"});
    EXPECT_EQ(server().raw({"GET", "in-db-5"}, 5).str, "yes");
    EXPECT_TRUE(server().raw({"GET", "in-db-5"}, 0).is_nil());

    // And again after a reconnect.
    c.reconnect();
    EXPECT_EQ(c.command({"GET", "in-db-5"}).as_string(), "yes");

    Connection via_url(ConnectionOptions::from_url(server().url() + "/5"));
    EXPECT_EQ(via_url.command({"GET", "in-db-5"}).as_string(), "yes");

    o.db = 100000;
    const std::string message = message_of<ReplyError>([&] { Connection bad(o); });
    EXPECT_NE(message.find("SELECT 100000"), std::string::npos) << message;
}

TEST_F(RedisConnectionTest, SetsTheClientName) {
    ConnectionOptions o = server().options();
    o.client_name = "dogpile-test";
    Connection c(o);
    EXPECT_EQ(c.command({"CLIENT", "GETNAME"}).as_string(), "dogpile-test");
}

TEST_F(RedisConnectionTest, PipelineOfTenThousandCommandsIsOneRoundTrip) {
    Connection c(server().options());
    ASSERT_FALSE(server().raw({"CONFIG", "RESETSTAT"}).is_error());
    const std::uint64_t before = c.round_trips();
    Pipeline p(c);
    for (int i = 0; i < 10000; ++i) p.add({"SET", "k" + std::to_string(i), "v" + std::to_string(i)});
    EXPECT_EQ(p.size(), 10000u);
    EXPECT_EQ(c.round_trips(), before) << "nothing is sent before execute()";
    const std::vector<Reply> replies = p.execute();
    EXPECT_EQ(c.round_trips(), before + 1);
    ASSERT_EQ(replies.size(), 10000u);
    for (const auto& r : replies) ASSERT_TRUE(r.is_ok());

    // The server saw all of them.
    const std::string stats = server().raw({"INFO", "commandstats"}).str;
    EXPECT_NE(stats.find("cmdstat_set:calls=10000,"), std::string::npos) << stats;

    std::vector<Command> gets;
    for (int i = 0; i < 10000; ++i) gets.push_back(Command{"GET", "k" + std::to_string(i)});
    const std::vector<Reply> values = c.pipeline(gets);
    EXPECT_EQ(c.round_trips(), before + 2);
    ASSERT_EQ(values.size(), 10000u);
    for (int i = 0; i < 10000; ++i) ASSERT_EQ(values[static_cast<std::size_t>(i)].as_string(), "v" + std::to_string(i));
}

TEST_F(RedisConnectionTest, PipelineReturnsErrorRepliesInPlace) {
    Connection c(server().options());
    const auto replies = c.pipeline({Command{"SET", "a", "1"}, Command{"HSET", "a", "f", "v"}, Command{"GET", "a"}});
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_TRUE(replies[0].is_ok());
    ASSERT_TRUE(replies[1].is_error());
    EXPECT_EQ(ReplyError::code_of(replies[1].error_message()), "WRONGTYPE");
    EXPECT_THROW(replies[1].throw_if_error(), ReplyError);
    EXPECT_THROW(replies[1].as_string(), ReplyError);
    EXPECT_EQ(replies[2].as_string(), "1");
    EXPECT_FALSE(c.broken());
    EXPECT_TRUE(c.pipeline({}).empty());
}

TEST_F(RedisConnectionTest, AbandonedPipelineBreaksTheConnectionInsteadOfDesynchronisingIt) {
    Connection c(server().options());
    {
        Pipeline p(c);
        p.add({"SET", "x", "1"});
        EXPECT_THROW(c.command({"GET", "x"}), dogpile::ConfigurationError);
    }
    EXPECT_TRUE(c.broken());
    EXPECT_THROW(c.command({"PING"}), IoError);
    c.reconnect();
    EXPECT_FALSE(c.broken());
    EXPECT_EQ(c.command({"PING"}).status(), "PONG");
}

TEST_F(RedisConnectionTest, ConnectionRefusedIsAnIoError) {
    ConnectionOptions o;
    o.port = dogpile::test::redis_server_details::pick_free_port();  // nobody listens there
    const std::string message = message_of<IoError>([&] { Connection c(o); });
    EXPECT_NE(message.find("cannot connect"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(o.port)), std::string::npos) << message;

    ConnectionOptions u;
    u.unix_socket = server().dir() + "/no-such.sock";
    EXPECT_THROW(Connection{u}, IoError);
}

// A listener whose accept queue is full drops new SYNs, so connect() hangs
// until the connect timeout: it must end in TimeoutError, not a hang.
TEST_F(RedisConnectionTest, ConnectTimeoutBoundsAnUnansweredHandshake) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ASSERT_EQ(::listen(listener, 0), 0);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ASSERT_GE(fd, 0);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
        fillers.push_back(fd);
    }
    ConnectionOptions o;
    o.port = ntohs(addr.sin_port);
    o.connect_timeout = 200ms;
    const auto start = std::chrono::steady_clock::now();
    const std::string message = message_of<TimeoutError>([&] { Connection c(o); });
    EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
    EXPECT_NE(message.find("connect timed out after 200 ms"), std::string::npos) << message;
    for (int fd : fillers) ::close(fd);
    ::close(listener);
}

// ---------------------------------------------------------------- scripts

TEST_F(RedisConnectionTest, ScriptRecoversFromNoscriptAfterScriptFlush) {
    Connection c(server().options());
    const Script script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
    ASSERT_FALSE(server().raw({"SCRIPT", "FLUSH"}).is_error());

    std::uint64_t before = c.round_trips();
    Reply r = script.eval(c, {"counter"}, {"arg"});
    EXPECT_EQ(c.round_trips(), before + 2) << "NOSCRIPT, then SCRIPT LOAD + EVALSHA together";
    EXPECT_EQ(r[0].as_string(), "counter");
    EXPECT_EQ(r[1].as_string(), "arg");
    EXPECT_EQ(r[2].as_integer(), 1);
    EXPECT_EQ(server().raw({"SCRIPT", "EXISTS", script.sha1()}).elements.at(0).integer, 1);

    before = c.round_trips();
    EXPECT_EQ(script.eval(c, {"counter"}, {"arg"})[2].as_integer(), 2);
    EXPECT_EQ(c.round_trips(), before + 1) << "a known script costs one EVALSHA";

    ASSERT_FALSE(server().raw({"SCRIPT", "FLUSH"}).is_error());
    EXPECT_EQ(script.eval(c, ScriptCall{{"counter"}, {"x"}})[2].as_integer(), 3);
    EXPECT_EQ(server().raw({"GET", "counter"}).str, "3");

    // A runtime error in the script is a ReplyError, and the connection lives on.
    const Script failing("return redis.call('INCR', KEYS[1])");
    c.command({"HSET", "a-hash", "f", "v"});
    EXPECT_THROW(failing.eval(c, {"a-hash"}, {}), ReplyError);
    EXPECT_FALSE(c.broken());
    script.load(c);
}

TEST_F(RedisConnectionTest, PipelinedScriptCallsRecoverFromNoscriptInOneExtraRoundTrip) {
    Connection c(server().options());
    // The hash-store write: HSET the field; EXPIRE only if the key is new.
    const Script hset_with_expiry("local existed = redis.call('EXISTS', KEYS[1])\n"
                                  "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
                                  "if existed == 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end\n"
                                  "return existed");
    ASSERT_FALSE(server().raw({"SCRIPT", "FLUSH"}).is_error());

    std::vector<ScriptCall> calls;
    for (int i = 0; i < 1000; ++i) {
        calls.push_back(ScriptCall{{"calculated-a|" + std::to_string(i % 10)}, {std::to_string(i), "payload", "60"}});
    }
    std::uint64_t before = c.round_trips();
    std::vector<Reply> replies = hset_with_expiry.eval_pipelined(c, calls);
    EXPECT_EQ(c.round_trips(), before + 2);
    ASSERT_EQ(replies.size(), 1000u);
    for (std::size_t i = 0; i < replies.size(); ++i) ASSERT_FALSE(replies[i].is_error()) << replies[i].error_message();
    EXPECT_EQ(server().raw({"HLEN", "calculated-a|3"}).integer, 100);
    EXPECT_GT(server().raw({"TTL", "calculated-a|3"}).integer, 0);

    before = c.round_trips();
    replies = hset_with_expiry.eval_pipelined(c, calls);
    EXPECT_EQ(c.round_trips(), before + 1) << "loaded scripts need no extra round trip";
    for (const auto& r : replies) ASSERT_EQ(r.as_integer(), 1);

    // Mixed batch: plain commands and two scripts, after a flush.
    const Script get_field("return redis.call('HGET', KEYS[1], ARGV[1])");
    ASSERT_FALSE(server().raw({"SCRIPT", "FLUSH"}).is_error());
    std::vector<Command> mixed = {
        Command{"HGET", "calculated-a|1", "1"},
        get_field.evalsha_command({"calculated-a|1"}, {"11"}),
        hset_with_expiry.evalsha_command({"calculated-a|new"}, {"f", "v", "60"}),
        Command{"HLEN", "calculated-a|1"},
        get_field.evalsha_command({"calculated-a|new"}, {"f"}),
    };
    before = c.round_trips();
    replies = dogpile::redis::pipeline_with_scripts(c, mixed, {&get_field, &hset_with_expiry});
    EXPECT_EQ(c.round_trips(), before + 2);
    ASSERT_EQ(replies.size(), 5u);
    EXPECT_EQ(replies[0].as_string(), "payload");
    EXPECT_EQ(replies[1].as_string(), "payload");
    EXPECT_EQ(replies[2].as_integer(), 0);
    EXPECT_EQ(replies[3].as_integer(), 100);
    EXPECT_EQ(replies[4].as_string(), "v");

    // Calls of a script the helper was not told about keep their NOSCRIPT.
    const Script unknown("return 'unknown'");
    replies = dogpile::redis::pipeline_with_scripts(c, {unknown.evalsha_command({}, {})}, {&get_field});
    ASSERT_TRUE(replies[0].is_error());
    EXPECT_EQ(ReplyError::code_of(replies[0].error_message()), "NOSCRIPT");
}

TEST_F(RedisConnectionTest, ScriptThatDoesNotCompileReportsTheCompileError) {
    Connection c(server().options());
    const Script broken("return +");
    const auto replies = broken.eval_pipelined(c, {ScriptCall{{"k"}, {}}, ScriptCall{{"k2"}, {}}});
    ASSERT_EQ(replies.size(), 2u);
    for (const auto& r : replies) {
        ASSERT_TRUE(r.is_error());
        EXPECT_EQ(std::string(r.error_message()).find("NOSCRIPT"), std::string::npos) << r.error_message();
    }
    EXPECT_THROW(broken.eval(c, {"k"}, {}), ReplyError);
    EXPECT_FALSE(c.broken());
}

// Each script is loaded once however many of its calls came back NOSCRIPT,
// and only the calls that did are sent again.
TEST_F(RedisConnectionTest, NoscriptRecoveryLoadsEachScriptOnceAndResendsOnlyTheFailedCalls) {
    Connection c(server().options());
    const Script incr("return redis.call('INCR', KEYS[1])");
    const Script echo("return ARGV[1]");
    ASSERT_FALSE(server().raw({"SCRIPT", "FLUSH"}).is_error());
    ASSERT_FALSE(server().raw({"CONFIG", "RESETSTAT"}).is_error());

    std::vector<Command> commands;
    for (int i = 0; i < 40; ++i) {
        commands.push_back(incr.evalsha_command({"n" + std::to_string(i % 4)}, {}));
        commands.push_back(Command{"INCR", "plain"});
        commands.push_back(echo.evalsha_command({"e"}, {std::to_string(i)}));
    }
    const std::uint64_t before = c.round_trips();
    const auto replies = dogpile::redis::pipeline_with_scripts(c, commands, {&incr, &echo});
    EXPECT_EQ(c.round_trips(), before + 2);
    ASSERT_EQ(replies.size(), commands.size());
    for (int i = 0; i < 40; ++i) {
        const auto at = static_cast<std::size_t>(3 * i);
        EXPECT_EQ(replies[at].as_integer(), i / 4 + 1) << i;
        EXPECT_EQ(replies[at + 1].as_integer(), i + 1) << "plain commands run once";
        EXPECT_EQ(replies[at + 2].as_string(), std::to_string(i));
    }
    const std::string stats = server().raw({"INFO", "commandstats"}).str;
    EXPECT_NE(stats.find("cmdstat_script|load:calls=2,"), std::string::npos) << stats;
    EXPECT_NE(stats.find("cmdstat_evalsha:calls=160,"), std::string::npos) << "80 NOSCRIPT, 80 again: " << stats;
    EXPECT_NE(stats.find("cmdstat_incr:calls=80,"), std::string::npos) << "40 plain, 40 in the script: " << stats;
}

// details::recover_noscript without a server: what it asks to resend, and how
// the answers land.
Reply reply_of(const std::string& resp) { return dogpile::redis::details::reply_from_resp(resp); }

TEST(NoscriptRecovery, ResendsTheFailedCallsOfKnownScriptsAfterLoadingEachOnce) {
    const Script a("return 'a'");
    const Script b("return 'b'");
    const Script unknown("return 'unknown'");
    const std::vector<Command> commands = {a.evalsha_command({"k"}, {}), Command{"GET", "k"},
                                           b.evalsha_command({"k"}, {}), a.evalsha_command({"k2"}, {}),
                                           unknown.evalsha_command({"k"}, {})};
    const Reply noscript = reply_of("-NOSCRIPT No matching script.\r\n");
    std::vector<Reply> replies = {noscript, reply_of("$1\r\nv\r\n"), noscript, noscript, noscript};

    std::vector<std::vector<const Script*>> asked_loads;
    std::vector<std::vector<std::size_t>> asked_calls;
    dogpile::redis::details::recover_noscript(
        replies, [&](std::size_t i) -> const Command& { return commands[i]; }, {&a, &b},
        [&](const std::vector<const Script*>& loads, const std::vector<std::size_t>& calls) {
            asked_loads.push_back(loads);
            asked_calls.push_back(calls);
            std::vector<Reply> out;
            for (const Script* s : loads) out.push_back(reply_of("$40\r\n" + s->sha1() + "\r\n"));
            for (std::size_t i : calls) out.push_back(reply_of(":" + std::to_string(i) + "\r\n"));
            return out;
        });
    ASSERT_EQ(asked_loads.size(), 1u) << "one more round trip";
    EXPECT_EQ(asked_loads[0], (std::vector<const Script*>{&a, &b}));
    EXPECT_EQ(asked_calls[0], (std::vector<std::size_t>{0, 2, 3}));
    EXPECT_EQ(replies[0].as_integer(), 0);
    EXPECT_EQ(replies[1].as_string(), "v");
    EXPECT_EQ(replies[2].as_integer(), 2);
    EXPECT_EQ(replies[3].as_integer(), 3);
    EXPECT_EQ(ReplyError::code_of(replies[4].error_message()), "NOSCRIPT") << "a script it was not given";
}

TEST(NoscriptRecovery, NothingIsResentWithoutNoscriptAndALoadErrorBecomesTheCallsReply) {
    const Script broken("return +");
    const Script fine("return 1");
    const std::vector<Command> commands = {broken.evalsha_command({"k"}, {}), fine.evalsha_command({"k"}, {})};
    const auto get = [&](std::size_t i) -> const Command& { return commands[i]; };

    std::vector<Reply> replies = {reply_of(":1\r\n"), reply_of(":1\r\n")};
    int resends = 0;
    auto resend = [&](const std::vector<const Script*>& loads, const std::vector<std::size_t>& calls) {
        ++resends;
        std::vector<Reply> out;
        for (const Script* s : loads) {
            out.push_back(s == &broken ? reply_of("-ERR Error compiling script\r\n")
                                       : reply_of("$40\r\n" + s->sha1() + "\r\n"));
        }
        for (std::size_t i : calls) out.push_back(i == 0 ? reply_of("-NOSCRIPT again\r\n") : reply_of(":1\r\n"));
        return out;
    };
    dogpile::redis::details::recover_noscript(replies, get, {&broken, &fine}, resend);
    EXPECT_EQ(resends, 0);

    const Reply noscript = reply_of("-NOSCRIPT No matching script.\r\n");
    replies = {noscript, noscript};
    dogpile::redis::details::recover_noscript(replies, get, {&broken, &fine}, resend);
    EXPECT_EQ(resends, 1);
    EXPECT_EQ(std::string(replies[0].error_message()), "ERR Error compiling script");
    EXPECT_EQ(replies[1].as_integer(), 1);
}

// ---------------------------------------------------------------- helpers

// A steady clock the test moves by hand.
struct SteppedClock {
    using duration = std::chrono::steady_clock::duration;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<SteppedClock>;
    static inline time_point current{std::chrono::hours(1)};
    static time_point now() noexcept { return current; }
};

TEST(IntervalGate, LetsInAtMostOneRunPerIntervalUnlessAskedForNow) {
    dogpile::redis::details::IntervalGate<SteppedClock> gate(100ms);
    EXPECT_TRUE(gate.enter_if_due()) << "never ran: due";
    EXPECT_FALSE(gate.enter_if_due()) << "just ran";
    SteppedClock::current += 99ms;
    EXPECT_FALSE(gate.enter_if_due());
    SteppedClock::current += 1ms;
    EXPECT_TRUE(gate.enter_if_due()) << "a whole interval later";
    SteppedClock::current += 50ms;
    EXPECT_TRUE(gate.enter_now()) << "now ignores the interval";
    SteppedClock::current += 99ms;
    EXPECT_FALSE(gate.enter_if_due()) << "the interval counts from the last run, forced or not";
    SteppedClock::current += 1ms;
    EXPECT_TRUE(gate.enter_if_due());
}

TEST(IntervalGate, AnIfDueCallerSkipsWhileARunIsInProgressAndANowCallerWaitsForIt) {
    dogpile::redis::details::IntervalGate<SteppedClock> gate(0ms);
    auto running = gate.enter_now();
    ASSERT_TRUE(running);
    bool skipped = false;
    std::thread([&] { skipped = !gate.enter_if_due(); }).join();
    EXPECT_TRUE(skipped) << "never queues behind a run";

    std::atomic<bool> entered{false};
    std::thread forced([&] {
        const auto pass = gate.enter_now();
        entered = static_cast<bool>(pass);
    });
    EXPECT_FALSE(entered.load());
    running.unlock();
    forced.join();
    EXPECT_TRUE(entered.load()) << "now waits for the run in progress, then runs";
}

TEST(GroupPositions, GroupsInOrderOfFirstAppearance) {
    const std::vector<int> keys = {7, 3, 7, 7, 5, 3};
    const auto groups = dogpile::redis::details::group_positions(keys.size(), [&](std::size_t i) { return keys[i]; });
    ASSERT_EQ(groups.size(), 3u);
    EXPECT_EQ(groups[0].key, 7);
    EXPECT_EQ(groups[0].positions, (std::vector<std::size_t>{0, 2, 3}));
    EXPECT_EQ(groups[1].key, 3);
    EXPECT_EQ(groups[1].positions, (std::vector<std::size_t>{1, 5}));
    EXPECT_EQ(groups[2].key, 5);
    EXPECT_EQ(groups[2].positions, (std::vector<std::size_t>{4}));
    EXPECT_TRUE(dogpile::redis::details::group_positions(0, [](std::size_t) { return 0; }).empty());
}

// ---------------------------------------------------------------- auth

TEST(RedisAuth, PasswordAndAclUsers) {
    RedisServerOptions options;
    options.password = "s3cret pw";
    options.acl_users.push_back({"alice", "al1ce:pw@x", {"~*", "&*", "+@all"}});
    options.acl_users.push_back({"reader", "r", {"~*", "+get", "+ping"}});
    RedisServer server(options);

    Connection with_password(server.options());
    EXPECT_EQ(with_password.command({"ACL", "WHOAMI"}).as_string(), "default");
    Connection via_url(ConnectionOptions::from_url(server.url()));
    EXPECT_EQ(via_url.command({"PING"}).status(), "PONG");

    ConnectionOptions alice = server.options();
    alice.username = "alice";
    alice.password = "al1ce:pw@x";
    Connection as_alice(alice);
    EXPECT_EQ(as_alice.command({"ACL", "WHOAMI"}).as_string(), "alice");
    Connection alice_url(
        ConnectionOptions::from_url("redis://alice:al1ce%3Apw%40x@127.0.0.1:" + std::to_string(server.port())));
    EXPECT_EQ(alice_url.command({"ACL", "WHOAMI"}).as_string(), "alice");
    Connection alice_unix(ConnectionOptions::from_url("unix://alice:al1ce%3Apw%40x@" + server.unix_socket()));
    EXPECT_EQ(alice_unix.command({"ACL", "WHOAMI"}).as_string(), "alice");

    // ACL permissions surface as ReplyError (NOPERM).
    ConnectionOptions reader = server.options();
    reader.username = "reader";
    reader.password = "r";
    Connection as_reader(reader);
    try {
        as_reader.command({"SET", "k", "v"});
        ADD_FAILURE() << "no throw";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_noperm()) << e.what();
    }

    // A wrong password fails at connect, clearly, without echoing the password.
    ConnectionOptions wrong = server.options();
    wrong.password = "not-the-password";
    std::string message = message_of<AuthError>([&] { Connection c(wrong); });
    EXPECT_NE(message.find("AUTH"), std::string::npos) << message;
    EXPECT_NE(message.find("WRONGPASS"), std::string::npos) << message;
    EXPECT_EQ(message.find("not-the-password"), std::string::npos) << message;

    ConnectionOptions wrong_user = alice;
    wrong_user.password = "nope";
    message = message_of<AuthError>([&] { Connection c(wrong_user); });
    EXPECT_NE(message.find("user 'alice'"), std::string::npos) << message;

    // No password at all: the first command says NOAUTH.
    ConnectionOptions none = server.options();
    none.password.reset();
    Connection anonymous(none);
    try {
        anonymous.command({"GET", "k"});
        ADD_FAILURE() << "no throw";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_noauth()) << e.what();
    }

    // ... or, when the handshake has anything to send, a clear AuthError.
    none.db = 2;
    message = message_of<AuthError>([&] { Connection c(none); });
    EXPECT_NE(message.find("requires a password"), std::string::npos) << message;

    // A pool surfaces the AuthError to the caller and keeps no half-open slot.
    PoolOptions pool_options;
    pool_options.size = 1;
    pool_options.connection = wrong;
    ConnectionPool pool(pool_options);
    EXPECT_THROW(pool.acquire(), AuthError);
    EXPECT_EQ(pool.open_connections(), 0u);
}

// ---------------------------------------------------------------- failures

TEST(RedisFailures, CommandTimeoutAgainstAStoppedServer) {
    RedisServer server;
    ConnectionOptions o = server.options();
    o.command_timeout = 200ms;
    Connection c(o);
    Connection idle(o);
    EXPECT_EQ(c.command({"PING"}).status(), "PONG");

    server.pause();
    const auto start = std::chrono::steady_clock::now();
    const std::string message = message_of<TimeoutError>([&] { c.command({"GET", "k"}); });
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_NE(message.find("timed out after 200 ms"), std::string::npos) << message;
    EXPECT_LT(elapsed, 20s) << "the timeout must bound the wait";
    EXPECT_TRUE(c.broken()) << "a late reply would desynchronise the stream";
    EXPECT_THROW(c.command({"PING"}), IoError);

    // A pipeline times out the same way.
    EXPECT_THROW(idle.pipeline({Command{"PING"}, Command{"PING"}}), TimeoutError);

    // A new connection also times out (the kernel accepts, nobody answers the
    // handshake) rather than hanging.
    o.db = 1;
    EXPECT_THROW(Connection{o}, TimeoutError);

    server.resume();
    c.reconnect();
    EXPECT_EQ(c.command({"PING"}).status(), "PONG");
}

TEST(RedisFailures, WritingToADeadServerIsAnIoErrorNotSigpipe) {
    RedisServer server;
    Connection c(server.options());
    EXPECT_EQ(c.command({"PING"}).status(), "PONG");
    EXPECT_TRUE(c.usable_after_idle());
    server.kill();
    EXPECT_FALSE(c.usable_after_idle()) << "the peer closed the socket";
    // Several MiB force repeated writes after the peer's reset: without
    // SIGPIPE handling the default action would kill this test binary.
    Pipeline p(c);
    const std::string value(64 * 1024, 'v');
    for (int i = 0; i < 100; ++i) p.add({"SET", "k" + std::to_string(i), value});
    EXPECT_THROW(p.execute(), IoError);
    EXPECT_TRUE(c.broken());
    server.start();
    c.reconnect();
    EXPECT_EQ(c.command({"PING"}).status(), "PONG");
}

// ---------------------------------------------------------------- pool

TEST(RedisPool, IsBoundedAndAcquireTimesOutClearly) {
    auto& server = RedisServer::shared();
    PoolOptions options;
    options.size = 2;
    options.acquire_timeout = 100ms;
    options.connection = server.options();
    ConnectionPool pool(options);
    EXPECT_EQ(pool.open_connections(), 0u) << "connections are opened lazily";

    auto first = pool.acquire();
    auto second = pool.acquire();
    EXPECT_EQ(pool.open_connections(), 2u);
    const std::string message = message_of<PoolTimeout>([&] { (void)pool.acquire(); });
    EXPECT_NE(message.find("no pooled connection became free within 100 ms"), std::string::npos) << message;
    EXPECT_NE(message.find("all 2 connections in use"), std::string::npos) << message;

    // A blocked acquire is served as soon as a lease ends.
    dogpile::test::Latch started(1);
    auto waiter = std::async(std::launch::async, [&] {
        started.count_down();
        auto lease = pool.acquire(30s);
        return std::string(lease->command({"PING"}).status());
    });
    started.wait();
    ASSERT_TRUE(wait_for_condition([&] { return pool.waiting_callers() == 1; }, 30s))
        << "acquire must wait while both are leased";
    EXPECT_EQ(waiter.wait_for(0s), std::future_status::timeout) << "a waiting caller has not returned";
    EXPECT_EQ(pool.open_connections(), 2u) << "and did not open a third connection";
    { auto released = std::move(first); }
    ASSERT_EQ(waiter.wait_for(30s), std::future_status::ready);
    EXPECT_EQ(waiter.get(), "PONG");
    EXPECT_EQ(pool.connections_created(), 2u);
    EXPECT_EQ(pool.open_connections(), 2u);
    EXPECT_EQ(pool.idle_connections(), 1u);
    EXPECT_EQ(pool.waiting_callers(), 0u);
}

TEST(RedisPool, DiscardsBrokenConnections) {
    auto& server = RedisServer::shared();
    PoolOptions options;
    options.size = 1;
    options.connection = server.options();
    ConnectionPool pool(options);
    {
        auto lease = pool.acquire();
        Pipeline p(*lease);
        p.add({"PING"});
    }  // abandoned pipeline: broken
    EXPECT_EQ(pool.connections_discarded(), 1u);
    EXPECT_EQ(pool.open_connections(), 0u);
    auto lease = pool.acquire();
    EXPECT_EQ(lease->command({"PING"}).status(), "PONG");
    EXPECT_EQ(pool.connections_created(), 2u);
    lease.discard();
    EXPECT_EQ(pool.open_connections(), 0u);
}

TEST(RedisPool, HealsAfterTheServerIsKilledAndRestartedOnTheSamePort) {
    RedisServer server;
    PoolOptions options;
    options.size = 2;
    options.connection = server.options();
    options.connection.command_timeout = 2000ms;
    auto pool = std::make_shared<ConnectionPool>(options);
    dogpile::redis::SingleServerClient client(pool);
    {
        auto a = pool->acquire();
        auto b = pool->acquire();
        a->command({"SET", "before", "1"});
        b->command({"PING"});
    }
    ASSERT_EQ(pool->idle_connections(), 2u);
    const int port = server.port();

    server.kill();
    EXPECT_THROW(client.command("k", {"PING"}), IoError) << "down: refused, not hung";

    server.start();
    ASSERT_EQ(server.port(), port);
    EXPECT_EQ(client.command("k", {"PING"}).status(), "PONG");
    EXPECT_TRUE(client.command("k", {"GET", "before"}).is_nil()) << "a fresh server (persistence is off)";
    EXPECT_GE(pool->connections_discarded(), 2u);

    // Both slots work again, concurrently.
    auto a = pool->acquire();
    auto b = pool->acquire();
    EXPECT_EQ(a->command({"PING"}).status(), "PONG");
    EXPECT_EQ(b->command({"PING"}).status(), "PONG");
}

TEST(RedisPool, HotConnectionsSkipTheIdleCheckUntilOneBreaks) {
    RedisServer server;
    PoolOptions options;
    options.size = 2;
    options.connection = server.options();
    options.idle_check_after = std::chrono::hours(1);  // never old enough: only a break triggers the check
    auto pool = std::make_shared<ConnectionPool>(options);
    dogpile::redis::SingleServerClient client(pool);
    {
        auto a = pool->acquire();
        auto b = pool->acquire();
        EXPECT_EQ(a->command({"PING"}).status(), "PONG");
        EXPECT_EQ(b->command({"PING"}).status(), "PONG");
    }
    server.restart();
    EXPECT_THROW(client.command("k", {"PING"}), IoError) << "handed out unchecked: meets the dead socket";
    EXPECT_EQ(pool->connections_discarded(), 1u);
    // That break makes the pool check the other idle connection, which is dropped too.
    EXPECT_EQ(client.command("k", {"PING"}).status(), "PONG");
    EXPECT_EQ(pool->connections_discarded(), 2u);
    EXPECT_EQ(pool->connections_created(), 3u);

    PoolOptions bad = options;
    bad.idle_check_after = -1ms;
    EXPECT_THROW(ConnectionPool{bad}, dogpile::ConfigurationError);
}

TEST(RedisPool, SixteenThreadsShareAPoolOfFour) {
    auto& server = RedisServer::shared();
    server.raw({"DEL", "shared-counter"});
    PoolOptions options;
    options.size = 4;
    options.acquire_timeout = 30s;
    options.connection = server.options();
    auto client = std::make_shared<dogpile::redis::SingleServerClient>(options);

    constexpr int threads = 16;
    constexpr int iterations = 200;
    dogpile::test::Latch start(threads);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            start.arrive_and_wait();
            const std::string key = "thread-" + std::to_string(t);
            for (int i = 0; i < iterations; ++i) {
                client->command("shared-counter", {"INCR", "shared-counter"});
                const std::string value = key + ":" + std::to_string(i);
                client->command(key, {"SET", key, value});
                if (client->command(key, {"GET", key}).as_string() != value) ++mismatches;
                if (i % 50 == 0) {
                    auto replies = client->pipeline(key, {Command{"GET", key}, Command{"STRLEN", key}});
                    if (replies[0].as_string() != value) ++mismatches;
                }
            }
        });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(mismatches.load(), 0);
    EXPECT_EQ(server.raw({"GET", "shared-counter"}).str, std::to_string(threads * iterations));
    EXPECT_LE(client->pool().open_connections(), 4u);
    EXPECT_LE(client->pool().connections_created(), 4u);
}

// ---------------------------------------------------------------- fixture

TEST(RedisServerFixture, UnixSocketOnlyServerAndRestart) {
    RedisServerOptions options;
    options.listen = RedisServerOptions::Listen::Unix;
    RedisServer server(options);
    EXPECT_EQ(server.port(), 0);
    EXPECT_EQ(server.url().rfind("unix://", 0), 0u) << server.url();
    PoolOptions pool;
    pool.idle_check_after = 0ms;  // every idle connection is checked: the restart is never seen by a caller
    auto client = dogpile::redis::make_client(server.url(), pool);
    client->command("k", {"SET", "k", "v"});
    EXPECT_EQ(dogpile::test::raw_command(server, {"GET", "k"}).str, "v");
    server.restart();
    EXPECT_TRUE(server.running());
    EXPECT_TRUE(dogpile::test::raw_command(server, {"GET", "k"}).is_nil());
    EXPECT_EQ(client->command("k", {"PING"}).status(), "PONG");
    server.stop();
    EXPECT_FALSE(server.running());
    EXPECT_THROW(client->command("k", {"PING"}), IoError);
}

// ---------------------------------------------------------------- client

TEST(RedisClient, BatchAndScriptBatchAreOneRoundTripEach) {
    auto& server = RedisServer::shared();
    server.raw({"FLUSHALL"});
    std::shared_ptr<Client> client = dogpile::redis::make_client(server.url());

    std::vector<KeyedCommand> writes;
    for (int a = 0; a < 50; ++a) {
        const std::string key = "calculated-a|" + std::to_string(a);
        writes.push_back({key, Command{"HSET", key, "1", "x", "2", "y"}});
    }
    std::uint64_t before = client->round_trips();
    auto replies = client->batch(writes);
    EXPECT_EQ(client->round_trips(), before + 1);
    ASSERT_EQ(replies.size(), 50u);

    // One HMGET per hash, all pipelined.
    std::vector<KeyedCommand> reads;
    for (int a = 0; a < 50; ++a) {
        const std::string key = "calculated-a|" + std::to_string(a);
        reads.push_back({key, Command{"HMGET", key, "1", "2", "3"}});
    }
    before = client->round_trips();
    replies = client->batch(reads);
    EXPECT_EQ(client->round_trips(), before + 1);
    for (const auto& r : replies) {
        const auto values = r.as_optional_strings();
        ASSERT_EQ(values.size(), 3u);
        EXPECT_EQ(values[0], "x");
        EXPECT_EQ(values[1], "y");
        EXPECT_FALSE(values[2].has_value());
    }

    const Script count_fields("return redis.call('HLEN', KEYS[1])");
    std::vector<ScriptCall> calls;
    for (int a = 0; a < 50; ++a) calls.push_back({{"calculated-a|" + std::to_string(a)}, {}});
    server.raw({"SCRIPT", "FLUSH"});
    before = client->round_trips();
    replies = client->eval_batch(count_fields, calls);
    EXPECT_EQ(client->round_trips(), before + 2) << "NOSCRIPT recovery: one extra round trip";
    for (const auto& r : replies) EXPECT_EQ(r.as_integer(), 2);
    before = client->round_trips();
    replies = client->eval_batch(count_fields, calls);
    EXPECT_EQ(client->round_trips(), before + 1);

    EXPECT_EQ(client->eval(count_fields, {"calculated-a|7"}, {}).as_integer(), 2);
    EXPECT_EQ(client->command("calculated-a|7", {"HLEN", "calculated-a|7"}).as_integer(), 2);
    const auto pipelined =
        client->pipeline("calculated-a|7", {Command{"HGET", "calculated-a|7", "1"}, Command{"DEL", "calculated-a|7"}});
    EXPECT_EQ(pipelined[0].as_string(), "x");
    EXPECT_EQ(pipelined[1].as_integer(), 1);

    // Mixed batch with scripts, and error replies kept in place.
    server.raw({"SCRIPT", "FLUSH"});
    std::vector<KeyedCommand> mixed = {
        {"calculated-a|1", count_fields.evalsha_command({"calculated-a|1"}, {})},
        {"calculated-a|1", Command{"INCR", "calculated-a|1"}},
    };
    replies = client->batch(mixed, {&count_fields});
    EXPECT_EQ(replies[0].as_integer(), 2);
    EXPECT_TRUE(replies[1].is_error());
    EXPECT_THROW(client->command("calculated-a|1", {"INCR", "calculated-a|1"}), ReplyError);

    EXPECT_EQ(client->connection_options("any").port, server.port());

    int seen = 0;
    client->with_connection("calculated-a|1", [&](Connection& c) {
        seen = static_cast<int>(c.command({"HLEN", "calculated-a|1"}).as_integer());
    });
    EXPECT_EQ(seen, 2);

    EXPECT_THROW(dogpile::redis::make_client("rediss://h?min_tls=1.0"), dogpile::ConfigurationError);
}

TEST(RedisClient, UrlKeepsTheCallersOtherConnectionSettings) {
    auto& server = RedisServer::shared();
    PoolOptions pool;
    pool.connection.connect_timeout = 1234ms;
    pool.connection.command_timeout = 4321ms;
    pool.connection.tcp_keepalive = false;
    pool.connection.client_name = "from-caller";
    pool.connection.db = 2;
    pool.connection.unix_socket = "/nonexistent/redis.sock";  // the URL's address replaces it
    std::atomic<int> connects{0};
    pool.connection.on_connect = [&connects](Connection&) { ++connects; };

    auto client = dogpile::redis::make_client("redis://127.0.0.1:" + std::to_string(server.port()), pool);
    const ConnectionOptions used = client->connection_options("k");
    EXPECT_TRUE(used.unix_socket.empty());
    EXPECT_EQ(used.port, server.port());
    EXPECT_EQ(used.connect_timeout, 1234ms);
    EXPECT_EQ(used.command_timeout, 4321ms);
    EXPECT_FALSE(used.tcp_keepalive);
    EXPECT_EQ(used.db, 2) << "the URL names no database";
    EXPECT_EQ(client->command("k", {"CLIENT", "GETNAME"}).as_string(), "from-caller");
    EXPECT_EQ(connects.load(), 1) << "on_connect survives the URL";

    // What the URL does say wins.
    const ConnectionOptions url_says =
        ConnectionOptions::from_url("redis://u:p@10.0.0.1/5?command_timeout=77&client_name=from-url", pool.connection);
    EXPECT_EQ(url_says.host, "10.0.0.1");
    EXPECT_EQ(url_says.port, 6379);
    EXPECT_EQ(url_says.username, "u");
    EXPECT_EQ(url_says.password, "p");
    EXPECT_EQ(url_says.db, 5);
    EXPECT_EQ(url_says.command_timeout, 77ms);
    EXPECT_EQ(url_says.connect_timeout, 1234ms);
    EXPECT_EQ(url_says.client_name, "from-url");
    EXPECT_TRUE(static_cast<bool>(url_says.on_connect));

    const ConnectionOptions to_unix = ConnectionOptions::from_url("unix:///tmp/r.sock", pool.connection);
    EXPECT_EQ(to_unix.unix_socket, "/tmp/r.sock");
    EXPECT_EQ(to_unix.db, 2);
    EXPECT_EQ(to_unix.command_timeout, 4321ms);
}

}  // namespace
