// Bounded replies: a bulk string over ConnectionOptions::max_reply_bulk_bytes,
// or over a caller's ReplyLimitScope, is refused from its header before its
// body is read (redis/details/resp_scanner.hpp). The byte stores bound their
// reads by their own limits, so a 100 MB field planted server-side is a
// counted miss that costs the reading process a few MB, not 100: peak RSS is
// measured in a forked child that does the read.
//
// This binary forks: it starts no thread of its own.

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <dogpile/backends/redis/details/bounded_reads.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/details/reply_limit.hpp>
#include <dogpile/redis/details/resp_scanner.hpp>
#include <dogpile/region.hpp>

#include "support/message_of.hpp"
#include "support/redis_server.hpp"

namespace {

using dogpile::DecodeError;
using dogpile::HashKey;
using dogpile::Region;
using dogpile::RedisHashBackend;
using dogpile::RedisHashBackendOptions;
using dogpile::redis::Command;
using dogpile::redis::Connection;
using dogpile::redis::ConnectionOptions;
using dogpile::redis::IoError;
using dogpile::redis::ReplyTooLarge;
using dogpile::redis::details::ReplyLimitScope;
using dogpile::redis::details::RespScanner;
using dogpile::test::message_of;
using dogpile::test::RedisServer;

using dogpile::test::contains;

// ------------------------------------------------------------ the scanner

TEST(RespScanner, FindsABulkHeaderSplitAcrossChunks) {
    const std::string stream = "*3\r\n:1\r\n$3\r\nfoo\r\n$1001\r\n";
    RespScanner scanner;
    std::optional<RespScanner::Oversized> found;
    for (char c : stream) {
        if ((found = scanner.scan(std::string_view(&c, 1), 1000))) break;
    }
    ASSERT_TRUE(found);
    EXPECT_EQ(found->size, 1001u);
    EXPECT_FALSE(found->is_line);
}

TEST(RespScanner, SkipsBodiesThatLookLikeHeaders) {
    // The body of the first bulk spells a huge bulk header: not one.
    const std::string stream = "$12\r\n$99999999\r\n\r\n=7\r\ntxt:abc\r\n!3\r\nERR\r\n$-1\r\n%1\r\n+a\r\n_\r\n";
    RespScanner scanner;
    EXPECT_FALSE(scanner.scan(stream, 100));
    EXPECT_FALSE(scanner.scan("$100\r\n", 100));
    RespScanner resp3;
    EXPECT_TRUE(resp3.scan("=101\r\n", 100));
    RespScanner blob_error;
    EXPECT_TRUE(blob_error.scan("!101\r\n", 100));
}

TEST(RespScanner, BoundsALineThatNeverEnds) {
    RespScanner scanner;
    EXPECT_FALSE(scanner.scan("+" + std::string(99, 'a'), 100));
    const auto found = scanner.scan("a", 100);
    ASSERT_TRUE(found);
    EXPECT_TRUE(found->is_line);
}

// ------------------------------------------------------- on a connection

class BoundedConnection : public ::testing::Test {
protected:
    static RedisServer& server() { return RedisServer::shared(); }

    static void plant(const std::string& key, std::size_t size) {
        Connection c(server().options());
        c.command({"SET", key, std::string(size, 'v')});
    }
};

TEST_F(BoundedConnection, ABulkAtTheLimitPassesOneByteMoreIsRefused) {
    plant("bounded:at", 1000);
    plant("bounded:over", 1001);
    ConnectionOptions o = server().options();
    o.max_reply_bulk_bytes = 1000;
    Connection c(o);
    EXPECT_EQ(c.command({"GET", "bounded:at"}).view().size(), 1000u);

    const std::string message = message_of<ReplyTooLarge>([&] { c.command({"GET", "bounded:over"}); });
    EXPECT_TRUE(contains(message, "a reply bulk of 1001 bytes exceeds ConnectionOptions::max_reply_bulk_bytes (1000)"))
        << message;
    EXPECT_TRUE(c.broken());  // discarded, not drained
    EXPECT_THROW(c.command({"PING"}), IoError);
}

TEST_F(BoundedConnection, AScopeTightensTheLimitAndNests) {
    plant("bounded:500", 500);
    plant("bounded:501", 501);
    ConnectionOptions o = server().options();
    o.max_reply_bulk_bytes = 1000;
    Connection c(o);
    {
        const ReplyLimitScope outer(500);
        const ReplyLimitScope inner(2000);  // cannot loosen the outer one
        EXPECT_EQ(c.command({"GET", "bounded:500"}).view().size(), 500u);
        const std::string message = message_of<ReplyTooLarge>([&] { c.command({"GET", "bounded:501"}); });
        EXPECT_TRUE(contains(message, "exceeds the caller's limit of 500 bytes")) << message;
    }
    c.reconnect();
    EXPECT_EQ(c.command({"GET", "bounded:501"}).view().size(), 501u);  // the scope is gone
}

TEST_F(BoundedConnection, ABulkInsideAnArrayIsRefusedToo) {
    plant("bounded:a", 10);
    plant("bounded:b", 5000);
    ConnectionOptions o = server().options();
    o.max_reply_bulk_bytes = 1000;
    Connection c(o);
    EXPECT_THROW(c.command({"MGET", "bounded:a", "bounded:b"}), ReplyTooLarge);
}

TEST(BoundedConnectionOptions, ZeroIsRefused) {
    ConnectionOptions o;
    o.max_reply_bulk_bytes = 0;
    EXPECT_THROW(o.validate(), dogpile::ConfigurationError);
    EXPECT_EQ(ConnectionOptions{}.max_reply_bulk_bytes, std::size_t{512} << 20);
}

// ------------------------------------------------- a 100 MB field, in a child

constexpr std::size_t huge_field_bytes = std::size_t{100} << 20;

struct ChildReport {
    long rss_before_kb = 0;
    long rss_after_kb = 0;
    int outcome = 0;  // see the Outcome values of each test
    std::uint64_t size = 0;
    std::uint64_t decode_errors = 0;
    std::uint64_t backend_errors = 0;
    char error[512] = {};  // what the child threw, if anything
};

long peak_rss_kb() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

// Runs `read` in a forked child (so the parent never holds the field) and
// returns what it reported. The child leaves with _exit: no destructor of
// the parent's objects (the shared server) runs there.
ChildReport in_child(const std::function<void(ChildReport&)>& read) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        ChildReport report;
        report.rss_before_kb = peak_rss_kb();
        try {
            read(report);
        } catch (const std::exception& e) {
            report.outcome = -1;
            std::strncat(report.error, e.what(), sizeof report.error - 1);
        } catch (...) {
            report.outcome = -1;
        }
        report.rss_after_kb = peak_rss_kb();
        (void)!::write(fds[1], &report, sizeof report);
        ::_exit(0);
    }
    ::close(fds[1]);
    ChildReport report;
    const ssize_t n = ::read(fds[0], &report, sizeof report);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (n != static_cast<ssize_t>(sizeof report)) throw std::runtime_error("the child reported nothing");
    return report;
}

class HugeField : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // Made by the server, so this process never holds it.
        Connection c(patient_options());
        c.command({"EVAL", "redis.call('HSET', KEYS[1], ARGV[1], string.rep('x', tonumber(ARGV[2]))) return 1", "1",
                   key().hash, key().field, std::to_string(huge_field_bytes)});
    }
    static void TearDownTestSuite() {
        Connection c(patient_options());
        c.command({"DEL", key().hash});
    }
    static HashKey key() { return HashKey{"bounded:huge", "f"}; }

    static ConnectionOptions patient_options() {
        ConnectionOptions o = RedisServer::shared().options();
        o.command_timeout = std::chrono::seconds(60);  // building 100 MB in Lua takes a while
        return o;
    }

    static RedisHashBackendOptions options() {
        RedisHashBackendOptions o;
        o.client = dogpile::redis::make_client(RedisServer::shared().url());
        o.ttl = std::chrono::hours(1);
        return o;
    }
};

TEST_F(HugeField, IsACountedMissReadWithoutBufferingIt) {
    enum Outcome { miss = 1, served = 2 };
    const ChildReport report = in_child([](ChildReport& r) {
        auto backend = std::make_shared<RedisHashBackend<std::string>>(options());
        Region<std::string, HashKey> region(backend);
        r.outcome = region.get(key()) ? served : miss;
        r.decode_errors = backend->stats().decode_errors;
        r.backend_errors = region.stats().backend_errors;
    });
    EXPECT_EQ(report.outcome, miss) << report.error;
    EXPECT_EQ(report.decode_errors, 1u);
    EXPECT_EQ(report.backend_errors, 1u);
    const long limit_kb =
        static_cast<long>(dogpile::redis::details::reply_limit_for(RedisHashBackendOptions{}.limits) / 1024);
    const long growth_kb = report.rss_after_kb - report.rss_before_kb;
    std::cout << "peak RSS growth reading a 100 MB field through the hash store: " << growth_kb << " KB (limit "
              << limit_kb << " KB)\n";
    EXPECT_LT(growth_kb, limit_kb + 8 * 1024);
}

TEST_F(HugeField, IsReadWhenTheLimitAllowsIt) {
    // The same read with a raised limit returns the field: the limit, and
    // nothing else, refused it above.
    enum Outcome { refused = 1, served = 2 };
    const ChildReport report = in_child([](ChildReport& r) {
        RedisHashBackendOptions o = options();
        o.limits.max_payload_bytes = huge_field_bytes;
        dogpile::redis::RedisHashStore store(o);
        try {
            const auto bytes = store.get(key());
            r.outcome = served;
            r.size = bytes ? bytes->view().size() : 0;
        } catch (const DecodeError&) {
            r.outcome = refused;
        }
    });
    EXPECT_EQ(report.outcome, served) << report.error;
    EXPECT_EQ(report.size, huge_field_bytes);
}

TEST_F(HugeField, TheStoreRefusesItFromItsHeader) {
    enum Outcome { refused = 1, served = 2 };
    const ChildReport report = in_child([](ChildReport& r) {
        dogpile::redis::RedisHashStore store(options());
        try {
            (void)store.get(key());
            r.outcome = served;
        } catch (const DecodeError& e) {
            r.outcome = contains(e.what(), "refused unread") ? refused : 0;
        }
        r.decode_errors = store.stats().decode_errors;
    });
    EXPECT_EQ(report.outcome, refused) << report.error;
    EXPECT_EQ(report.decode_errors, 1u);
}

}  // namespace
