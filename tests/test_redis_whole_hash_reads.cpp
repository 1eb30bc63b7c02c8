// A get_multi asking for most fields of a small hash reads it with one HGETALL
// (backends/redis/details/whole_hash_reads.hpp). These tests count the
// commands the server ran (INFO commandstats) and check that the entries are
// exactly what per-field HMGETs return: the asked fields, nothing more, a
// missing field as a miss, in one round trip.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/cluster.hpp>

#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

namespace {

using dogpile::ConfigurationError;
using dogpile::HashKey;
using dogpile::RedisHashBackendOptions;
using dogpile::redis::WholeHashReadOptions;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;

using Store = dogpile::RedisHashStore;

RedisServer& server() { return RedisServer::shared(); }

RawReply raw(const std::vector<std::string>& argv) {
    RawReply r = server().raw(argv);
    EXPECT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
    return r;
}

// Calls of each command since the last reset_command_counts().
std::map<std::string, long long> command_counts() {
    const std::string info = raw({"INFO", "commandstats"}).str;
    std::map<std::string, long long> out;
    for (const char* name : {"hmget", "hgetall", "hlen"}) {
        const std::string tag = std::string("cmdstat_") + name + ":calls=";
        const std::size_t at = info.find(tag);
        out[name] = at == std::string::npos ? 0 : std::stoll(info.substr(at + tag.size()));
    }
    return out;
}

void reset_command_counts() { raw({"CONFIG", "RESETSTAT"}); }

std::map<std::string, long long> counts(long long hmget, long long hgetall, long long hlen) {
    return {{"hmget", hmget}, {"hgetall", hgetall}, {"hlen", hlen}};
}

std::string value_of(std::size_t field) { return "value-" + std::to_string(field); }

// A hash "<name>" with fields "1".."size", written directly.
void fill_hash(const std::string& hash, std::size_t first, std::size_t last) {
    std::vector<std::string> hset{"HSET", hash};
    for (std::size_t f = first; f <= last; ++f) {
        hset.push_back(std::to_string(f));
        hset.push_back(value_of(f));
    }
    raw(hset);
}

std::unique_ptr<Store> make_store(std::optional<WholeHashReadOptions> whole = WholeHashReadOptions{}) {
    RedisHashBackendOptions o;
    o.client = dogpile::redis::make_client(server().url());
    o.ttl = std::chrono::hours(1);
    o.whole_hash_reads = whole;
    return std::make_unique<Store>(o);
}

std::vector<HashKey> keys_of(const std::string& hash, const std::vector<std::size_t>& fields) {
    std::vector<HashKey> keys;
    for (std::size_t f : fields) keys.push_back(HashKey{hash, std::to_string(f)});
    return keys;
}

std::vector<std::size_t> range(std::size_t first, std::size_t last) {
    std::vector<std::size_t> out;
    for (std::size_t f = first; f <= last; ++f) out.push_back(f);
    return out;
}

// What each key should read: its value when the field exists (1..size).
void expect_values(const std::vector<std::optional<dogpile::redis::Reply>>& found, const std::vector<HashKey>& keys,
                   std::size_t size) {
    ASSERT_EQ(found.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::size_t field = std::stoul(keys[i].field);
        if (field >= 1 && field <= size) {
            ASSERT_TRUE(found[i].has_value()) << "field " << field;
            EXPECT_EQ(found[i]->view(), value_of(field)) << "field " << field;
        } else {
            EXPECT_FALSE(found[i].has_value()) << "field " << field << " does not exist";
        }
    }
}

TEST(WholeHashReads, ASmallHashIsReadWholeOnceItsSizeIsKnown) {
    const std::string hash = "whole-small";
    fill_hash(hash, 1, 100);
    auto store = make_store();
    // 60 present fields, 5 absent ones, one asked twice; none of 61..100 is asked.
    std::vector<std::size_t> fields = range(1, 60);
    for (std::size_t absent : {101, 150, 200, 300, 999}) fields.push_back(absent);
    fields.push_back(7);
    const auto keys = keys_of(hash, fields);

    reset_command_counts();
    expect_values(store->get_multi(keys), keys, 100);
    EXPECT_EQ(command_counts(), counts(1, 0, 1)) << "the first read learns the size beside its HMGET";

    auto client = store->options().client;
    const auto before = client->round_trips();
    expect_values(store->get_multi(keys), keys, 100);
    EXPECT_EQ(command_counts(), counts(1, 1, 1)) << "the second reads the hash whole";
    EXPECT_EQ(client->round_trips() - before, 1u);
}

TEST(WholeHashReads, AHashThatGrewIsStillReadRightAndThenByField) {
    const std::string hash = "whole-grows";
    fill_hash(hash, 1, 50);
    auto store = make_store();
    const auto keys = keys_of(hash, range(1, 40));
    expect_values(store->get_multi(keys), keys, 50);

    fill_hash(hash, 51, 400);  // now a hash table: HGETALL would return 10x what is asked
    reset_command_counts();
    expect_values(store->get_multi(keys), keys, 400);
    EXPECT_EQ(command_counts(), counts(0, 1, 0)) << "the size known was 50";
    expect_values(store->get_multi(keys), keys, 400);
    EXPECT_EQ(command_counts(), counts(1, 1, 1)) << "the HGETALL reply taught the new size";
}

TEST(WholeHashReads, ABigHashOrAFewFieldsAreReadByField) {
    fill_hash("whole-big", 1, 300);
    fill_hash("whole-few", 1, 100);
    auto store = make_store();
    const auto big = keys_of("whole-big", range(1, 200));
    const auto few = keys_of("whole-few", range(1, 31));  // under min_fields (32)
    reset_command_counts();
    for (int round = 0; round < 3; ++round) {
        expect_values(store->get_multi(big), big, 300);
        expect_values(store->get_multi(few), few, 100);
    }
    EXPECT_EQ(command_counts(), counts(6, 0, 3)) << "HLEN only beside the big read";
}

TEST(WholeHashReads, AMissingHashReadsAsMisses) {
    auto store = make_store();
    fill_hash("whole-expires", 1, 40);
    const auto keys = keys_of("whole-expires", range(1, 40));
    expect_values(store->get_multi(keys), keys, 40);
    raw({"DEL", "whole-expires"});
    reset_command_counts();
    expect_values(store->get_multi(keys), keys, 0);
    EXPECT_EQ(command_counts(), counts(0, 1, 0));
}

TEST(WholeHashReads, MaxFieldsPerReadBoundsTheWholeHashReply) {
    fill_hash("whole-bounded", 1, 100);
    RedisHashBackendOptions o;
    o.client = dogpile::redis::make_client(server().url());
    o.ttl = std::chrono::hours(1);
    o.max_fields_per_read = 50;
    Store store(o);
    const auto keys = keys_of("whole-bounded", range(1, 100));
    reset_command_counts();
    for (int round = 0; round < 2; ++round) expect_values(store.get_multi(keys), keys, 100);
    EXPECT_EQ(command_counts(), counts(4, 0, 2)) << "100 fields > max_fields_per_read: never HGETALL";
}

TEST(WholeHashReads, CanBeTurnedOff) {
    fill_hash("whole-off", 1, 100);
    auto store = make_store(std::nullopt);
    const auto keys = keys_of("whole-off", range(1, 100));
    reset_command_counts();
    for (int round = 0; round < 3; ++round) expect_values(store->get_multi(keys), keys, 100);
    EXPECT_EQ(command_counts(), counts(3, 0, 0));
}

// On a cluster the HLEN and the HGETALL go to the hash's node like its HMGET.
TEST(WholeHashReads, WorksOnAClusterAcrossNodes) {
    auto& cluster = dogpile::test::RedisCluster::shared();
    std::vector<std::string> hashes;
    for (int i = 0; hashes.size() < 2; ++i) {  // two hashes on different masters
        const std::string hash = "whole-cluster-" + std::to_string(i);
        if (hashes.empty() || cluster.master_index_for_key(hash) != cluster.master_index_for_key(hashes.front())) {
            hashes.push_back(hash);
        }
    }
    std::vector<HashKey> keys;
    for (const auto& hash : hashes) {
        std::vector<std::string> hset{"HSET", hash};
        for (std::size_t f = 1; f <= 50; ++f) {
            hset.push_back(std::to_string(f));
            hset.push_back(value_of(f));
        }
        ASSERT_FALSE(cluster.raw_for_key(hash, hset).is_error());
        for (std::size_t f = 1; f <= 60; ++f) keys.push_back(HashKey{hash, std::to_string(f)});
    }
    RedisHashBackendOptions o;
    o.client = std::make_shared<dogpile::redis::ClusterClient>(cluster.client_options());
    o.ttl = std::chrono::hours(1);
    Store store(o);
    for (int round = 0; round < 3; ++round) expect_values(store.get_multi(keys), keys, 50);
    for (const auto& hash : hashes) {
        const std::string info = cluster.raw_for_key(hash, {"INFO", "commandstats"}).str;
        EXPECT_NE(info.find("cmdstat_hgetall:calls="), std::string::npos) << hash << "'s node read it whole";
    }
}

// One store's size table is shared by every thread: threads reading many
// hashes (more than share a slot now and then) each get their own hash's values.
TEST(WholeHashReads, ThreadsSharingAStoreReadTheirOwnHashes) {
    constexpr std::size_t threads = 4;
    constexpr std::size_t hashes_per_thread = 300;
    auto store = make_store();
    std::vector<std::string> hashes;
    for (std::size_t h = 0; h < threads * hashes_per_thread; ++h) {
        hashes.push_back("whole-threads-" + std::to_string(h));
        std::vector<std::string> hset{"HSET", hashes.back()};
        for (std::size_t f = 1; f <= 40 + h % 20; ++f) {  // sizes differ, so a wrong size shows
            hset.push_back(std::to_string(f));
            hset.push_back(hashes.back() + "/" + std::to_string(f));
        }
        raw(hset);
    }
    std::vector<std::size_t> wrong(threads, 0);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int round = 0; round < 2; ++round) {
                for (std::size_t i = 0; i < hashes_per_thread; ++i) {
                    const std::size_t h = t * hashes_per_thread + i;
                    std::vector<HashKey> keys;
                    for (std::size_t f = 1; f <= 50; ++f) keys.push_back(HashKey{hashes[h], std::to_string(f)});
                    const auto found = store->get_multi(keys);
                    for (std::size_t f = 1; f <= 50; ++f) {
                        const bool exists = f <= 40 + h % 20;
                        const auto& value = found[f - 1];
                        if (exists != value.has_value() ||
                            (exists && value->view() != hashes[h] + "/" + std::to_string(f))) {
                            ++wrong[t];
                        }
                    }
                }
            }
        });
    }
    for (auto& thread : pool) thread.join();
    EXPECT_EQ(wrong, std::vector<std::size_t>(threads, 0));
}

TEST(WholeHashReads, RejectsZeroThresholds) {
    for (auto bad : {WholeHashReadOptions{0, 128}, WholeHashReadOptions{32, 0}}) {
        EXPECT_THROW(make_store(bad), ConfigurationError);
    }
}

}  // namespace
