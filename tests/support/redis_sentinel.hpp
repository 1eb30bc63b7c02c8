#pragma once
// RedisSentinelGroup: one master, `replicas` replicas and `sentinels`
// sentinels (redis-server --sentinel, Debian's redis-sentinel), each a
// RedisServer (redis_server.hpp) on a free loopback port with its own
// temporary directory. The constructor returns once every replica is in sync
// and every sentinel knows the master, all replicas and all other sentinels,
// so a failover can start at once. Everything is stopped by the destructor.
//
//   dogpile::test::RedisSentinelGroup group;
//   dogpile::redis::SentinelClient client(group.client_options());
//   group.data_node(group.master_index()).kill();
//   const std::size_t promoted = group.wait_for_new_master(old_master, 30s);
//
// TLS mode (RedisSentinelOptions::tls): every data node and sentinel listens
// on a TLS port only (plus the plaintext unix socket raw() uses), with
// `tls-replication yes`, so replication, the sentinels' monitoring and their
// hello messages all go over TLS and the sentinels name TLS ports.
// client_options() then trusts the CA for both the sentinels and the master.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <dogpile/redis/address.hpp>
#include <dogpile/redis/sentinel.hpp>

#include "redis_cluster.hpp"
#include "redis_server.hpp"

namespace dogpile::test {

struct RedisSentinelOptions {
    std::string master_name = "dogpile";
    int replicas = 1;
    int sentinels = 3;
    int quorum = 2;
    // sentinel down-after-milliseconds: how long a silent master is tolerated.
    // Long by default, so a loaded machine never fails a master over by
    // mistake (tests on the shared group assert that no failover happened);
    // a test that kills the master shortens it with set_down_after once it
    // has seen the outage, or sets it short here.
    std::chrono::milliseconds down_after{30000};
    // sentinel failover-timeout; also (doubled) the pause before a failed
    // election is retried.
    std::chrono::milliseconds failover_timeout{2000};
    // requirepass and masterauth on the data nodes (sentinels get auth-pass).
    std::optional<std::string> password;
    std::chrono::milliseconds ready_timeout{30000};
    // TLS on every node's TCP port (tls_certificates.hpp: tls_server_options).
    std::optional<RedisServerOptions::Tls> tls;
};

class RedisSentinelGroup {
public:
    explicit RedisSentinelGroup(RedisSentinelOptions options = {}) : options_(std::move(options)) {
        data_.push_back(std::make_unique<RedisServer>(data_options({})));
        const std::string master_port = std::to_string(data_.front()->port());
        for (int i = 0; i < options_.replicas; ++i) {
            data_.push_back(std::make_unique<RedisServer>(data_options({"--replicaof", "127.0.0.1", master_port})));
        }
        std::string config = "sentinel monitor " + options_.master_name + " 127.0.0.1 " + master_port + " " +
                             std::to_string(options_.quorum) + "\n";
        config += "sentinel down-after-milliseconds " + options_.master_name + " " +
                  std::to_string(options_.down_after.count()) + "\n";
        config += "sentinel failover-timeout " + options_.master_name + " " +
                  std::to_string(options_.failover_timeout.count()) + "\n";
        config += "sentinel parallel-syncs " + options_.master_name + " 1\n";
        if (options_.password) config += "sentinel auth-pass " + options_.master_name + " " + *options_.password + "\n";
        for (int i = 0; i < options_.sentinels; ++i) {
            RedisServerOptions o = listen_options();
            o.config_text = config;
            o.extra_args = {"--sentinel"};
            if (options_.tls) o.extra_args.insert(o.extra_args.end(), {"--tls-replication", "yes"});
            sentinels_.push_back(std::make_unique<RedisServer>(std::move(o)));
        }
        RedisCluster::wait_for([this] { return ready(); }, options_.ready_timeout,
                               "the sentinels to know the master, its replicas and each other");
    }

    RedisSentinelGroup(const RedisSentinelGroup&) = delete;
    RedisSentinelGroup& operator=(const RedisSentinelGroup&) = delete;

    // Data nodes: 0 is the first master, then the replicas.
    std::size_t data_nodes() const noexcept { return data_.size(); }
    RedisServer& data_node(std::size_t i) { return *data_.at(i); }
    RedisServer& sentinel(std::size_t i) { return *sentinels_.at(i); }
    const RedisSentinelOptions& group_options() const noexcept { return options_; }

    std::vector<dogpile::redis::NodeAddress> sentinel_addresses() const {
        std::vector<dogpile::redis::NodeAddress> out;
        for (const auto& s : sentinels_) out.push_back({"127.0.0.1", s->port()});
        return out;
    }

    dogpile::redis::SentinelOptions client_options() const {
        dogpile::redis::SentinelOptions o;
        o.master_name = options_.master_name;
        o.sentinels = sentinel_addresses();
        o.pool.connection.password = options_.password;
        // Generous for a loaded test machine; tests about timing set their own.
        o.pool.connection.connect_timeout = std::chrono::milliseconds(5000);
        o.pool.connection.command_timeout = std::chrono::milliseconds(5000);
        o.pool.acquire_timeout = std::chrono::milliseconds(5000);
        o.sentinel_connection.connect_timeout = std::chrono::milliseconds(5000);
        o.sentinel_connection.command_timeout = std::chrono::milliseconds(5000);
        if (options_.tls) {
            o.pool.connection.tls.emplace();
            o.pool.connection.tls->ca_file = options_.tls->ca_file;
            o.sentinel_connection.tls = o.pool.connection.tls;
        }
        return o;
    }

    std::size_t index_of_port(int port) const {
        for (std::size_t i = 0; i < data_.size(); ++i) {
            if (data_[i]->port() == port) return i;
        }
        throw std::runtime_error("RedisSentinelGroup: no data node on port " + std::to_string(port));
    }

    // The data node whose ROLE is master (the first one, if several claim it).
    std::optional<std::size_t> master_index() const {
        for (std::size_t i = 0; i < data_.size(); ++i) {
            if (data_[i]->running() && data_[i]->raw({"ROLE"}).elements.at(0).str == "master") return i;
        }
        return std::nullopt;
    }

    // The master's port according to sentinel `s`.
    std::optional<int> master_port_per_sentinel(std::size_t s) const {
        const RawReply r = sentinels_.at(s)->raw({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master_name});
        if (r.elements.size() != 2) return std::nullopt;
        return std::stoi(r.elements[1].str);
    }

    // Waits until a data node other than `old_master` is master, by its own
    // ROLE and for every running sentinel, and returns it.
    std::size_t wait_for_new_master(std::size_t old_master, std::chrono::milliseconds timeout) const {
        std::size_t found = old_master;
        RedisCluster::wait_for(
            [&] {
                for (std::size_t s = 0; s < sentinels_.size(); ++s) {
                    if (!sentinels_[s]->running()) continue;
                    const auto port = master_port_per_sentinel(s);
                    if (!port || *port == data_[old_master]->port()) return false;
                    found = index_of_port(*port);
                }
                return data_[found]->raw({"ROLE"}).elements.at(0).str == "master";
            },
            timeout, "the sentinels to promote a new master");
        return found;
    }

    // SENTINEL SET down-after-milliseconds on every running sentinel. A
    // master already silent for longer is seen down at the sentinels' next
    // check (about 100 ms), so a test can hold off a failover until it has
    // seen what it wanted, then let it start at once.
    void set_down_after(std::chrono::milliseconds down_after) const {
        for (const auto& s : sentinels_) {
            if (!s->running()) continue;
            const RawReply r = s->raw({"SENTINEL", "SET", options_.master_name, "down-after-milliseconds",
                                       std::to_string(down_after.count())});
            if (r.is_error()) throw std::runtime_error("SENTINEL SET down-after-milliseconds: " + r.str);
        }
    }

private:
    // TCP only, or in TLS mode the TLS port and the plaintext unix socket.
    RedisServerOptions listen_options() const {
        RedisServerOptions o;
        o.listen = options_.tls ? RedisServerOptions::Listen::TcpAndUnix : RedisServerOptions::Listen::Tcp;
        o.tls = options_.tls;
        return o;
    }

    RedisServerOptions data_options(std::vector<std::string> extra) const {
        RedisServerOptions o = listen_options();
        o.password = options_.password;
        // No diskless-sync delay (5 s by default); replication PINGs every second
        // so the sentinels see fresh replica offsets.
        o.extra_args = {"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"};
        if (options_.password) o.extra_args.insert(o.extra_args.end(), {"--masterauth", *options_.password});
        if (options_.tls) o.extra_args.insert(o.extra_args.end(), {"--tls-replication", "yes"});
        o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
        return o;
    }

    bool ready() const {
        for (std::size_t i = 1; i < data_.size(); ++i) {
            const RawReply role = data_[i]->raw({"ROLE"});
            if (role.elements.at(0).str != "slave" || role.elements.at(3).str != "connected") return false;
        }
        for (const auto& s : sentinels_) {
            const RawReply master = s->raw({"SENTINEL", "MASTER", options_.master_name});
            if (master.is_error()) return false;
            std::map<std::string, std::string> fields;
            for (std::size_t k = 0; k + 1 < master.elements.size(); k += 2) {
                fields[master.elements[k].str] = master.elements[k + 1].str;
            }
            if (fields["flags"] != "master") return false;
            if (fields["num-slaves"] != std::to_string(options_.replicas)) return false;
            if (fields["num-other-sentinels"] != std::to_string(options_.sentinels - 1)) return false;
        }
        return true;
    }

    RedisSentinelOptions options_;
    std::vector<std::unique_ptr<RedisServer>> data_;
    std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace dogpile::test
