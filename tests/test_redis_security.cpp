// The security model of the README, tested against real servers: password
// and ACL-user authentication through a URL, a wrong or missing password as a
// clear error that never shows the password, the least-privilege ACL recipe
// (keys ~calculated-a|* ~dogpile-lock|*, only the commands the hash store and
// the lock use) running the hash store with the distributed lock, lock tokens
// from the kernel's CSPRNG, and keys, fields and values holding Lua or Redis
// protocol text stored verbatim without doing anything else.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/backends/redis/details/hash_scripts.hpp>
#include <dogpile/region.hpp>

#include "support/message_of.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::BackendErrorEvent;
using dogpile::BackendErrorPolicy;
using dogpile::HashKey;
using dogpile::HashKeyScheme;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::redis::AuthError;
using dogpile::redis::ReplyError;
using dogpile::test::RawReply;
using dogpile::test::RedisAclUser;
using dogpile::test::RedisServer;
using dogpile::test::RedisServerOptions;

using StringHashBackend = dogpile::RedisHashBackend<std::string>;
using StringHashRegion = Region<std::string, HashKey>;

// The default user's password holds characters a URL must escape.
const std::string admin_password = "adm1n pw:@/%";
const std::string cache_user = "cache";
const std::string cache_password = "c4che-pw";
const std::string wrong_password = "wr0ng-pw-123";

// The README's least-privilege recipe for the hash store with the
// distributed lock. +hset is needed because Redis 7 checks the commands a
// script runs against the caller's ACL too: the hset-with-expiry script
// calls HSET (and PTTL, PEXPIRE); the lock's scripts call GET, DEL, PEXPIRE.
std::vector<std::string> recipe() {
    return {"~calculated-a|*", "~dogpile-lock|*", "+get",     "+set",         "+mget",    "+del",  "+hget",
            "+hmget",          "+hdel",           "+evalsha", "+script|load", "+pexpire", "+pttl", "+hset"};
}

// The recipe's optional part: the lock's release wake-ups (the script
// PUBLISHes, waiters SUBSCRIBE). Without it waiters poll, nothing fails
// (TheWakeUpRulesAreNeededForWakeUpsOnly), so it is not in recipe(), whose
// every rule is needed.
std::vector<std::string> wake_up_rules() { return {"&dogpile-lock|*", "+publish", "+subscribe"}; }

std::vector<std::string> with_wake_ups(std::vector<std::string> rules) {
    for (auto& r : wake_up_rules()) rules.push_back(r);
    return rules;
}

std::vector<std::string> recipe_without(const std::string& command) {
    std::vector<std::string> out = recipe();
    out.erase(std::remove(out.begin(), out.end(), command), out.end());
    return out;
}

RedisServer& secured_server() {
    static RedisServer server([] {
        RedisServerOptions o;
        o.password = admin_password;
        o.acl_users.push_back(RedisAclUser{cache_user, cache_password, with_wake_ups(recipe())});
        return o;
    }());
    return server;
}

std::string tcp_url(const std::string& user, const std::string& password) {
    return "redis://" + user + ":" + password + "@127.0.0.1:" + std::to_string(secured_server().port()) + "/0";
}

// As the default user (with the admin password), independent of the library.
RawReply admin(const std::vector<std::string>& argv) {
    RawReply r = secured_server().raw(argv);
    EXPECT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
    return r;
}

bool exists(const std::string& key) { return admin({"EXISTS", key}).integer == 1; }

std::optional<std::string> stored(const RedisServer& server, const HashKey& key) {
    const RawReply r = server.raw({"HGET", key.hash, key.field});
    if (r.type != REDIS_REPLY_STRING) return std::nullopt;
    return dogpile::codec::MsgpackCodec<std::string>{}.decode(r.str);
}

// The test's name and a number unique to this call: the secured server is
// shared by every test and every --gtest_repeat round, so keys built on it
// are fresh each time.
std::string test_id() {
    static int calls = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->name()) + "." + std::to_string(++calls);
}

std::shared_ptr<StringHashBackend> hash_backend(std::shared_ptr<dogpile::redis::Client> client) {
    dogpile::RedisHashBackendOptions o;
    o.client = std::move(client);
    o.ttl = std::chrono::hours(1);
    o.distributed_lock = dogpile::redis::LockOptions{};  // prefix "dogpile-lock|"
    return std::make_shared<StringHashBackend>(o);
}

using dogpile::test::contains;

// --- authentication --------------------------------------------------------------------

TEST(RedisAuthentication, AclUserFromAUrlRunsTheRegion) {
    const HashKeyScheme calculated{"calculated-a|" + test_id() + "-"};
    auto backend = hash_backend(dogpile::redis::make_client(tcp_url(cache_user, cache_password)));
    StringHashRegion region(backend);
    const HashKey key = calculated.key(7, 42);
    EXPECT_EQ(region.get_or_create(key, [] { return std::string("perms-7-42"); }), "perms-7-42");
    EXPECT_EQ(stored(secured_server(), key), std::optional<std::string>("perms-7-42"));
    EXPECT_EQ(region.get_or_create(key, [] { return std::string("again"); }), "perms-7-42");
    EXPECT_EQ(region.stats().backend_errors, 0u);

    // The default user's password, percent-encoded in the URL by the fixture.
    auto as_default = hash_backend(dogpile::redis::make_client(secured_server().url()));
    EXPECT_EQ(as_default->get(key)->value, "perms-7-42");
}

// make_client is lazy: the first operation opens the first connection, and
// that is where a refused AUTH surfaces, as an AuthError that says so and
// never shows the password.
TEST(RedisAuthentication, WrongPasswordIsAClearAuthErrorAtFirstUse) {
    const HashKey key{"calculated-a|" + test_id(), "1"};
    auto backend = hash_backend(dogpile::redis::make_client(tcp_url(cache_user, wrong_password)));
    std::string message;
    try {
        backend->get(key);
        ADD_FAILURE() << "no error";
    } catch (const AuthError& e) {
        message = e.what();
        EXPECT_TRUE(e.is_wrongpass()) << message;
    }
    EXPECT_TRUE(contains(message, "AUTH as user 'cache' refused")) << message;
    EXPECT_TRUE(contains(message, "WRONGPASS")) << message;
    EXPECT_FALSE(contains(message, wrong_password)) << message;
    EXPECT_FALSE(contains(message, cache_password)) << message;

    // The default user with a wrong password: the same, worded for it.
    auto wrong_default = dogpile::redis::make_client("redis://:" + wrong_password +
                                                     "@127.0.0.1:" + std::to_string(secured_server().port()));
    try {
        wrong_default->command("k", {"GET", "k"});
        ADD_FAILURE() << "no error";
    } catch (const AuthError& e) {
        message = e.what();
    }
    EXPECT_TRUE(contains(message, "AUTH with a password refused")) << message;
    EXPECT_FALSE(contains(message, wrong_password)) << message;
}

TEST(RedisAuthentication, WrongPasswordThroughADegradingRegionIsCountedAndReportedClearly) {
    const HashKey key{"calculated-a|" + test_id(), "1"};
    auto backend = hash_backend(dogpile::redis::make_client(tcp_url(cache_user, wrong_password)));
    std::vector<std::string> messages;
    std::size_t auth_errors = 0;
    RegionOptions options;
    options.error_hook = [&](const BackendErrorEvent& e) {
        messages.emplace_back(e.message);
        try {
            std::rethrow_exception(e.error);
        } catch (const AuthError&) {
            ++auth_errors;
        } catch (...) {
        }
    };
    StringHashRegion region(backend, options);
    EXPECT_EQ(region.get_or_create(key, [] { return std::string("computed"); }), "computed");
    const auto errors = region.stats().backend_errors;
    EXPECT_GT(errors, 0u);
    ASSERT_EQ(messages.size(), errors);
    EXPECT_EQ(auth_errors, errors) << "every failure is the refused AUTH";
    for (const auto& m : messages) {
        EXPECT_TRUE(contains(m, "AUTH as user 'cache' refused") && contains(m, "WRONGPASS")) << m;
        EXPECT_FALSE(contains(m, wrong_password)) << m;
    }
    EXPECT_FALSE(exists(key.hash));

    // With BackendErrorPolicy::raise the caller gets the AuthError itself.
    options.on_backend_error = BackendErrorPolicy::raise;
    StringHashRegion strict(backend, options);
    EXPECT_THROW(strict.get_or_create(key, [] { return std::string("computed"); }), AuthError);
}

// Without any password the handshake has nothing to send, so the server's
// refusal comes with the first command: NOAUTH, still explicit.
TEST(RedisAuthentication, MissingPasswordIsReportedAsNoauth) {
    const HashKey key{"calculated-a|" + test_id(), "1"};
    auto backend =
        hash_backend(dogpile::redis::make_client("redis://127.0.0.1:" + std::to_string(secured_server().port())));
    try {
        backend->get(key);
        ADD_FAILURE() << "no error";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_noauth()) << e.what();
        EXPECT_TRUE(contains(e.what(), "Authentication required")) << e.what();
    }
}

// --- least privilege ---------------------------------------------------------------------

// An error the library raised or reported: the server's reply for a
// ReplyError, what() otherwise (a ScriptingRefused quotes the server's reply).
struct SeenError {
    std::string kind;  // "ReplyError", "ScriptingRefused" or "other"
    std::string text;
};

SeenError seen(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const ReplyError& e) {
        return {"ReplyError", e.message()};
    } catch (const dogpile::redis::ScriptingRefused& e) {
        return {"ScriptingRefused", e.what()};
    } catch (const std::exception& e) {
        return {"other", e.what()};
    } catch (...) {
        return {"other", "not a std::exception"};
    }
}

// What a workload run came to: the first step that failed (empty: none),
// and every error raised or reported through the region's error hook on the
// way (a failed lock release is only reported).
struct WorkloadResult {
    std::string failure;
    std::vector<SeenError> errors;
};

// The commands the store's and the lock's Lua scripts run (hset-with-expiry:
// PTTL, HSET, PEXPIRE; lock release and extend: GET, DEL, PEXPIRE).
bool run_by_a_script(const std::string& command) {
    static const std::set<std::string> commands{"pttl", "hset", "pexpire", "get", "del"};
    return commands.count(command) != 0;
}

// Whether `e` is the server refusing what `rule` grants:
// * "+cmd": NOPERM naming the command ("... to run the 'cmd' command"), as a
//   ReplyError or quoted by the lock's ScriptingRefused; for a command a
//   script runs, also Redis 7.0's refusal inside a script, which is an ERR
//   that cannot name it ("The user executing the script can't run this
//   command or subcommand").
// * "~pattern": NOPERM about keys, or the script's refusal of a key.
bool refuses(const SeenError& e, const std::string& rule) {
    const bool noperm = (e.kind == "ReplyError" && e.text.rfind("NOPERM ", 0) == 0) ||
                        (e.kind == "ScriptingRefused" && contains(e.text, "(NOPERM "));
    const bool in_script = e.kind == "ReplyError" && e.text.rfind("ERR The user executing the script can't ", 0) == 0;
    if (rule.front() == '+') {
        const std::string command = rule.substr(1);
        if (noperm) return contains(e.text, "'" + command + "' command");
        return in_script && run_by_a_script(command) && contains(e.text, "can't run this command");
    }
    if (noperm) return contains(e.text, "access") && contains(e.text, "key");
    return in_script && contains(e.text, "can't access at least one of the keys");
}

// Everything the hash store and its distributed lock send to Redis, as the
// user of `url`, with each effect checked through the admin connection.
WorkloadResult hash_store_workload(const std::string& url, const std::string& id) {
    WorkloadResult result;
    std::string step = "setup";
    auto fail = [&](const std::string& why) {
        result.failure = step + ": " + why;
        return result;
    };
    try {
        auto client = dogpile::redis::make_client(url);
        auto backend = hash_backend(client);
        RegionOptions options;
        options.lock_timeout = 10s;
        options.on_backend_error = BackendErrorPolicy::raise;  // a refused command fails the step
        options.error_hook = [&](const BackendErrorEvent& e) { result.errors.push_back(seen(e.error)); };
        StringHashRegion region(backend, options);
        const HashKeyScheme calculated{"calculated-a|" + id + "-"};
        admin({"SCRIPT", "FLUSH"});  // so the first script call must SCRIPT LOAD

        // get_or_create: HGET, SET NX PX (the lock), HGET, EVALSHA
        // hset-with-expiry (HSET, PTTL, PEXPIRE), EVALSHA release (GET, DEL).
        step = "get_or_create";
        const HashKey key = calculated.key(7, 42);
        const std::string lock_key = "dogpile-lock|" + StringHashBackend::lock_resource(key);
        if (exists(key.hash)) return fail("the keys of this run are not fresh");
        std::optional<bool> locked_while_creating;
        const std::string got = region.get_or_create(key, [&] {
            locked_while_creating = exists(lock_key);
            return std::string("v");
        });
        if (got != "v") return fail("got '" + got + "'");
        if (!locked_while_creating) return fail("the creator did not run");
        if (!*locked_while_creating) return fail("the creator ran without the distributed lock");
        // A failed release is swallowed by the region (the key would expire): look.
        if (exists(lock_key)) return fail("the distributed lock was not released");
        if (stored(secured_server(), key) != std::optional<std::string>("v")) {
            return fail("not stored");
        }
        if (admin({"PTTL", key.hash}).integer <= 0) return fail("the hash has no TTL");
        step = "get_or_create (hit)";
        if (region.get_or_create(key, [] { return std::string("again"); }) != "v") {
            return fail("not a hit");
        }

        step = "get_or_create_multi and get_multi (HMGET)";
        const std::vector<HashKey> keys{calculated.key(7, 1), calculated.key(7, 2), calculated.key(8, 1)};
        const auto values = region.get_or_create_multi(keys, [](const std::vector<HashKey>& missing) {
            std::vector<std::string> out;
            for (const auto& k : missing) out.push_back(k.hash + "/" + k.field);
            return out;
        });
        if (values.size() != 3 || values[2] != calculated.hash_of(8) + "/1") {
            return fail("wrong values");
        }
        if (region.get_multi(keys)[0] != std::optional<std::string>(calculated.hash_of(7) + "/1")) {
            return fail("not readable");
        }

        step = "set after SCRIPT FLUSH (SCRIPT LOAD)";
        admin({"SCRIPT", "FLUSH"});
        region.set(calculated.key(9, 1), "reloaded");
        if (stored(secured_server(), calculated.key(9, 1)) != std::optional<std::string>("reloaded")) {
            return fail("not stored");
        }
        step = "set_multi";
        backend->set_multi({{calculated.key(9, 2), {"a", dogpile::Metadata::store_managed()}},
                            {calculated.key(9, 3), {"b", dogpile::Metadata::store_managed()}}});
        if (!stored(secured_server(), calculated.key(9, 3))) return fail("not stored");

        step = "erase (HDEL)";
        region.erase(calculated.key(9, 2));
        if (stored(secured_server(), calculated.key(9, 2))) return fail("still there");
        step = "erase_multi (pipelined HDEL)";
        region.erase_multi({calculated.key(9, 3), calculated.key(7, 1)});
        if (stored(secured_server(), calculated.key(9, 3))) return fail("still there");
        step = "erase_hash (DEL)";
        backend->erase_hash(calculated.hash_of(9));
        if (exists(calculated.hash_of(9))) return fail("still there");

        step = "lock extend and unlock";
        auto mutex = backend->get_mutex(key);
        auto* lock = dynamic_cast<dogpile::redis::RedisLock*>(mutex.get());
        if (lock == nullptr) return fail("not a RedisLock");
        if (!lock->try_lock()) return fail("not acquired");
        if (!lock->extend(60s)) return fail("not extended");
        if (admin({"PTTL", lock_key}).integer <= 30000) return fail("TTL not extended");
        lock->unlock();
        if (exists(lock_key)) return fail("not released");
    } catch (...) {
        result.errors.push_back(seen(std::current_exception()));
        result.failure = step + ": " + result.errors.back().text;
    }
    return result;
}

// Everything RedisBackend and its distributed lock send to Redis (GET, SET,
// MGET, DEL; the lock's SET NX PX, PTTL and scripts), keys under the
// allowed prefix, as the user of `url`.
WorkloadResult string_store_workload(const std::string& url, const std::string& id) {
    WorkloadResult result;
    std::string step = "setup";
    auto fail = [&](const std::string& why) {
        result.failure = step + ": " + why;
        return result;
    };
    try {
        dogpile::RedisBackendOptions backend_options;
        backend_options.client = dogpile::redis::make_client(url);
        backend_options.key_prefix = "calculated-a|" + id + ":";
        backend_options.distributed_lock = dogpile::redis::LockOptions{};
        RegionOptions options;
        options.lock_timeout = 10s;
        options.on_backend_error = BackendErrorPolicy::raise;
        options.error_hook = [&](const BackendErrorEvent& e) { result.errors.push_back(seen(e.error)); };
        Region<std::string> strings(std::make_shared<dogpile::RedisBackend<std::string>>(backend_options), options);
        admin({"SCRIPT", "FLUSH"});

        step = "get_or_create (GET, the lock, SET)";
        if (exists(backend_options.key_prefix + "k1")) return fail("the keys of this run are not fresh");
        const std::string got = strings.get_or_create("k1", [] { return std::string("one"); });
        if (got != "one") return fail("got '" + got + "'");
        if (!exists(backend_options.key_prefix + "k1")) return fail("not stored");
        step = "get_multi (MGET)";
        if (strings.get_multi({"k1", "k2"}) != std::vector<std::optional<std::string>>{"one", std::nullopt}) {
            return fail("wrong values");
        }
        step = "erase_multi (DEL)";
        strings.erase_multi({"k1", "k2"});
        if (exists(backend_options.key_prefix + "k1")) return fail("still there");
    } catch (...) {
        result.errors.push_back(seen(std::current_exception()));
        result.failure = step + ": " + result.errors.back().text;
    }
    return result;
}

std::string listed(const std::vector<SeenError>& errors) {
    std::string out;
    for (const auto& e : errors) out += "\n  " + e.kind + " \"" + e.text + "\"";
    return out.empty() ? " none" : out;
}

TEST(RedisAcl, TheRecipeRunsEveryHashStoreOperationWithTheDistributedLock) {
    const std::string url = tcp_url(cache_user, cache_password);
    const WorkloadResult hash_store = hash_store_workload(url, test_id());
    EXPECT_EQ(hash_store.failure, "");
    EXPECT_TRUE(hash_store.errors.empty()) << "errors:" << listed(hash_store.errors);

    // RedisBackend under the same recipe (GET, SET, MGET, DEL), with its keys
    // under the allowed prefix.
    const WorkloadResult string_store = string_store_workload(url, test_id());
    EXPECT_EQ(string_store.failure, "");
    EXPECT_TRUE(string_store.errors.empty()) << "errors:" << listed(string_store.errors);

    auto client = dogpile::redis::make_client(url);
    // ... and nothing more: other keys and other commands are refused.
    auto refused = [&](std::initializer_list<std::string_view> argv) {
        try {
            client->command(*argv.begin(), argv);
        } catch (const ReplyError& e) {
            return e.is_noperm();
        }
        return false;
    };
    EXPECT_TRUE(refused({"GET", "session|1"}));
    EXPECT_TRUE(refused({"SET", "calculated-b|1", "x"}));
    EXPECT_TRUE(refused({"FLUSHALL"}));
    EXPECT_TRUE(refused({"KEYS", "*"}));
    EXPECT_TRUE(refused({"CONFIG", "GET", "requirepass"}));
    EXPECT_TRUE(refused({"EVAL", "return 1", "0"}));
    EXPECT_TRUE(refused({"SCRIPT", "FLUSH"}));
    auto outside = hash_backend(client);
    EXPECT_THROW(outside->set(HashKey{"other-a|1", "1"}, {"x", dogpile::Metadata::store_managed()}), ReplyError);
    EXPECT_THROW(outside->get(HashKey{"other-a|1", "1"}), ReplyError);
    EXPECT_FALSE(exists("other-a|1"));
}

// The recipe is also minimal: drop any one rule and the hash store or
// RedisBackend (+mget is for its get_multi), with the distributed lock, fails,
// and among the errors is the server refusing exactly what that rule grants
// (see refuses()). The full recipe runs both workloads without a single error
// (above), so the refusal is the rule's doing, not a failure that would have
// happened anyway. (+hset is needed although the store never sends HSET
// itself: Redis 7 checks the commands a script runs against the caller's
// ACL, and the hset-with-expiry script runs HSET.)
TEST(RedisAcl, EveryRuleOfTheRecipeIsNeeded) {
    const std::vector<std::string> rules = recipe();
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const std::string& rule = rules[i];
        SCOPED_TRACE("without " + rule);
        const std::string user = "minus-" + std::to_string(i);
        std::vector<std::string> setuser{"ACL", "SETUSER", user, "reset", "on", ">" + cache_password};
        for (const auto& r : recipe_without(rule)) setuser.push_back(r);
        admin(setuser);
        const std::string url = tcp_url(user, cache_password);
        const std::string id = test_id() + std::to_string(i);
        const WorkloadResult hash_store = hash_store_workload(url, id);
        const WorkloadResult string_store = string_store_workload(url, id);
        std::vector<SeenError> errors = hash_store.errors;
        errors.insert(errors.end(), string_store.errors.begin(), string_store.errors.end());
        EXPECT_TRUE(hash_store.failure != "" || string_store.failure != "") << "everything worked without " << rule;
        const auto refusal =
            std::find_if(errors.begin(), errors.end(), [&](const SeenError& e) { return refuses(e, rule); });
        EXPECT_NE(refusal, errors.end()) << "no error refuses what " << rule << " grants; errors:" << listed(errors);
        std::cout << "[ acl      ] without " << rule << ": hash store \"" << hash_store.failure << "\", RedisBackend \""
                  << string_store.failure
                  << "\"; refused: " << (refusal == errors.end() ? std::string("-") : refusal->text) << std::endl;
        admin({"ACL", "DELUSER", user});
    }
}

// One waiter on a lock another client holds, with a pause (10 to 20 s) only a
// release message can end before the wait's 2 s limit: whether `url`'s user
// gets the lock's release wake-ups.
struct WakeUp {
    bool subscribed = false;
    std::uint64_t woken = 0;
    bool acquired = false;
    std::string error;
};

WakeUp wake_once(const std::string& url, const std::string& id) {
    auto client = dogpile::redis::make_client(url);
    dogpile::redis::LockOptions o;
    o.prefix = "dogpile-lock|" + id + "|";
    o.retry_initial = 20s;
    o.retry_max = 20s;
    o.max_wait = 2s;
    dogpile::redis::RedisLock holder(client, "r", o);
    if (!holder.try_lock()) throw std::runtime_error("the lock is taken");
    const auto wakeups = dogpile::redis::details::LockWakeups::of(client, o.wake_channel());
    dogpile::redis::RedisLock waiter(client, "r", o);
    std::atomic<bool> acquired{false};
    std::thread t([&] { acquired = waiter.lock(std::nullopt); });
    dogpile::test::wait_for_condition(
        [&] { return wakeups->waiters() == 1 && (wakeups->subscribed() || wakeups->stats().failures > 0); }, 10s);
    WakeUp out;
    out.subscribed = wakeups->subscribed();
    holder.unlock();
    t.join();
    waiter.unlock();
    out.woken = wakeups->stats().woken;
    out.acquired = acquired;
    out.error = wakeups->last_error();
    return out;
}

// With the wake-up rules a waiter takes the lock on the release message;
// without any one of them it still gets the lock (by polling), never an
// error: the refused SUBSCRIBE only keeps the subscriber away, the refused
// PUBLISH inside the release script is a pcall.
TEST(RedisAcl, TheWakeUpRulesAreNeededForWakeUpsOnly) {
    const WakeUp all = wake_once(tcp_url(cache_user, cache_password), test_id() + "all");
    EXPECT_TRUE(all.subscribed) << all.error;
    EXPECT_EQ(all.woken, 1u);
    EXPECT_TRUE(all.acquired);
    const std::vector<std::string> rules = wake_up_rules();
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const std::string& rule = rules[i];
        SCOPED_TRACE("without " + rule);
        const std::string user = "wake-minus-" + std::to_string(i);
        std::vector<std::string> setuser{"ACL", "SETUSER", user, "reset", "on", ">" + cache_password};
        for (const auto& r : with_wake_ups(recipe())) {
            if (r != rule) setuser.push_back(r);
        }
        admin(setuser);
        const WakeUp out = wake_once(tcp_url(user, cache_password), test_id() + std::to_string(i));
        EXPECT_TRUE(out.acquired);
        EXPECT_EQ(out.woken, 0u);
        if (rule == "+publish") {
            EXPECT_TRUE(out.subscribed) << out.error;
        } else {
            EXPECT_FALSE(out.subscribed);
            EXPECT_NE(out.error.find("NOPERM"), std::string::npos) << out.error;
        }
        admin({"ACL", "DELUSER", user});
    }
}

// A user that may take the lock but not release it (no +del): the region
// still answers, and the failed release is counted and reported instead of
// passing unnoticed while the orphaned lock holds other creators back for
// its TTL.
TEST(RedisAcl, AFailedLockReleaseIsCountedAndReported) {
    std::vector<std::string> setuser{"ACL", "SETUSER", "no-del", "reset", "on", ">" + cache_password};
    for (const auto& r : recipe_without("+del")) setuser.push_back(r);
    admin(setuser);
    auto backend = hash_backend(dogpile::redis::make_client(tcp_url("no-del", cache_password)));
    std::vector<std::string> reported;
    RegionOptions options;
    options.on_backend_error = BackendErrorPolicy::raise;  // a release error is never rethrown, whatever the policy
    options.error_hook = [&](const BackendErrorEvent& e) {
        reported.push_back(std::string(e.operation) + ": " + std::string(e.message));
    };
    StringHashRegion region(backend, options);
    const HashKey key{"calculated-a|" + test_id(), "1"};
    EXPECT_EQ(region.get_or_create(key, [] { return std::string("v"); }), "v");
    EXPECT_EQ(stored(secured_server(), key), std::optional<std::string>("v"));
    EXPECT_EQ(region.stats().backend_errors, 1u);
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0].rfind("unlock: ", 0), 0u) << reported[0];
    EXPECT_TRUE(contains(reported[0], "can't run this command")) << reported[0];
    EXPECT_TRUE(exists("dogpile-lock|" + StringHashBackend::lock_resource(key))) << "left to expire";
    admin({"ACL", "DELUSER", "no-del"});
}

// A refused HMGET is about the connection's rights, not one hash: get_multi
// throws it (the region counts it, reports it and degrades) instead of passing
// it off as misses that only the backend's own hook would see.
TEST(RedisAcl, APermissionErrorInAMultiGetReachesTheRegion) {
    std::vector<std::string> setuser{"ACL", "SETUSER", "no-hmget", "reset", "on", ">" + cache_password};
    for (const auto& r : recipe_without("+hmget")) setuser.push_back(r);
    admin(setuser);
    auto backend = hash_backend(dogpile::redis::make_client(tcp_url("no-hmget", cache_password)));
    const HashKeyScheme calculated{"calculated-a|" + test_id() + "-"};
    const std::vector<HashKey> keys{calculated.key(1, 1), calculated.key(2, 1)};
    EXPECT_THROW(backend->get_multi(keys), ReplyError);
    std::vector<std::string> reported;
    RegionOptions options;
    options.error_hook = [&](const BackendErrorEvent& e) { reported.push_back(std::string(e.operation)); };
    StringHashRegion region(backend, options);
    const auto values = region.get_or_create_multi(
        keys, [](const std::vector<HashKey>& missing) { return std::vector<std::string>(missing.size(), "computed"); });
    EXPECT_EQ(values, (std::vector<std::string>{"computed", "computed"}));
    EXPECT_GE(region.stats().backend_errors, 1u);
    ASSERT_FALSE(reported.empty());
    EXPECT_EQ(reported.front(), "get_multi");
    admin({"ACL", "DELUSER", "no-hmget"});
}

// Reading a small hash whole (HGETALL, sized by HLEN) is an optimisation the
// minimal recipe does not grant: the store notices the refusal and keeps to
// HMGET, without an error reaching anyone and without a wrong entry.
TEST(RedisAcl, TheMinimalRecipeReadsBigBatchesByFieldWithoutErrors) {
    for (const std::string& extra : {std::string(), std::string("+hlen")}) {
        const std::string user = "whole-hash" + extra.substr(std::min<std::size_t>(extra.size(), 1));
        std::vector<std::string> setuser{"ACL", "SETUSER", user, "reset", "on", ">" + cache_password};
        for (const auto& r : recipe()) setuser.push_back(r);
        if (!extra.empty()) setuser.push_back(extra);
        admin(setuser);
        auto backend = hash_backend(dogpile::redis::make_client(tcp_url(user, cache_password)));
        std::vector<std::string> reported;
        RegionOptions options;
        options.on_backend_error = dogpile::BackendErrorPolicy::raise;
        options.error_hook = [&](const BackendErrorEvent& e) { reported.push_back(std::string(e.message)); };
        StringHashRegion region(backend, options);
        const std::string hash = "calculated-a|" + test_id();
        std::vector<HashKey> keys;
        std::vector<std::pair<HashKey, std::string>> items;
        for (int field = 1; field <= 40; ++field) {
            keys.push_back(HashKey{hash, std::to_string(field)});
            items.emplace_back(keys.back(), "v" + std::to_string(field));
        }
        region.set_multi(items);
        for (int round = 0; round < 3; ++round) {  // learn the size, try HGETALL, then HMGET only
            const auto values =
                region.get_or_create_multi(keys, [](const std::vector<HashKey>&) -> std::vector<std::string> {
                    ADD_FAILURE() << "every entry exists";
                    return {};
                });
            ASSERT_EQ(values.size(), keys.size());
            for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(values[i], items[i].second) << user;
        }
        EXPECT_TRUE(reported.empty()) << user << ": " << (reported.empty() ? "" : reported.front());
        EXPECT_EQ(region.stats().backend_errors, 0u) << user;
        admin({"ACL", "DELUSER", user});
    }
}

// --- lock tokens -------------------------------------------------------------------------------

TEST(RedisLockTokens, AreThirtyTwoHexDigitsAndDistinctOverAThousandAcquisitions) {
    auto backend = hash_backend(dogpile::redis::make_client(tcp_url(cache_user, cache_password)));
    const HashKey key{"calculated-a|" + test_id(), "1"};
    const std::string lock_key = "dogpile-lock|" + StringHashBackend::lock_resource(key);
    constexpr int acquisitions = 1000;
    std::set<std::string> tokens;
    std::array<int, 16> digit_counts{};
    for (int i = 0; i < acquisitions; ++i) {
        auto mutex = backend->get_mutex(key);  // a new lock object each time, as the region takes them
        auto* lock = dynamic_cast<dogpile::redis::RedisLock*>(mutex.get());
        ASSERT_NE(lock, nullptr);
        ASSERT_TRUE(lock->try_lock());
        const std::string token = lock->token();
        ASSERT_EQ(token.size(), 32u) << token;
        for (char c : token) {
            const bool digit = c >= '0' && c <= '9';
            const bool lower_hex = c >= 'a' && c <= 'f';
            ASSERT_TRUE(digit || lower_hex) << token;
            ++digit_counts[static_cast<std::size_t>(digit ? c - '0' : c - 'a' + 10)];
        }
        if (i % 100 == 0) {
            EXPECT_EQ(admin({"GET", lock_key}).str, token) << "the token is what Redis holds";
        }
        tokens.insert(token);
        lock->unlock();
    }
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(acquisitions));
    // 32,000 hex digits from a uniform source: each of the 16 appears 2,000
    // times give or take ~43 (one standard deviation). These bounds are ten
    // deviations wide: they only catch a source that is plainly not uniform
    // (a counter, a constant, decimal digits only).
    for (std::size_t d = 0; d < digit_counts.size(); ++d) {
        EXPECT_GT(digit_counts[d], 1570) << "hex digit " << d;
        EXPECT_LT(digit_counts[d], 2430) << "hex digit " << d;
    }
}

// --- injection ----------------------------------------------------------------------------------

// Text that would do something if it were spliced into a Lua script or into
// the Redis protocol instead of being passed as a binary-safe argument.
std::vector<std::string> hostile_texts() {
    return {
        "\r\n*3\r\n$3\r\nDEL\r\n$8\r\nsentinel\r\n",
        "*1\r\n$8\r\nFLUSHALL\r\n",
        "'); redis.call('flushall') --",
        "\"); redis.call('flushall') --",
        "]] redis.call('flushall') --[[",
        "' .. redis.call('del', 'sentinel') .. '",
        "KEYS[1]",
        "ARGV[1]",
        std::string("nul\0byte", 8),
    };
}

std::set<std::string> all_keys(const RedisServer& server) {
    std::set<std::string> out;
    for (const auto& e : server.raw({"KEYS", "*"}).elements) out.insert(e.str);
    return out;
}

long long cached_scripts(const RedisServer& server) {
    const std::string info = server.raw({"INFO", "memory"}).str;
    const std::string tag = "number_of_cached_scripts:";
    const auto at = info.find(tag);
    return at == std::string::npos ? -1 : std::stoll(info.substr(at + tag.size()));
}

TEST(RedisInjection, LuaAndProtocolTextInKeysFieldsAndValuesIsStoredVerbatimAndDoesNothingElse) {
    RedisServer server;
    ASSERT_FALSE(server.raw({"SET", "sentinel", "keep"}).is_error());
    ASSERT_FALSE(server.raw({"HSET", "sentinel-hash", "f", "v"}).is_error());
    auto client = dogpile::redis::make_client(server.url());

    auto hash = hash_backend(client);
    StringHashRegion hash_region(hash);
    dogpile::RedisBackendOptions string_options;
    string_options.client = client;
    string_options.key_prefix = "str|";
    string_options.distributed_lock = dogpile::redis::LockOptions{};
    auto strings = std::make_shared<dogpile::RedisBackend<std::string>>(string_options);
    Region<std::string> string_region(strings);

    std::set<std::string> expected_keys{"sentinel", "sentinel-hash"};
    std::vector<std::pair<HashKey, StringHashBackend::entry_type>> batch;
    std::vector<HashKey> to_erase;
    for (const auto& text : hostile_texts()) {
        // Through the region: the lock (SET NX, release script) and the
        // hset-with-expiry script, with the text in KEYS and ARGV.
        const HashKey key{"calculated-a|" + text, text};
        EXPECT_EQ(hash_region.get_or_create(key, [&] { return text; }), text);
        expected_keys.insert(key.hash);
        // In a pipelined multi-field script call.
        batch.push_back({HashKey{"calculated-a|batch", text}, {text, dogpile::Metadata::store_managed()}});
        to_erase.push_back(HashKey{"calculated-a|erase", text});
        // One key per entry: GET, SET, and the lock on the key itself.
        EXPECT_EQ(string_region.get_or_create(text, [&] { return text; }), text);
        expected_keys.insert("str|" + text);
    }
    hash->set_multi(batch);
    expected_keys.insert("calculated-a|batch");
    for (const auto& k : to_erase) hash->set(k, {"gone", dogpile::Metadata::store_managed()});
    hash->erase_multi(to_erase);  // the hash empties, so Redis drops it
    hash->erase(to_erase.front());
    EXPECT_EQ(hash_region.get_multi({batch.front().first, batch.back().first}),
              (std::vector<std::optional<std::string>>{batch.front().second.value, batch.back().second.value}));

    // Stored verbatim, under exactly the names given.
    for (const auto& text : hostile_texts()) {
        EXPECT_EQ(stored(server, HashKey{"calculated-a|" + text, text}), std::optional<std::string>(text));
        EXPECT_EQ(stored(server, HashKey{"calculated-a|batch", text}), std::optional<std::string>(text));
        const RawReply r = server.raw({"GET", "str|" + text});
        ASSERT_EQ(r.type, REDIS_REPLY_STRING);
        EXPECT_EQ(dogpile::codec::MsgpackCodec<std::string>{}.decode(dogpile::codec::envelope::unwrap(r.str).payload),
                  text);
    }
    // Nothing else happened: the sentinels are intact, no key appeared or
    // vanished besides the ones written (the locks are all released).
    EXPECT_EQ(server.raw({"GET", "sentinel"}).str, "keep");
    EXPECT_EQ(server.raw({"HGET", "sentinel-hash", "f"}).str, "v");
    EXPECT_EQ(all_keys(server), expected_keys);
    EXPECT_EQ(server.raw({"DBSIZE"}).integer, static_cast<long long>(expected_keys.size()));
    EXPECT_EQ(hash_region.stats().backend_errors, 0u);
    EXPECT_EQ(string_region.stats().backend_errors, 0u);

    // The scripts are fixed texts: whatever the data, the server cached only
    // the hset-with-expiry script and the lock's release script.
    EXPECT_EQ(cached_scripts(server), 2);
    const RawReply known = server.raw({"SCRIPT", "EXISTS", dogpile::redis::details::hset_with_expiry_script().sha1(),
                                       dogpile::redis::RedisLock::release_script().sha1()});
    ASSERT_EQ(known.elements.size(), 2u);
    EXPECT_EQ(known.elements[0].integer, 1);
    EXPECT_EQ(known.elements[1].integer, 1);
}

}  // namespace
