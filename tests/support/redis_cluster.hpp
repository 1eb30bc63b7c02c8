#pragma once
// RedisCluster: a real Redis Cluster for tests and benchmarks: `masters`
// masters with `replicas_per_master` replicas each (3 + 3 by default), every
// node a RedisServer (redis_server.hpp) on a free loopback port with its own
// temporary directory, joined with `redis-cli --cluster create ...
// --cluster-replicas N --cluster-yes`. The constructor returns once the
// cluster has converged (divergence(): every node ok, replicas in sync, no
// slot open, every node's view of every node equal, config epochs included).
// Every node is stopped by the destructor.
//
//   dogpile::test::RedisCluster cluster;
//   auto client = std::make_shared<dogpile::redis::ClusterClient>(cluster.client_options());
//   cluster.raw_for_key("k", {"GET", "k"});        // plain hiredis, on the key's master
//   cluster.node(cluster.master_index_for_slot(0)).kill();
//
// TLS mode (RedisClusterOptions::tls): every node listens on a TLS port only
// (plus the plaintext unix socket raw() uses) with `tls-cluster yes` and
// `tls-replication yes`, so the cluster bus and replication are TLS and
// CLUSTER SLOTS / MOVED name the TLS ports; url() is then a rediss:// URL and
// client_options() trusts the CA.
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
    // TLS on every node's TCP port (tls_certificates.hpp has the certificates).
    std::optional<RedisServerOptions::Tls> tls;
    // With tls: the certificate a node presents when it connects to another
    // node (tls-client-cert-file). The cluster bus always asks for one,
    // whatever tls-auth-clients says, so it must allow clientAuth.
    std::string tls_bus_cert_file;
    std::string tls_bus_key_file;
};

namespace redis_cluster_details {

inline std::string find_redis_cli() {
    if (const char* env = std::getenv("DOGPILE_REDIS_CLI"); env != nullptr && *env != '\0') return env;
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/usr/local/sbin"}) {
        const std::string candidate = std::string(dir) + "/redis-cli";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    throw std::runtime_error(
        "redis-cli not found: install it with `apt-get install redis-tools` (or run scripts/setup.sh)");
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
            o.listen = options_.tls ? RedisServerOptions::Listen::TcpAndUnix : RedisServerOptions::Listen::Tcp;
            o.tls = options_.tls;
            o.password = options_.password;
            o.acl_users = options_.acl_users;
            // No diskless-sync delay: replicas sync at once instead of after 5 s.
            o.extra_args = {"--cluster-enabled",          "yes",
                            "--cluster-config-file",      "nodes.conf",
                            "--cluster-node-timeout",     std::to_string(options_.node_timeout.count()),
                            "--repl-diskless-sync-delay", "0"};
            // The bus port is picked with the client port, so a retry after
            // either was taken (ctest -j2 starts two clusters at once) picks both anew.
            o.port_args = [] {
                return std::vector<std::string>{"--cluster-port",
                                                std::to_string(redis_server_details::pick_free_port())};
            };
            if (options_.password) o.extra_args.insert(o.extra_args.end(), {"--masterauth", *options_.password});
            if (options_.tls) {
                o.extra_args.insert(o.extra_args.end(),
                                    {"--tls-cluster", "yes", "--tls-replication", "yes", "--tls-client-cert-file",
                                     options_.tls_bus_cert_file, "--tls-client-key-file", options_.tls_bus_key_file});
            }
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

    // redis://[:password@]127.0.0.1:p1,127.0.0.1:p2,... (TLS mode:
    // rediss://...?ca_file=...)
    std::string url() const {
        std::string hosts;
        for (const auto& n : nodes_)
            hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(n->port());
        // A node's URL carries the scheme, the encoded password and the query.
        const std::string single = nodes_.front()->url();
        const std::string host = "127.0.0.1:" + std::to_string(nodes_.front()->port());
        const auto at = single.find(host);
        return single.substr(0, at) + hosts + single.substr(at + host.size());
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
        if (options_.tls) {
            o.pool.connection.tls.emplace();
            o.pool.connection.tls->ca_file = options_.tls->ca_file;
        }
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
    static void wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                         const std::string& what) {
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

    // Why the cluster has not converged, or nothing once it has. Converged:
    // every running node says cluster_state:ok and sees all 16384 slots
    // served; no node has a slot migrating or importing; every running
    // replica is in sync and every master lists its replicas (when no node is
    // down); and every running node has the same view of every node: role,
    // master, config epoch and slots. The equal config epochs matter most:
    // until every node has heard a slot's new owner's bumped epoch, a stale
    // claim still in flight from the old owner can move the slot back on one
    // node, and the client is bounced between two nodes (MOVED ... MOVED).
    std::optional<std::string> divergence() const {
        std::optional<std::pair<std::size_t, std::map<std::string, NodeView>>> reference;
        std::optional<std::pair<std::size_t, std::string>> reference_map;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]->running()) continue;
            const std::string who = "node " + address_of(i);
            const auto info = redis_cluster_details::info_fields(raw(i, {"CLUSTER", "INFO"}).str);
            if (info.count("cluster_state") == 0 || info.at("cluster_state") != "ok") {
                return who + " says cluster_state:" + (info.count("cluster_state") ? info.at("cluster_state") : "?");
            }
            if (info.at("cluster_slots_ok") != "16384")
                return who + " sees only " + info.at("cluster_slots_ok") + " slots ok";
            const RawReply role = raw(i, {"ROLE"});
            if (role.elements.at(0).str == "slave" && role.elements.at(3).str != "connected") {
                return who + " is a replica in state " + role.elements.at(3).str;
            }
            const auto expected = expected_replicas();
            const RawReply slots = raw(i, {"CLUSTER", "SLOTS"});
            for (const auto& range : slots.elements) {
                if (expected && range.elements.size() - 3 != *expected) {
                    return who + " lists " + std::to_string(range.elements.size() - 3) + " replicas for slots " +
                           std::to_string(range.elements.at(0).integer) + "-" +
                           std::to_string(range.elements.at(1).integer);
                }
            }
            const std::string map = slot_map_text(i);
            if (reference_map && reference_map->second != map) {
                return "nodes " + address_of(reference_map->first) + " and " + address_of(i) +
                       " disagree on the slot map: " + reference_map->second + " vs " + map;
            }
            if (!reference_map) reference_map.emplace(i, map);

            const RawReply nodes = raw(i, {"CLUSTER", "NODES"});
            if (nodes.is_error()) return who + ": CLUSTER NODES: " + nodes.str;
            std::map<std::string, NodeView> view;
            std::stringstream lines(nodes.str);
            std::string line;
            while (std::getline(lines, line)) {
                if (line.empty()) continue;
                NodeView v = parse_node_line(line);
                if (!v.open_slots.empty()) return who + " has " + v.open_slots;
                view.emplace(v.id, std::move(v));
            }
            if (reference) {
                if (auto d = compare_views(address_of(reference->first), reference->second, address_of(i), view))
                    return d;
            } else {
                reference.emplace(i, std::move(view));
            }
        }
        return std::nullopt;
    }

    bool healthy() const { return !divergence().has_value(); }

    // A key kept by a master that does not own its slot (left behind by a
    // migration that was abandoned or undone), or nothing. Only meaningful
    // on a converged cluster, where no slot is being migrated.
    std::optional<std::string> stranded_key() const {
        for (std::size_t m : masters()) {
            std::vector<std::pair<long long, long long>> owned;
            for (const auto& range : raw(m, {"CLUSTER", "SLOTS"}).elements) {
                if (range.elements.at(2).elements.at(1).integer == nodes_[m]->port()) {
                    owned.emplace_back(range.elements.at(0).integer, range.elements.at(1).integer);
                }
            }
            std::string cursor = "0";
            do {
                const RawReply page = raw(m, {"SCAN", cursor, "COUNT", "1000"});
                if (page.is_error()) throw std::runtime_error("SCAN: " + page.str);
                cursor = page.elements.at(0).str;
                for (const auto& key : page.elements.at(1).elements) {
                    const int slot = dogpile::redis::key_slot(key.str);
                    const bool own = std::any_of(owned.begin(), owned.end(),
                                                 [slot](const auto& r) { return r.first <= slot && slot <= r.second; });
                    if (!own) {
                        return "key '" + key.str + "' of slot " + std::to_string(slot) + " is stranded on " +
                               address_of(m) + ", which does not own the slot";
                    }
                }
            } while (cursor != "0");
        }
        return std::nullopt;
    }

    // Waits until divergence() is empty; throws naming what still disagrees.
    void wait_until_healthy(std::chrono::milliseconds timeout = std::chrono::milliseconds(30000)) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string last = "nothing answered";
        for (;;) {
            try {
                const auto d = divergence();
                if (!d) return;
                last = *d;
            } catch (const std::exception& e) {
                last = e.what();  // a node restarting or briefly unreachable: ask again
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                throw std::runtime_error("RedisCluster: not converged after " + std::to_string(timeout.count()) +
                                         " ms: " + last);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
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
        expect_ok(raw(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", node_id(from)}),
                  "SETSLOT IMPORTING");
        expect_ok(raw(from, {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", node_id(to)}),
                  "SETSLOT MIGRATING");
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
        wait_until_healthy();
        if (master_index_for_slot(slot) != to) {
            throw std::runtime_error("RedisCluster: slot " + std::to_string(slot) + " converged on " +
                                     address_of(master_index_for_slot(slot)) + ", not on " + address_of(to));
        }
    }

    // Deletes every key of `slot` from the master that owns it.
    void clear_slot(int slot) const {
        const std::size_t owner = master_index_for_slot(slot);
        for (;;) {
            const RawReply keys = raw(owner, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"});
            if (keys.is_error()) throw std::runtime_error("CLUSTER GETKEYSINSLOT: " + keys.str);
            if (keys.elements.empty()) return;
            std::vector<std::string> del{"DEL"};
            for (const auto& k : keys.elements) del.push_back(k.str);
            expect_ok(raw(owner, del), "DEL");
        }
    }

    // Puts `slot` back on master `owner` with all its keys, whatever a test
    // left half done: a migration still open is finished first (its keys
    // would otherwise be stranded on a node that does not own the slot),
    // every node is made stable, the slot is moved to `owner`, and then the
    // cluster must converge with no key of the slot on any other master.
    void restore_slot(int slot, std::size_t owner) const {
        const std::string s = std::to_string(slot);
        for (std::size_t m : masters_with_open_slot(slot)) {
            const auto open = open_slot_of(m, slot);
            if (!open || open->importing) continue;
            const std::size_t target = index_of_id(open->peer);
            while (migrate_keys(slot, m, target, 100) > 0) {
            }
            finish_migration(slot, m, target);
        }
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i]->running() && role(i) == "master")
                expect_ok(raw(i, {"CLUSTER", "SETSLOT", s, "STABLE"}), "SETSLOT STABLE");
        }
        if (!anyone_claims(slot)) expect_ok(raw(owner, {"CLUSTER", "ADDSLOTS", s}), "ADDSLOTS");
        wait_until_healthy();
        if (master_index_for_slot(slot) != owner) move_slot(slot, owner);
        wait_until_healthy();
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]->running() || role(i) != "master") continue;
            if (i != owner && raw(i, {"CLUSTER", "COUNTKEYSINSLOT", s}).integer != 0) {
                throw std::runtime_error("RedisCluster: keys of slot " + s + " are stranded on " + address_of(i));
            }
        }
        if (master_index_for_slot(slot) != owner) {
            throw std::runtime_error("RedisCluster: slot " + s + " did not return to " + address_of(owner));
        }
    }

    static void expect_ok(const RawReply& r, const std::string& what) {
        if (r.is_error()) throw std::runtime_error(what + ": " + r.str);
    }

private:
    // One line of CLUSTER NODES, reduced to what every node must agree on.
    struct NodeView {
        std::string id;
        std::string address;  // ip:port, without the bus port
        std::string role;     // "master" or "slave"
        std::string master_id;
        std::string config_epoch;
        std::string slots;       // "0-5460 4242 ..." as listed
        std::string open_slots;  // "[4242->-id]" entries: only in a node's own line
    };

    static NodeView parse_node_line(const std::string& line) {
        std::stringstream ss(line);
        std::vector<std::string> f;
        std::string word;
        while (ss >> word) f.push_back(word);
        if (f.size() < 8) throw std::runtime_error("CLUSTER NODES: short line: " + line);
        NodeView v;
        v.id = f[0];
        v.address = f[1].substr(0, f[1].find('@'));
        v.role = f[2].find("master") != std::string::npos  ? "master"
                 : f[2].find("slave") != std::string::npos ? "slave"
                                                           : f[2];
        v.master_id = f[3];
        v.config_epoch = f[6];
        for (std::size_t k = 8; k < f.size(); ++k) {
            if (!f[k].empty() && f[k].front() == '[') {
                v.open_slots += (v.open_slots.empty() ? "" : " ") + f[k];
            } else {
                v.slots += (v.slots.empty() ? "" : " ") + f[k];
            }
        }
        if (!v.open_slots.empty()) v.open_slots = "slots migrating or importing: " + v.open_slots;
        return v;
    }

    static std::optional<std::string> compare_views(const std::string& a_name, const std::map<std::string, NodeView>& a,
                                                    const std::string& b_name,
                                                    const std::map<std::string, NodeView>& b) {
        const std::string pair = "nodes " + a_name + " and " + b_name + " disagree on node ";
        for (const auto& [id, va] : a) {
            const auto it = b.find(id);
            if (it == b.end()) return "node " + b_name + " does not know node " + va.address + " (" + id + ")";
            const NodeView& vb = it->second;
            const std::string node = va.address + " (" + id.substr(0, 8) + "): ";
            if (va.role != vb.role) return pair + node + "role " + va.role + " vs " + vb.role;
            if (va.master_id != vb.master_id) return pair + node + "master " + va.master_id + " vs " + vb.master_id;
            if (va.config_epoch != vb.config_epoch) {
                return pair + node + "config epoch " + va.config_epoch + " vs " + vb.config_epoch;
            }
            if (va.slots != vb.slots) return pair + node + "slots [" + va.slots + "] vs [" + vb.slots + "]";
        }
        if (a.size() != b.size()) return "nodes " + a_name + " and " + b_name + " know different numbers of nodes";
        return std::nullopt;
    }

    std::string address_of(std::size_t i) const { return "127.0.0.1:" + std::to_string(nodes_.at(i)->port()); }

    std::size_t index_of_id(const std::string& id) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i]->running() && node_id(i) == id) return i;
        }
        throw std::runtime_error("RedisCluster: no running node has id " + id);
    }

    struct OpenSlot {
        bool importing = false;
        std::string peer;  // the node it migrates to or imports from
    };

    // `slot` as node i's own CLUSTER NODES line lists it: [slot->-to] or [slot-<-from].
    std::optional<OpenSlot> open_slot_of(std::size_t i, int slot) const {
        const RawReply nodes = raw(i, {"CLUSTER", "NODES"});
        std::stringstream lines(nodes.str);
        std::string line;
        while (std::getline(lines, line)) {
            if (line.find("myself") == std::string::npos) continue;
            for (const std::string& marker : {std::string("->-"), std::string("-<-")}) {
                const std::string prefix = "[" + std::to_string(slot) + marker;
                const auto at = line.find(prefix);
                if (at == std::string::npos) continue;
                const auto close = line.find(']', at);
                return OpenSlot{marker == "-<-", line.substr(at + prefix.size(), close - at - prefix.size())};
            }
        }
        return std::nullopt;
    }

    std::vector<std::size_t> masters_with_open_slot(int slot) const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i]->running() && role(i) == "master" && open_slot_of(i, slot)) out.push_back(i);
        }
        return out;
    }

    // Whether some running node lists `slot` as its own (a node that gave up a
    // slot with DELSLOTS keeps being named its owner by the others).
    bool anyone_claims(int slot) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]->running()) continue;
            std::stringstream lines(raw(i, {"CLUSTER", "NODES"}).str);
            std::string line;
            while (std::getline(lines, line)) {
                if (line.find("myself") == std::string::npos) continue;
                std::stringstream ranges(parse_node_line(line).slots);
                std::string range;
                while (ranges >> range) {
                    const auto dash = range.find('-');
                    const int first = std::stoi(range.substr(0, dash));
                    const int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
                    if (first <= slot && slot <= last) return true;
                }
            }
        }
        return false;
    }

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
        if (options_.tls) args.insert(args.end(), {"--tls", "--cacert", options_.tls->ca_file});
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
            throw std::runtime_error(std::string(e.what()) + "\nredis-cli output:\n" +
                                     redis_cluster_details::read_all(log));
        }
    }

    RedisClusterOptions options_;
    std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace dogpile::test
