// The dogpile-redis ops tool (tools/dogpile_redis, docs/ops-tool.md), run as
// a user runs it: the built binary against a real redis-server, over data
// written by the library itself (a region over the hash store, a distributed
// lock, a near cache's tracking), checking stdout, stderr and exit codes.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/tracking.hpp>
#include <dogpile/region.hpp>

#include "support/child_process.hpp"
#include "support/near_cache_stack.hpp"
#include "support/redis_server.hpp"
#include "support/tls_certificates.hpp"
#include "support/wait.hpp"

#ifndef DOGPILE_REDIS_TOOL
// Configured with -DDOGPILE_BUILD_TOOLS=OFF (tests/tool_dogpile_redis.cmake):
// there is no binary to run, and the report says so.
TEST(ToolTest, NotBuilt) { GTEST_SKIP() << "dogpile-redis is not built (DOGPILE_BUILD_TOOLS=OFF)"; }
#else

namespace {

using dogpile::HashKeyScheme;
using dogpile::Region;
using dogpile::RedisHashBackend;
using dogpile::RedisHashBackendOptions;
using dogpile::codec::Dict;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::codec::Value;
using dogpile::codec::ValuesCodec;
using dogpile::redis::HashKey;
using dogpile::redis::PayloadMode;
using dogpile::test::RedisServer;

struct ToolRun {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

class ToolTest : public ::testing::Test {
protected:
    static RedisServer& server() {
        static RedisServer instance;
        return instance;
    }

    void SetUp() override {
        server().raw({"FLUSHALL"});
        char pattern[] = "/tmp/dogpile-tool-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string url() const { return server().url(); }

    std::string write_file(const std::string& name, const std::string& text) const {
        const std::string path = dir_ + "/" + name;
        std::ofstream(path) << text;
        return path;
    }

    // Runs the built tool with `args`; killed after 10 s so a hung tool
    // fails the test instead of blocking it.
    ToolRun tool(std::vector<std::string> args) const {
        args.insert(args.begin(), DOGPILE_REDIS_TOOL);
        const std::string out = dir_ + "/stdout";
        const std::string err = dir_ + "/stderr";
        dogpile::test::ChildProcess child(std::move(args), out, err);
        std::optional<int> status = child.wait(std::chrono::seconds(10));
        if (!status) {
            status = child.kill();
            ADD_FAILURE() << "dogpile-redis did not finish within 10 s";
        }
        ToolRun result;
        result.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
        result.out = slurp(out);
        result.err = slurp(err);
        return result;
    }

    std::shared_ptr<dogpile::redis::Client> client() const { return dogpile::redis::make_client(url()); }

    std::string dir_;
};

const HashKeyScheme calculated{"calculated-a|"};
const char* const flag_names = "write\nread\n# a comment, then a blank line\n\nadmin\n";

// The flags of (7, 42), written by a region over the raw hash store.
std::shared_ptr<RedisHashBackend<Flags, FlagsCodec>> flags_backend(std::shared_ptr<dogpile::redis::Client> client) {
    return std::make_shared<RedisHashBackend<Flags, FlagsCodec>>(
        RedisHashBackendOptions{std::move(client), std::chrono::hours(1)},
        FlagsCodec{KeyTemplate::flat({"admin", "read", "write"})});
}

void write_flags(const std::shared_ptr<dogpile::redis::Client>& client, long id_b, Flags flags) {
    Region<Flags, HashKey> region(flags_backend(client));
    region.get_or_create(calculated.key(7, id_b), [&] { return flags; });
}

// A one-line message on stderr, nothing on stdout.
void expect_one_line_error(const ToolRun& run, int code, const std::string& needle) {
    EXPECT_EQ(run.exit_code, code) << run.out << run.err;
    EXPECT_EQ(run.out, "");
    ASSERT_FALSE(run.err.empty());
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << run.err;
    EXPECT_EQ(run.err.rfind("dogpile-redis: ", 0), 0u) << run.err;
    EXPECT_NE(run.err.find(needle), std::string::npos) << run.err;
}

// The lines of `text` that do not start with '#'.
std::string value_lines(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    std::string out;
    while (std::getline(lines, line)) {
        if (line.rfind('#', 0) != 0) out += line + "\n";
    }
    return out;
}

TEST_F(ToolTest, HelpNamesEveryCommandAndEachCommandExplainsItself) {
    const ToolRun top = tool({"--help"});
    EXPECT_EQ(top.exit_code, 0);
    for (const char* command : {"get", "ls", "del", "locks", "tracking"}) {
        EXPECT_NE(top.out.find(std::string("\n  ") + command + " URL"), std::string::npos) << command;
        const ToolRun help = tool({command, "--help"});
        EXPECT_EQ(help.exit_code, 0) << command;
        EXPECT_EQ(help.out.rfind(std::string("Usage: dogpile-redis ") + command + " URL", 0), 0u) << help.out;
        EXPECT_NE(help.out.find("Example:\n  dogpile-redis " + std::string(command)), std::string::npos) << help.out;
        EXPECT_NE(help.out.find("unix://"), std::string::npos) << command;
    }
    EXPECT_NE(tool({"get", "--help"}).out.find("--template FILE"), std::string::npos);
    EXPECT_NE(tool({"locks", "--help"}).out.find("--lock-ttl MS"), std::string::npos);

    EXPECT_EQ(tool({}).exit_code, 2);
    expect_one_line_error(tool({"frob"}), 2, "unknown command 'frob'");
    expect_one_line_error(tool({"ls", url()}), 2, "'ls' takes URL ID_A, got 1 argument(s)");
    expect_one_line_error(tool({"ls", url(), "7", "--bogus"}), 2, "unknown option --bogus");
    expect_one_line_error(tool({"locks", url(), "--lock-ttl", "soon"}), 2, "--lock-ttl wants a whole number");
}

TEST_F(ToolTest, GetDecodesFlagsWrittenByARegionWithTheTemplate) {
    write_flags(client(), 42, Flags{{"admin", false}, {"read", true}, {"write", true}});
    const std::string names = write_file("names.txt", flag_names);

    const ToolRun run = tool({"get", url(), "7", "42", "--prefix", "calculated-a|", "--template", names});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.err, "");
    EXPECT_EQ(value_lines(run.out), "admin=false\nread=true\nwrite=true\n");
    EXPECT_NE(run.out.find("# hash 'calculated-a|7' field '42': 4 bytes, TTL "), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("# raw payload"), std::string::npos) << run.out;

    // The whole hash key as ID_A (the example) reads the same entry.
    const ToolRun whole = tool({"get", url(), "calculated-a|7", "42", "--template=" + names});
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    EXPECT_EQ(value_lines(whole.out), "admin=false\nread=true\nwrite=true\n");

    // The same over the unix socket.
    const ToolRun unix_run = tool({"get", server().unix_url(), "calculated-a|7", "42", "--template", names});
    ASSERT_EQ(unix_run.exit_code, 0) << unix_run.err;
    EXPECT_EQ(value_lines(unix_run.out), "admin=false\nread=true\nwrite=true\n");
}

TEST_F(ToolTest, GetShowsTheEnvelopeOfAnEnvelopedEntry) {
    RedisHashBackendOptions options{client(), std::chrono::hours(1)};
    options.payload = PayloadMode::envelope;
    auto backend = std::make_shared<RedisHashBackend<Dict, ValuesCodec<Dict>>>(
        options, ValuesCodec<Dict>{KeyTemplate::flat({"plan", "seats", "trial"})});
    Region<Dict, HashKey> region(backend);
    const auto before = std::chrono::system_clock::now();
    region.get_or_create(calculated.key(8, 1), [] {
        return Dict{{"plan", Value("gold")}, {"seats", Value(5)}, {"trial", Value(false)}};
    });
    const std::string names = write_file("names.txt", "trial\nseats\nplan\n");

    const ToolRun run = tool({"get", url(), "8", "1", "--prefix", "calculated-a|", "--template", names});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(value_lines(run.out), "plan=\"gold\"\nseats=5\ntrial=false\n");
    std::smatch created;
    ASSERT_TRUE(std::regex_search(run.out, created,
                                  std::regex("# envelope: created (\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z) "
                                             "\\(([0-9.]+) s ago\\), version 1, expiry owned by the "
                                             "region")))
        << run.out;
    EXPECT_LT(std::stod(created[2]), 5.0) << run.out;
    const std::time_t day = std::chrono::system_clock::to_time_t(before);
    std::tm tm{};
    ::gmtime_r(&day, &tm);
    char date[16];
    std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
    EXPECT_EQ(created[1].str().substr(0, 10), date);

    // --payload raw takes the envelope for msgpack, which it is not.
    expect_one_line_error(tool({"get", url(), "calculated-a|8", "1", "--template", names, "--payload", "raw"}), 1,
                          "does not match the template");
}

TEST_F(ToolTest, LsListsAnIdsEntriesWithTheHashTtlAndSizes) {
    auto c = client();
    write_flags(c, 42, Flags{{"admin", false}, {"read", true}, {"write", true}});
    write_flags(c, 43, Flags{{"admin", true}, {"read", true}, {"write", true}});
    // An enveloped value in the same hash (as a second backend would write it).
    const std::string enveloped = dogpile::codec::envelope::wrap(
        dogpile::Metadata::created_now(std::chrono::system_clock::now()), std::string("\x93\xc3\xc3\xc3", 4));
    c->command("", {"HSET", "calculated-a|7", "44", enveloped});

    const ToolRun run = tool({"ls", url(), "7", "--prefix", "calculated-a|"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out.rfind("hash 'calculated-a|7': 3 entries, TTL ", 0), 0u) << run.out;
    EXPECT_TRUE(std::regex_search(run.out, std::regex("\n42 +4 +raw +-\n"))) << run.out;
    EXPECT_TRUE(std::regex_search(run.out, std::regex("\n43 +4 +raw +-\n"))) << run.out;
    EXPECT_TRUE(std::regex_search(
        run.out, std::regex("\n44 +28 +envelope +\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z \\([0-9.]+ s ago\\)\n")))
        << run.out;

    c->command("", {"PERSIST", "calculated-a|7"});
    EXPECT_NE(tool({"ls", url(), "calculated-a|7"}).out.find("3 entries, no TTL"), std::string::npos);
}

TEST_F(ToolTest, DelDeletesAnIdsHashAndSaysWhat) {
    auto c = client();
    write_flags(c, 42, Flags{{"admin", false}, {"read", true}, {"write", true}});
    write_flags(c, 43, Flags{{"admin", true}, {"read", true}, {"write", true}});

    const ToolRun run = tool({"del", url(), "7", "--prefix", "calculated-a|"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out, "deleted hash 'calculated-a|7' (2 entries)\n");
    EXPECT_EQ(c->command("", {"EXISTS", "calculated-a|7"}).as_integer(), 0);

    expect_one_line_error(tool({"del", url(), "7", "--prefix", "calculated-a|"}), 1,
                          "nothing deleted: no hash 'calculated-a|7'");
}

TEST_F(ToolTest, LocksListsAHeldDistributedLockWithItsTtlAndHolderAge) {
    RedisHashBackendOptions options{client(), std::chrono::hours(1)};
    dogpile::redis::LockOptions lock_options;
    lock_options.ttl = std::chrono::seconds(10);
    options.distributed_lock = lock_options;
    RedisHashBackend<Flags, FlagsCodec> backend(options, FlagsCodec{KeyTemplate::flat({"read"})});
    const auto lock = backend.get_mutex(calculated.key(7, 42));
    ASSERT_TRUE(lock->try_lock());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    const ToolRun run = tool({"locks", url(), "--lock-ttl", "10000"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out.rfind("1 lock(s) under prefix 'dogpile-lock|'", 0), 0u) << run.out;
    std::smatch row;
    ASSERT_TRUE(std::regex_search(run.out, row,
                                  std::regex("\ndogpile-lock\\|14:calculated-a\\|7\\|42 +([0-9.]+) s +([0-9.]+) s +"
                                             "hash 'calculated-a\\|7' field '42'\n")))
        << run.out;
    const double left = std::stod(row[1]);
    const double held = std::stod(row[2]);
    EXPECT_GT(left, 5.0);
    EXPECT_LE(left, 9.7);
    EXPECT_GE(held, 0.3);
    EXPECT_LT(held, 5.0);
    EXPECT_NEAR(left + held, 10.0, 0.002);

    // Another prefix sees none of them; a TTL left above --lock-ttl is flagged.
    EXPECT_EQ(tool({"locks", url(), "--prefix", "other-lock|"}).out,
              "0 lock(s) under prefix 'other-lock|' (held for = lock TTL 30.000 s minus TTL left)\n");
    EXPECT_NE(tool({"locks", url(), "--lock-ttl", "1000"}).out.find("? (TTL left exceeds --lock-ttl)"),
              std::string::npos);

    lock->unlock();
    EXPECT_EQ(tool({"locks", url()}).out.rfind("0 lock(s)", 0), 0u);
}

TEST_F(ToolTest, TrackingShowsANearCachesTrackedConnectionAndItsListener) {
    const ToolRun idle = tool({"tracking", url()});
    ASSERT_EQ(idle.exit_code, 0) << idle.err;
    EXPECT_NE(idle.out.find("\ntracking_clients=0\n"), std::string::npos) << idle.out;
    EXPECT_NE(idle.out.find("\n0 connection(s) with tracking on\n"), std::string::npos) << idle.out;

    dogpile::redis::TrackingOptions tracking;
    tracking.connection = server().options();
    const auto stack = dogpile::test::make_near_cache_stack(tracking, 1);
    ASSERT_TRUE(stack.listener->wait_until_tracking(std::chrono::seconds(5))) << stack.listener->last_error();
    server().raw({"HSET", "calculated-a|7", "42", std::string("\xa1x", 2)});
    ASSERT_TRUE(stack.cache->get(HashKey{"calculated-a|7", "42"}).has_value());

    const ToolRun run = tool({"tracking", url()});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out.rfind("server redis://127.0.0.1:" + std::to_string(server().port()), 0), 0u) << run.out;
    EXPECT_NE(run.out.find("\ntracking_clients=1\n"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("\ntracking_total_keys=1\n"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("\n1 connection(s) with tracking on\n"), std::string::npos) << run.out;
    // The redirect target is the listener: a live connection with one subscription.
    // (The listener's connection is the one subscribed; asked without the tool.)
    const std::string clients = server().raw({"CLIENT", "LIST"}).str;
    std::smatch subscribed;
    ASSERT_TRUE(std::regex_search(clients, subscribed, std::regex("(?:^|\n)id=(\\d+) [^\n]* sub=1 "))) << clients;
    const std::string listener_id = subscribed[1];
    EXPECT_TRUE(
        std::regex_search(run.out, std::regex(" standard +" + listener_id + " \\(name .*, subscriptions 1\\)\n")))
        << run.out << "listener id " << listener_id;

    // A connection whose redirect target has gone loses its invalidations:
    // the tool says so.
    auto target = std::make_unique<dogpile::redis::Connection>(server().options());
    const std::string target_id = std::to_string(target->command({"CLIENT", "ID"}).as_integer());
    dogpile::redis::Connection orphan(server().options());
    orphan.command({"CLIENT", "TRACKING", "on", "REDIRECT", target_id});
    EXPECT_TRUE(
        std::regex_search(tool({"tracking", url()}).out,
                          std::regex(" standard +" + target_id + " \\(name -, .*, subscriptions 0\\) NOT SUBSCRIBED")));
    target.reset();
    ASSERT_TRUE(dogpile::test::wait_for_condition(
        [&] {
            return server().raw({"CLIENT", "LIST", "ID", target_id}).str.empty();
        },
        std::chrono::seconds(5)));
    const ToolRun gone = tool({"tracking", url()});
    EXPECT_NE(gone.out.find("\n2 connection(s) with tracking on\n"), std::string::npos) << gone.out;
    EXPECT_TRUE(std::regex_search(gone.out, std::regex(" standard +" + target_id +
                                                       " GONE: invalidations for this "
                                                       "connection are lost")))
        << gone.out;
}

TEST_F(ToolTest, ErrorsAreOneLineWithExitCodeOneForDataAndTwoForUsage) {
    auto c = client();
    write_flags(c, 42, Flags{{"admin", false}, {"read", true}, {"write", true}});
    const std::string names = write_file("names.txt", flag_names);

    // Wrong URL, unreachable server, missing template file: 2.
    expect_one_line_error(tool({"ls", "http://127.0.0.1:6379", "7"}), 2, "bad URL: redis URL 'http://127.0.0.1:6379'");
    expect_one_line_error(tool({"ls", "redis://127.0.0.1:99999", "7"}), 2, "bad URL");
    expect_one_line_error(tool({"ls", "redis://u:secret@127.0.0.1:99999", "7"}), 2, "***");
    EXPECT_EQ(tool({"ls", "redis://u:secret@127.0.0.1:99999", "7"}).err.find("secret"), std::string::npos);
    const int free_port = dogpile::test::redis_server_details::pick_free_port();
    expect_one_line_error(tool({"locks", "redis://127.0.0.1:" + std::to_string(free_port)}), 2,
                          "cannot reach the server");
    expect_one_line_error(tool({"get", url(), "calculated-a|7", "42", "--template", dir_ + "/missing.txt"}), 2,
                          "cannot read template file '" + dir_ + "/missing.txt'");
    expect_one_line_error(tool({"get", url(), "calculated-a|7", "42"}), 2, "get needs --template FILE");
    expect_one_line_error(tool({"get", url(), "calculated-a|7", "42", "--template", names, "--payload", "zip"}), 2,
                          "--payload is raw, envelope or auto");

    // Missing key (field, or whole hash): 1.
    expect_one_line_error(tool({"get", url(), "calculated-a|7", "99", "--template", names}), 1,
                          "no entry: hash 'calculated-a|7' field '99' does not exist");
    expect_one_line_error(tool({"get", url(), "calculated-a|8", "42", "--template", names}), 1,
                          "no entry: hash 'calculated-a|8' does not exist");
    expect_one_line_error(tool({"ls", url(), "8", "--prefix", "calculated-a|"}), 1, "no hash 'calculated-a|8'");

    // A payload that does not match the template: 1.
    const std::string two = write_file("two.txt", "read\nwrite\n");
    expect_one_line_error(tool({"get", url(), "calculated-a|7", "42", "--template", two}), 1,
                          "array of 3 values, the key template [read, write] has 2 keys");
    c->command("", {"HSET", "calculated-a|7", "50", "not msgpack"});
    expect_one_line_error(tool({"get", url(), "calculated-a|7", "50", "--template", names}), 1,
                          "hash 'calculated-a|7' field '50' does not match the template");
    c->command("", {"HSET", "calculated-a|7", "51", std::string("\xc1\x07", 2)});
    expect_one_line_error(tool({"get", url(), "calculated-a|7", "51", "--template", names}), 1,
                          "field '51': envelope: truncated header");
    // A key of another type where a hash should be: 1.
    c->command("", {"SET", "calculated-a|9", "x"});
    expect_one_line_error(tool({"ls", url(), "calculated-a|9"}), 1, "WRONGTYPE");
}

#if DOGPILE_HAS_TLS
// rediss:// goes through the library's TLS transport: the tool verifies the
// server's certificate against the URL's ca_file, and refuses another CA.
TEST_F(ToolTest, RedissUrlsUseTheLibrarysTls) {
    const auto& certificates = dogpile::test::TlsCertificates::shared();
    RedisServer tls_server(dogpile::test::tls_server_options(certificates.server_cert()));
    tls_server.raw({"HSET", "calculated-a|7", "42", std::string("\x93\xc2\xc3\xc3", 4)});
    const std::string names = write_file("names.txt", flag_names);

    ASSERT_EQ(tls_server.url().rfind("rediss://", 0), 0u);
    const ToolRun run = tool({"get", tls_server.url(), "calculated-a|7", "42", "--template", names});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(value_lines(run.out), "admin=false\nread=true\nwrite=true\n");

    const std::string untrusted =
        "rediss://127.0.0.1:" + std::to_string(tls_server.port()) + "?ca_file=" + certificates.other_ca_file();
    expect_one_line_error(tool({"ls", untrusted, "calculated-a|7"}), 2, "cannot reach the server");
}
#endif

// What docs/ops-tool.md says the tool needs beyond the application's rights
// is enough for every command.
TEST_F(ToolTest, TheDocumentedAclIsEnough) {
    dogpile::test::RedisServerOptions options;
    options.acl_users.push_back({"ops",
                                 "opspass",
                                 {"~calculated-a|*", "~dogpile-lock|*", "+hget", "+pttl", "+hscan", "+hlen", "+del",
                                  "+scan", "+client|list", "+info"}});
    RedisServer acl_server(options);
    const std::string ops_url = "redis://ops:opspass@127.0.0.1:" + std::to_string(acl_server.port());
    acl_server.raw({"HSET", "calculated-a|7", "42", std::string("\x93\xc2\xc3\xc3", 4)});
    acl_server.raw({"SET", "dogpile-lock|14:calculated-a|7|42", "token", "PX", "30000"});
    const std::string names = write_file("names.txt", flag_names);

    EXPECT_EQ(tool({"get", ops_url, "calculated-a|7", "42", "--template", names}).exit_code, 0);
    EXPECT_EQ(tool({"ls", ops_url, "calculated-a|7"}).exit_code, 0);
    EXPECT_EQ(tool({"locks", ops_url}).out.rfind("1 lock(s)", 0), 0u);
    EXPECT_EQ(tool({"tracking", ops_url}).exit_code, 0);
    EXPECT_EQ(tool({"del", ops_url, "calculated-a|7"}).exit_code, 0);
    expect_one_line_error(tool({"ls", "redis://ops:wrong@127.0.0.1:" + std::to_string(acl_server.port()), "7"}), 2,
                          "refused the URL's user or password");
    // Without a right, the refusal names the ACL.
    expect_one_line_error(tool({"ls", ops_url, "other|7"}), 2, "refused a command (ACL)");
}

}  // namespace

#endif  // DOGPILE_REDIS_TOOL
