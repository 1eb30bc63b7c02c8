#pragma once
// RedisCluster: a real Redis Cluster for tests and benchmarks: `masters`
// masters with `replicas_per_master` replicas each (3 + 3 by default), every
// node a RedisServer (redis_server.hpp) on a free loopback port with its own
// temporary directory, joined with `redis-cli --cluster create ...
// --cluster-replicas N --cluster-yes`. The constructor returns once every node
// reports cluster_state:ok, every replica is in sync with its master and all
// nodes agree on the slot map. Every node is stopped by the destructor.
//
//   dogpile::test::RedisCluster cluster;
//   auto client = std::make_shared<dogpile::redis::ClusterClient>(cluster.client_options());
//   cluster.raw_for_key("k", {"GET", "k"});        // plain hiredis, on the key's master
//   cluster.node(cluster.master_index_for_slot(0)).kill();
//
// A missing redis-server or redis-cli is a hard failure, never a skip.

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/redis/cluster.hpp>
#include <dogpile/redis/slot.hpp>

#include "redis_server.hpp"

extern char** environ;

namespace dogpile::test {

struct RedisClusterOptions {
    int masters = 3;
    int replicas_per_master = 1;
    // cluster-node-timeout: how long before a silent master is failed over.
    // Failover tests set it low (1 s) so they take seconds; the default is
    // long enough that a loaded machine does not fail a master over by mistake.
    std::chrono::milliseconds node_timeout{5000};
    // requirepass and masterauth on every node.
    std::optional<std::string> password;
    std::vector<RedisAclUser> acl_users;
    std::vector<std::string> extra_args;
    std::chrono::milliseconds form_timeout{30000};
};

namespace redis_cluster_details {

inline std::string find_redis_cli() {
    if (const char* env = std::getenv("DOGPILE_REDIS_CLI"); env != nullptr && *env != '\0') return env;
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/usr/local/sbin"}) {
        const std::string candidate = std::string(dir) + "/redis-cli";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    throw std::runtime_error("redis-cli not found: install it with `apt-get install redis-tools` (or run scripts/setup.sh)");
}

// Runs a program to completion (killing it after `timeout`), output to `log`.
// Returns its exit status; throws if it could not run or timed out.
inline int run_program(const std::vector<std::string>& args, const std::string& log,
                       const std::vector<std::string>& extra_env, std::chrono::milliseconds timeout) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
    env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn " + args[0] + ": " + std::strerror(rc));

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            throw std::runtime_error(args[0] + " did not finish within " + std::to_string(timeout.count()) + " ms");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

inline std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// "key:value" lines of CLUSTER INFO / INFO.
inline std::map<std::string, std::string> info_fields(const std::string& text) {
    std::map<std::string, std::string> out;
    std::stringstream ss(text);
    std::string line;
    while (std::getline(ss, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 1);
    }
    return out;
}

}  // namespace redis_cluster_details

class RedisCluster {
public:
    explicit RedisCluster(RedisClusterOptions options = {}) : options_(std::move(options)) {
        if (options_.masters < 3) throw std::invalid_argument("RedisCluster: Redis Cluster needs at least 3 masters");
        const int total = options_.masters * (1 + options_.replicas_per_master);
        for (int i = 0; i < total; ++i) {
            RedisServerOptions o;
            o.listen = RedisServerOptions::Listen::Tcp;
            o.password = options_.password;
            o.acl_users = options_.acl_users;
            // No diskless-sync delay: replicas sync at once instead of after 5 s.
            o.extra_args = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
                            std::to_string(options_.node_timeout.count()), "--cluster-port",
                            std::to_string(redis_server_details::pick_free_port()), "--repl-diskless-sync-delay", "0"};
            if (options_.password) o.extra_args.insert(o.extra_args.end(), {"--masterauth", *options_.password});
            o.extra_args.insert(o.extra_args.end(), options_.extra_args.begin(), options_.extra_args.end());
            nodes_.push_back(std::make_unique<RedisServer>(std::move(o)));
        }
        create();
    }

    RedisCluster(const RedisCluster&) = delete;
    RedisCluster& operator=(const RedisCluster&) = delete;

    // A cluster shared by all tests of a binary that leave its topology alone.
    static RedisCluster& shared() {
        static RedisCluster cluster;
        return cluster;
    }

    std::size_t size() const noexcept { return nodes_.size(); }
    RedisServer& node(std::size_t i) { return *nodes_.at(i); }
    const RedisServer& node(std::size_t i) const { return *nodes_.at(i); }
    const RedisClusterOptions& cluster_options() const noexcept { return options_; }

    std::vector<dogpile::redis::NodeAddress> seeds() const {
        std::vector<dogpile::redis::NodeAddress> out;
        for (const auto& n : nodes_) out.push_back({"127.0.0.1", n->port()});
        return out;
    }

    // redis://[:password@]127.0.0.1:p1,127.0.0.1:p2,...
    std::string url() const {
        std::string hosts;
        for (const auto& n : nodes_) hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(n->port());
        const std::string single = nodes_.front()->url();  // carries the encoded password
        return single.substr(0, single.rfind('@') == std::string::npos ? 8 : single.rfind('@') + 1) + hosts;
    }

    // Seeds, password, and timeouts generous enough for a loaded test machine
    // (tests about timing set their own).
    dogpile::redis::ClusterOptions client_options() const {
        dogpile::redis::ClusterOptions o;
        o.seeds = seeds();
        o.pool.connection.password = options_.password;
        o.pool.connection.connect_timeout = std::chrono::milliseconds(5000);
        o.pool.connection.command_timeout = std::chrono::milliseconds(5000);
        o.pool.acquire_timeout = std::chrono::milliseconds(5000);
        return o;
    }

    std::size_t index_of_port(int port) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i]->port() == port) return i;
        }
        throw std::runtime_error("RedisCluster: no node on port " + std::to_string(port));
    }

    RawReply raw(std::size_t i, const std::vector<std::string>& argv) const { return nodes_.at(i)->raw(argv); }

    std::string node_id(std::size_t i) const {
        const RawReply r = raw(i, {"CLUSTER", "MYID"});
        if (r.is_error()) throw std::runtime_error("CLUSTER MYID: " + r.str);
        return r.str;
    }

    // ROLE's first element: "master" or "slave".
    std::string role(std::size_t i) const { return raw(i, {"ROLE"}).elements.at(0).str; }

    // The master that owns `slot`, as the first running node answering
    // CLUSTER SLOTS sees it.
    std::size_t master_index_for_slot(int slot) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]->running()) continue;
            const RawReply r = raw(i, {"CLUSTER", "SLOTS"});
            if (r.is_error()) continue;
            for (const auto& range : r.elements) {
                if (range.elements.at(0).integer <= slot && slot <= range.elements.at(1).integer) {
                    return index_of_port(static_cast<int>(range.elements.at(2).elements.at(1).integer));
                }
            }
        }
        throw std::runtime_error("RedisCluster: no node serves slot " + std::to_string(slot));
    }
    std::size_t master_index_for_key(std::string_view key) const {
        return master_index_for_slot(dogpile::redis::key_slot(key));
    }

    // A replica of master `m` (by its own ROLE), if any.
    std::optional<std::size_t> replica_of(std::size_t m) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (i == m || !nodes_[i]->running()) continue;
            const RawReply r = raw(i, {"ROLE"});
            if (r.elements.size() >= 3 && r.elements[0].str == "slave" && r.elements[2].integer == nodes_[m]->port()) {
                return i;
            }
        }
        return std::nullopt;
    }

    std::vector<std::size_t> masters() const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i]->running() && role(i) == "master" && owns_slots(i)) out.push_back(i);
        }
        return out;
    }

    // A command on the master that owns the key's slot (plain hiredis).
    RawReply raw_for_key(std::string_view key, const std::vector<std::string>& argv) const {
        return raw(master_index_for_key(key), argv);
    }

    // Removes every key from every master (replicas follow).
    void flushall() const {
        for (std::size_t i : masters()) {
            const RawReply r = raw(i, {"FLUSHALL"});
            if (r.is_error()) throw std::runtime_error("FLUSHALL: " + r.str);
        }
    }

    // Polls `done` every 10 ms until it holds, or throws naming `what`.
    static void wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout, const std::string& what) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            try {
                if (done()) return;
            } catch (const std::exception&) {
                // A node restarting or briefly unreachable: ask again.
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                throw std::runtime_error("RedisCluster: timed out after " + std::to_string(timeout.count()) +
                                         " ms waiting for " + what);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    // Every running node says cluster_state:ok and sees all slots served,
    // every running replica is in sync, every master lists its replicas
    // (when no node is down), and all running nodes agree on which port
    // serves each slot range.
    bool healthy() const {
        std::optional<std::string> agreed;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]->running()) continue;
            const auto info = redis_cluster_details::info_fields(raw(i, {"CLUSTER", "INFO"}).str);
            if (info.count("cluster_state") == 0 || info.at("cluster_state") != "ok") return false;
            if (info.at("cluster_slots_ok") != "16384") return false;
            const RawReply role = raw(i, {"ROLE"});
            if (role.elements.at(0).str == "slave" && role.elements.at(3).str != "connected") return false;
            const RawReply slots = raw(i, {"CLUSTER", "SLOTS"});
            for (const auto& range : slots.elements) {
                const auto expected = expected_replicas();
                if (expected && range.elements.size() - 3 != *expected) return false;
            }
            const std::string map = slot_map_text(i);
            if (agreed && *agreed != map) return false;
            agreed = map;
        }
        return true;
    }

    void wait_until_healthy(std::chrono::milliseconds timeout = std::chrono::milliseconds(30000)) const {
        wait_for([this] { return healthy(); }, timeout, "the cluster to be healthy");
    }

    // A hash tag ("t123") whose keys land in `slot`: "{t123}anything".
    static std::string tag_for_slot(int slot) {
        for (unsigned long n = 0;; ++n) {
            std::string tag = "t" + std::to_string(n);
            if (dogpile::redis::key_slot(tag) == slot) return tag;
        }
    }

    // --- resharding, step by step (what redis-cli --cluster reshard does) ---

    // Marks `slot` as moving from master `from` to master `to`.
    void begin_migration(int slot, std::size_t from, std::size_t to) const {
        expect_ok(raw(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", node_id(from)}), "SETSLOT IMPORTING");
        expect_ok(raw(from, {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", node_id(to)}), "SETSLOT MIGRATING");
    }

    // MIGRATEs up to `max_keys` keys of `slot` from `from` to `to`; returns
    // how many moved (0: the slot is empty on `from`).
    std::size_t migrate_keys(int slot, std::size_t from, std::size_t to, std::size_t max_keys) const {
        const RawReply keys = raw(from, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(max_keys)});
        if (keys.is_error()) throw std::runtime_error("CLUSTER GETKEYSINSLOT: " + keys.str);
        if (keys.elements.empty()) return 0;
        std::vector<std::string> cmd{"MIGRATE", "127.0.0.1", std::to_string(nodes_.at(to)->port()), "", "0", "5000"};
        if (options_.password) cmd.insert(cmd.end(), {"AUTH", *options_.password});
        cmd.push_back("KEYS");
        for (const auto& k : keys.elements) cmd.push_back(k.str);
        expect_ok(raw(from, cmd), "MIGRATE");
        return keys.elements.size();
    }

    // Gives `slot` to `to` on every master (the new owner first, as redis-cli does).
    void finish_migration(int slot, std::size_t from, std::size_t to) const {
        const std::string id = node_id(to);
        expect_ok(raw(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id}), "SETSLOT NODE (target)");
        expect_ok(raw(from, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id}), "SETSLOT NODE (source)");
        for (std::size_t m : masters()) {
            if (m != to && m != from) raw(m, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id});
        }
    }

    // The whole migration of `slot` to master `to`, keys included.
    void move_slot(int slot, std::size_t to) const {
        const std::size_t from = master_index_for_slot(slot);
        if (from == to) return;
        begin_migration(slot, from, to);
        while (migrate_keys(slot, from, to, 100) > 0) {
        }
        finish_migration(slot, from, to);
        wait_for([&] { return master_index_for_slot(slot) == to && healthy(); }, std::chrono::seconds(10),
                 "slot " + std::to_string(slot) + " to settle on its new master");
    }

    // Repairs a slot whose owner the nodes disagree on (seen once on a heavily
    // loaded machine after a migration): the owner takes a new config epoch so
    // its claim wins the gossip, and every master is told again.
    void settle_slot(int slot, std::size_t owner) const {
        const std::string id = node_id(owner);
        raw(owner, {"CLUSTER", "BUMPEPOCH"});
        for (std::size_t m : masters()) {
            raw(m, {"CLUSTER", "SETSLOT", std::to_string(slot), "STABLE"});
            raw(m, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id});
        }
        wait_until_healthy();
    }

    static void expect_ok(const RawReply& r, const std::string& what) {
        if (r.is_error()) throw std::runtime_error(what + ": " + r.str);
    }

private:
    // Replicas each master should list: as configured while every node runs;
    // a test that killed a node leaves some shard short, so then any number.
    std::optional<std::size_t> expected_replicas() const {
        for (const auto& n : nodes_) {
            if (!n->running()) return std::nullopt;
        }
        return static_cast<std::size_t>(options_.replicas_per_master);
    }

    bool owns_slots(std::size_t i) const {
        const RawReply r = raw(i, {"CLUSTER", "SLOTS"});
        for (const auto& range : r.elements) {
            if (range.elements.at(2).elements.at(1).integer == nodes_[i]->port()) return true;
        }
        return false;
    }

    // "start-end:port,..." of a node's CLUSTER SLOTS, sorted.
    std::string slot_map_text(std::size_t i) const {
        const RawReply r = raw(i, {"CLUSTER", "SLOTS"});
        std::vector<std::string> parts;
        for (const auto& range : r.elements) {
            parts.push_back(std::to_string(range.elements.at(0).integer) + "-" +
                            std::to_string(range.elements.at(1).integer) + ":" +
                            std::to_string(range.elements.at(2).elements.at(1).integer) + "/" +
                            std::to_string(range.elements.size() - 3));
        }
        std::sort(parts.begin(), parts.end());
        std::string out;
        for (const auto& p : parts) out += p + ",";
        return out;
    }

    void create() {
        std::vector<std::string> args{redis_cluster_details::find_redis_cli(), "--cluster", "create"};
        for (const auto& n : nodes_) args.push_back("127.0.0.1:" + std::to_string(n->port()));
        args.insert(args.end(), {"--cluster-replicas", std::to_string(options_.replicas_per_master), "--cluster-yes"});
        std::vector<std::string> env;
        if (options_.password) env.push_back("REDISCLI_AUTH=" + *options_.password);
        const std::string log = nodes_.front()->dir() + "/cluster-create.log";
        const int status = redis_cluster_details::run_program(args, log, env, options_.form_timeout);
        if (status != 0) {
            throw std::runtime_error("redis-cli --cluster create failed (status " + std::to_string(status) + "):\n" +
                                     redis_cluster_details::read_all(log));
        }
        // CLUSTER SLOTS lists a replica only once its replication offset is
        // above zero, which otherwise takes until the master's first
        // replication PING (10 s): a propagated write moves it now.
        try {
            wait_for([this] { return masters().size() == static_cast<std::size_t>(options_.masters); },
                     options_.form_timeout, "every master to own its slots");
            for (std::size_t m : masters()) expect_ok(raw(m, {"FLUSHALL"}), "FLUSHALL");
            wait_until_healthy(options_.form_timeout);
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string(e.what()) + "\nredis-cli output:\n" + redis_cluster_details::read_all(log));
        }
    }

    RedisClusterOptions options_;
    std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace dogpile::test
