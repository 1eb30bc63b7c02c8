// cluster_bench: the hash store on one redis-server and on a 3-master Redis
// Cluster (3 + 3 nodes), in the same run, over loopback TCP for both:
//
//   hit         Region<Flags, HashKey>::get_or_create of an existing field
//               (one HGET on the key's master + decode)
//   multi100    get_or_create_multi of 100 fields of 100 different hashes,
//               spread over the masters (one pipeline per node)
//   multi100/1  get_or_create_multi of 100 fields of ONE hash (one HMGET)
//   batch100    Client::batch of 100 GETs of plain keys spread over the
//               masters: the client's multi-key path alone, without decode
//               or the region (on the cluster, every master's pipeline is
//               written before any reply is read: the nodes work at once)
//
// For each: mean and p99 latency per call, and round trips per call (the
// client's count: on the cluster a 100-key multi-get costs one round trip per
// master holding its keys, 3 here, never 100). The two topologies run in
// alternating blocks so machine noise hits both alike; read the ratio: the
// median over the blocks of cluster mean / single-server mean in that block.
//
//   cluster_bench [--seconds S] [--blocks N] [--json]
//
// Starts its own servers (redis-server and redis-cli must be installed) and
// stops them at exit.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/region.hpp>

#include "support/permissions.hpp"
#include "support/timing.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/redis_server.hpp"

namespace {

using dogpile::HashKey;
using dogpile::bench::SteadyClock;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using Region = dogpile::Region<Flags, HashKey>;
using Backend = dogpile::RedisHashBackend<Flags, FlagsCodec>;

constexpr std::size_t hashes = 200;
constexpr std::size_t fields = 100;

HashKey key_of(std::size_t a, std::size_t b) { return HashKey{"calculated-a|" + std::to_string(a), std::to_string(b)}; }

Flags flags_of(const HashKey& key) {
    return dogpile::bench::make_flags(
        dogpile::bench::pair_seed(std::stoull(key.hash.substr(key.hash.find('|') + 1)), std::stoull(key.field)));
}

struct Samples {
    std::vector<double> micros;
    std::uint64_t round_trips = 0;
    std::uint64_t calls = 0;

    double mean() const {
        double total = 0;
        for (double m : micros) total += m;
        return micros.empty() ? 0 : total / static_cast<double>(micros.size());
    }
    double p99() const { return dogpile::bench::percentile(micros, 99); }
    // Mean of the samples taken since micros.size() was `from`.
    double mean_since(std::size_t from) const {
        double total = 0;
        for (std::size_t i = from; i < micros.size(); ++i) total += micros[i];
        return micros.size() > from ? total / static_cast<double>(micros.size() - from) : 0;
    }
    double round_trips_per_call() const {
        return calls == 0 ? 0 : static_cast<double>(round_trips) / static_cast<double>(calls);
    }
};

// One topology: its client, a region over the hash store, the data loaded.
class Store {
public:
    Store(std::string name, std::shared_ptr<dogpile::redis::Client> client)
        : name_(std::move(name)), client_(std::move(client)) {
        region_ = std::make_unique<Region>(
            std::make_shared<Backend>(dogpile::RedisHashBackendOptions{client_, std::chrono::hours(1)},
                                      FlagsCodec{dogpile::bench::permission_template()}));
        std::vector<std::pair<HashKey, Flags>> items;
        for (std::size_t a = 0; a < hashes; ++a) {
            for (std::size_t b = 0; b < fields; ++b) {
                items.emplace_back(key_of(a, b), flags_of(key_of(a, b)));
            }
        }
        region_->set_multi(items);
    }

    const std::string& name() const { return name_; }
    Region& region() { return *region_; }
    dogpile::redis::Client& client() { return *client_; }

    // Runs `op` for `budget`, one timed sample per call.
    template <class Op>
    void run(Samples& samples, SteadyClock::duration budget, Op&& op) {
        const auto end = SteadyClock::now() + budget;
        const auto trips = client_->round_trips();
        while (SteadyClock::now() < end) {
            const auto t0 = SteadyClock::now();
            op(*this, cursor_++);
            samples.micros.push_back(dogpile::bench::to_ms(SteadyClock::now() - t0) * 1000.0);
            ++samples.calls;
        }
        samples.round_trips += client_->round_trips() - trips;
    }

private:
    std::string name_;
    std::shared_ptr<dogpile::redis::Client> client_;
    std::unique_ptr<Region> region_;
    std::size_t cursor_ = 0;
};

std::string plain_key(std::size_t i) { return "plain|" + std::to_string(i % (hashes * fields)); }

void load_plain_keys(dogpile::redis::Client& client) {
    std::vector<dogpile::redis::KeyedCommand> sets;
    for (std::size_t i = 0; i < hashes * fields; ++i) {
        sets.push_back(
            dogpile::redis::KeyedCommand{plain_key(i), dogpile::redis::Command{"SET", plain_key(i), plain_key(i)}});
    }
    client.batch(sets);
}

void hit(Store& store, std::size_t i) {
    Region& region = store.region();
    const HashKey key = key_of(i % hashes, (i * 7) % fields);
    const Flags value = region.get_or_create(key, [&] { return flags_of(key); });
    if (value.empty()) throw std::runtime_error("empty value");
}

void multi_spread(Store& store, std::size_t i) {
    Region& region = store.region();
    std::vector<HashKey> keys;
    keys.reserve(100);
    for (std::size_t k = 0; k < 100; ++k) keys.push_back(key_of((i + k * 2) % hashes, (i + k) % fields));
    const auto values = region.get_or_create_multi(keys, [](const std::vector<HashKey>& missing) {
        std::vector<Flags> out;
        for (const auto& key : missing) out.push_back(flags_of(key));
        return out;
    });
    if (values.size() != keys.size()) throw std::runtime_error("wrong multi-get size");
}

void multi_one_hash(Store& store, std::size_t i) {
    Region& region = store.region();
    std::vector<HashKey> keys;
    keys.reserve(100);
    for (std::size_t k = 0; k < 100; ++k) keys.push_back(key_of(i % hashes, k));
    const auto values = region.get_or_create_multi(keys, [](const std::vector<HashKey>& missing) {
        std::vector<Flags> out;
        for (const auto& key : missing) out.push_back(flags_of(key));
        return out;
    });
    if (values.size() != keys.size()) throw std::runtime_error("wrong multi-get size");
}

void batch_spread(Store& store, std::size_t i) {
    std::vector<dogpile::redis::KeyedCommand> gets;
    gets.reserve(100);
    for (std::size_t k = 0; k < 100; ++k) {
        const std::string key = plain_key(i * 100 + k * 37);
        gets.push_back(dogpile::redis::KeyedCommand{key, dogpile::redis::Command{"GET", key}});
    }
    const auto replies = store.client().batch(gets);
    if (replies.size() != gets.size() || replies.back().is_nil()) throw std::runtime_error("wrong batch reply");
}

struct Row {
    std::string operation;
    Samples single;
    Samples cluster;
    std::vector<double> block_ratios;  // cluster mean / single mean, per block

    double cluster_over_single() const { return dogpile::bench::percentile(block_ratios, 50); }
};

std::string fixed(double v, int digits) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(digits) << v;
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 1.0;
    int blocks = 6;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--seconds" && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else if (arg == "--blocks" && i + 1 < argc) {
            blocks = std::atoi(argv[++i]);
        } else if (arg == "--json") {
            json = true;
        } else {
            std::cerr << "usage: cluster_bench [--seconds S] [--blocks N] [--json]\n";
            return 2;
        }
    }
    if (seconds <= 0 || blocks <= 0) {
        std::cerr << "cluster_bench: --seconds and --blocks must be positive\n";
        return 2;
    }

    try {
        std::cerr << "cluster_bench: starting a redis-server and a 3+3 cluster...\n";
        dogpile::test::RedisServerOptions single_options;
        single_options.listen = dogpile::test::RedisServerOptions::Listen::Tcp;
        dogpile::test::RedisServer server(single_options);
        dogpile::test::RedisCluster cluster;

        Store single("single server", dogpile::redis::make_client(server.url()));
        Store clustered("cluster (3 masters)",
                        std::make_shared<dogpile::redis::ClusterClient>(cluster.client_options()));

        std::vector<Row> rows{{"hit (get_or_create)", {}, {}, {}},
                              {"multi-get 100 keys over 100 hashes", {}, {}, {}},
                              {"multi-get 100 fields of one hash", {}, {}, {}},
                              {"Client::batch of 100 GETs over 100 keys", {}, {}, {}}};
        using Op = void (*)(Store&, std::size_t);
        const Op ops[] = {hit, multi_spread, multi_one_hash, batch_spread};
        load_plain_keys(single.client());
        load_plain_keys(clustered.client());
        const auto block =
            std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds / blocks));
        for (std::size_t r = 0; r < rows.size(); ++r) {
            for (int b = 0; b < blocks; ++b) {
                const std::size_t single_from = rows[r].single.micros.size();
                const std::size_t cluster_from = rows[r].cluster.micros.size();
                // Alternate which goes first, so neither always runs warm.
                if (b % 2 == 0) {
                    single.run(rows[r].single, block, ops[r]);
                    clustered.run(rows[r].cluster, block, ops[r]);
                } else {
                    clustered.run(rows[r].cluster, block, ops[r]);
                    single.run(rows[r].single, block, ops[r]);
                }
                const double single_mean = rows[r].single.mean_since(single_from);
                if (single_mean > 0)
                    rows[r].block_ratios.push_back(rows[r].cluster.mean_since(cluster_from) / single_mean);
            }
        }

        if (json) {
            std::cout << "{\"cluster_bench\": [";
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const Row& row = rows[r];
                std::cout << (r ? ", " : "") << "{\"operation\": \"" << row.operation << "\", "
                          << "\"single_mean_us\": " << fixed(row.single.mean(), 2) << ", "
                          << "\"single_p99_us\": " << fixed(row.single.p99(), 2) << ", "
                          << "\"single_round_trips_per_call\": " << fixed(row.single.round_trips_per_call(), 2) << ", "
                          << "\"cluster_mean_us\": " << fixed(row.cluster.mean(), 2) << ", "
                          << "\"cluster_p99_us\": " << fixed(row.cluster.p99(), 2) << ", "
                          << "\"cluster_round_trips_per_call\": " << fixed(row.cluster.round_trips_per_call(), 2)
                          << ", "
                          << "\"cluster_over_single\": " << fixed(row.cluster_over_single(), 3) << ", "
                          << "\"single_calls\": " << row.single.calls << ", "
                          << "\"cluster_calls\": " << row.cluster.calls << "}";
            }
            std::cout << "], \"hashes\": " << hashes << ", \"fields\": " << fields << ", \"blocks\": " << blocks
                      << ", \"seconds\": " << seconds << "}\n";
            return 0;
        }
        std::cout << "| operation (1 thread, loopback TCP) | single server: mean / p99 us | round trips per call "
                     "| cluster, 3 masters: mean / p99 us | round trips per call | cluster / single |\n"
                  << "|---|---|---|---|---|---|\n";
        for (const Row& row : rows) {
            std::cout << "| " << row.operation << " | " << fixed(row.single.mean(), 1) << " / "
                      << fixed(row.single.p99(), 1) << " | " << fixed(row.single.round_trips_per_call(), 2) << " | "
                      << fixed(row.cluster.mean(), 1) << " / " << fixed(row.cluster.p99(), 1) << " | "
                      << fixed(row.cluster.round_trips_per_call(), 2) << " | " << fixed(row.cluster_over_single(), 2)
                      << "x |\n";
        }
        std::cout << "\n"
                  << rows[0].single.calls + rows[0].cluster.calls << " hits, "
                  << rows[1].single.calls + rows[1].cluster.calls << " + "
                  << rows[2].single.calls + rows[2].cluster.calls << " multi-gets, "
                  << rows[3].single.calls + rows[3].cluster.calls << " batches measured; " << hashes << " hashes x "
                  << fields << " fields of 25 permission flags.\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "cluster_bench: " << e.what() << "\n";
        return 1;
    }
}
