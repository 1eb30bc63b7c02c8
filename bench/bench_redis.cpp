// The Redis hash store, against plain hiredis doing the same work.
//
//   BM_RedisHit_Region/<transport>    Region<Flags, HashKey>::get_or_create of
//                                     an existing field (HGET + decode)
//   BM_RedisHit_Hiredis/<transport>   redisCommandArgv HGET + the same decode
//                                     on a bare connection of the same kind
//   BM_RedisMulti100_Multi/<t>        get_or_create_multi of 100 fields of one
//                                     hash (one round trip; the store reads
//                                     this small hash whole, by HGETALL)
//   BM_RedisMulti100_Sequential/<t>   100 get_or_create calls, one after another
//   BM_Compare_RedisHit/<t>           Hiredis and Region in alternating blocks,
//                                     with their ratio (support/compare.hpp)
//   BM_Compare_RedisMulti100/<t>      Sequential and Multi likewise
//   BM_Compare_RedisMulti100/flag_set/<t>   the same with codec::FlagSet values,
//                                     plus "hmget": one raw hiredis HMGET of the
//                                     100 fields + the same decode (issue 15's
//                                     goals: multi >= 20x sequential, >= 0.8x hmget)
//   BM_Compare_RedisHit/tls           over TLS (a second, TLS-only server):
//                                     "openssl", a minimal hand-written TLS
//                                     client (SSL_write of the HGET, SSL_read,
//                                     hiredis' reader, the same decode), then
//                                     "region" over TLS and "tcp_region", the
//                                     plain-TCP Region hit, in the same rounds
//                                     (region_vs_tcp_region: what TLS costs)
//
// Transport is "unix" (socket) or "tcp" (loopback). Every item is one entry.

#include "bench_redis.hpp"

#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/flag_set.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#if DOGPILE_HAS_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#include "support/compare.hpp"
#include "support/permissions.hpp"

namespace dogpile::bench {
namespace {

using codec::FlagSet;
using codec::FlagSetCodec;
using codec::Flags;
using codec::FlagsCodec;

constexpr std::size_t field_count = 100;
constexpr std::uint64_t id_a = 7;

// A bare hiredis connection: the baseline's client.
class HiredisConnection {
public:
    explicit HiredisConnection(const redis::ConnectionOptions& o) {
        context_ =
            o.unix_socket.empty() ? redisConnect(o.host.c_str(), o.port) : redisConnectUnix(o.unix_socket.c_str());
        if (context_ == nullptr || context_->err != 0) {
            const std::string why = context_ ? context_->errstr : "out of memory";
            if (context_) redisFree(context_);
            throw std::runtime_error("hiredis connect to " + o.describe() + " failed: " + why);
        }
    }
    HiredisConnection(const HiredisConnection&) = delete;
    HiredisConnection& operator=(const HiredisConnection&) = delete;
    ~HiredisConnection() { redisFree(context_); }

    // HGET hash field, decoded, as an application would write it by hand.
    template <class Codec>
    typename Codec::value_type hget(const redis::HashKey& key, const Codec& codec) {
        const char* argv[] = {"HGET", key.hash.data(), key.field.data()};
        const std::size_t lengths[] = {4, key.hash.size(), key.field.size()};
        auto* reply = static_cast<redisReply*>(redisCommandArgv(context_, 3, argv, lengths));
        if (reply == nullptr) throw std::runtime_error(std::string("hiredis HGET failed: ") + context_->errstr);
        std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
        if (reply->type != REDIS_REPLY_STRING) throw std::runtime_error("hiredis HGET: no value");
        return codec.decode(std::string_view(reply->str, reply->len));
    }

    // HMGET of the fields of one hash, each decoded: the least a batch read can do.
    template <class Codec>
    std::vector<typename Codec::value_type> hmget(const std::vector<redis::HashKey>& keys, const Codec& codec) {
        argv_.assign(1, "HMGET");
        lengths_.assign(1, 5);
        argv_.push_back(keys.front().hash.data());
        lengths_.push_back(keys.front().hash.size());
        for (const auto& key : keys) {
            argv_.push_back(key.field.data());
            lengths_.push_back(key.field.size());
        }
        auto* reply = static_cast<redisReply*>(
            redisCommandArgv(context_, static_cast<int>(argv_.size()), argv_.data(), lengths_.data()));
        if (reply == nullptr) throw std::runtime_error(std::string("hiredis HMGET failed: ") + context_->errstr);
        std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != keys.size()) {
            throw std::runtime_error("hiredis HMGET: unexpected reply");
        }
        std::vector<typename Codec::value_type> values;
        values.reserve(keys.size());
        for (std::size_t i = 0; i < reply->elements; ++i) {
            const redisReply* element = reply->element[i];
            if (element->type != REDIS_REPLY_STRING) throw std::runtime_error("hiredis HMGET: a field is missing");
            values.push_back(codec.decode(std::string_view(element->str, element->len)));
        }
        return values;
    }

private:
    redisContext* context_ = nullptr;
    std::vector<const char*> argv_;
    std::vector<std::size_t> lengths_;
};

#if DOGPILE_HAS_TLS
// The least a TLS client can do for a hit: a blocking TCP socket, one OpenSSL
// session (verifying the server against the CA, as the library does), the
// HGET written as RESP by hand, SSL_read into hiredis' reader, the same decode.
// The TLS baseline's client, as HiredisConnection is the plaintext one.
class MinimalTlsConnection {
public:
    explicit MinimalTlsConnection(const redis::ConnectionOptions& o) : reader_(redisReaderCreate()) {
        if (!o.tls) throw std::logic_error("MinimalTlsConnection: TLS options needed");
        context_ = SSL_CTX_new(TLS_client_method());
        if (context_ == nullptr || SSL_CTX_load_verify_locations(context_, o.tls->ca_file.c_str(), nullptr) != 1) {
            fail("CA file " + o.tls->ca_file);
        }
        SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(o.port));
        if (fd_ < 0 || ::inet_pton(AF_INET, o.host.c_str(), &address.sin_addr) != 1 ||
            ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
            fail("connect to " + o.describe());
        }
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // as the library's connections
        ssl_ = SSL_new(context_);
        if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1 || SSL_connect(ssl_) != 1) fail("TLS handshake");
    }
    MinimalTlsConnection(const MinimalTlsConnection&) = delete;
    MinimalTlsConnection& operator=(const MinimalTlsConnection&) = delete;
    ~MinimalTlsConnection() {
        if (ssl_ != nullptr) SSL_free(ssl_);
        if (fd_ >= 0) ::close(fd_);
        if (context_ != nullptr) SSL_CTX_free(context_);
        redisReaderFree(reader_);
    }

    template <class Codec>
    typename Codec::value_type hget(const redis::HashKey& key, const Codec& codec) {
        request_.assign("*3\r\n$4\r\nHGET\r\n");
        append_bulk(key.hash);
        append_bulk(key.field);
        if (SSL_write(ssl_, request_.data(), static_cast<int>(request_.size())) != static_cast<int>(request_.size())) {
            fail("SSL_write");
        }
        void* raw = nullptr;
        while (redisReaderGetReply(reader_, &raw) == REDIS_OK && raw == nullptr) {
            const int got = SSL_read(ssl_, buffer_, sizeof(buffer_));
            if (got <= 0) fail("SSL_read");
            redisReaderFeed(reader_, buffer_, static_cast<std::size_t>(got));
        }
        if (raw == nullptr) throw std::runtime_error("minimal TLS client: protocol error");
        std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw), freeReplyObject);
        if (reply->type != REDIS_REPLY_STRING) throw std::runtime_error("minimal TLS client HGET: no value");
        return codec.decode(std::string_view(reply->str, reply->len));
    }

private:
    void append_bulk(const std::string& s) {
        request_ += '$';
        request_ += std::to_string(s.size());
        request_ += "\r\n";
        request_ += s;
        request_ += "\r\n";
    }
    [[noreturn]] void fail(const std::string& what) {
        char reason[256] = "";
        ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
        throw std::runtime_error("minimal TLS client: " + what + " failed: " + reason);
    }

    SSL_CTX* context_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    redisReader* reader_;
    std::string request_;
    char buffer_[16 * 1024];
};
#endif

// The value types the hash store is measured with, and how to build them.
struct FlagsValues {
    using value_type = Flags;
    using codec_type = FlagsCodec;
    static codec_type codec() { return codec_type{permission_template()}; }
    static Flags make(std::uint64_t a, std::uint64_t b) { return make_flags(pair_seed(a, b)); }
};

struct FlagSetValues {
    using value_type = FlagSet;
    using codec_type = FlagSetCodec;
    static codec_type codec() { return codec_type{permission_flag_template()}; }
    static FlagSet make(std::uint64_t a, std::uint64_t b) { return make_flag_set(pair_seed(a, b)); }
};

// One transport's store: a region over a hash holding field_count entries,
// and `Baseline`, the hand-written client on the same kind of connection.
template <class Values, class Baseline = HiredisConnection>
struct Store {
    using V = typename Values::value_type;
    using Codec = typename Values::codec_type;

    explicit Store(const redis::ConnectionOptions& where) : baseline(where) {
        redis::PoolOptions pool;
        pool.connection = where;
        RedisHashBackendOptions options;
        options.client = redis::make_client(pool);
        options.ttl = std::chrono::hours(1);
        backend = std::make_shared<RedisHashBackend<V, Codec>>(options, codec);
        region.configure(backend);
        const HashKeyScheme scheme(std::is_same_v<V, Flags> ? "calculated-a|" : "calculated-flag-set-a|");
        std::vector<std::pair<redis::HashKey, V>> items;
        for (std::size_t b = 1; b <= field_count; ++b) {
            keys.push_back(scheme.key(id_a, b));
            items.emplace_back(keys.back(), Values::make(id_a, b));
        }
        region.set_multi(items);
    }

    // The four ways of reading, shared by the benchmarks below; `i` picks the field.
    void region_hit(std::size_t i) {
        V value = region.get_or_create(keys[i % field_count], never_called);
        benchmark::DoNotOptimize(value);
    }
    void hiredis_hit(std::size_t i) {
        V value = baseline.hget(keys[i % field_count], codec);
        benchmark::DoNotOptimize(value);
    }
    void read_all_multi() {
        std::vector<V> values = region.get_or_create_multi(keys, never_called_multi);
        benchmark::DoNotOptimize(values);
    }
    void read_all_hmget() {
        std::vector<V> values = baseline.hmget(keys, codec);
        benchmark::DoNotOptimize(values);
    }
    void read_all_sequential() {
        for (std::size_t i = 0; i < field_count; ++i) region_hit(i);
    }

    // Reads that must all be hits: a miss or an error means the benchmark
    // measured the wrong thing.
    template <class Body>
    void checked(benchmark::State& state, Body body) {
        const RegionStats before = region.stats();
        body();
        const RegionStats after = region.stats();
        if (after.misses != before.misses || after.backend_errors != before.backend_errors) {
            state.SkipWithError("a hit benchmark saw a miss or a backend error");
        }
    }

    Codec codec = Values::codec();
    std::shared_ptr<RedisHashBackend<V, Codec>> backend;
    Region<V, redis::HashKey> region;
    std::vector<redis::HashKey> keys;
    Baseline baseline;

private:
    // Creators for reads that must hit; a call shows up as a miss.
    static V never_called() { return {}; }
    static std::vector<V> never_called_multi(const std::vector<redis::HashKey>& missing) {
        return std::vector<V>(missing.size());
    }
};

// Real time: a round trip is mostly spent waiting, which CPU time leaves out.
// `read(store, i)` is one iteration of `items` entries.
template <class Store, class Read>
void add_single(const std::string& name, const std::shared_ptr<Store>& store, std::size_t items, Read read) {
    benchmark::RegisterBenchmark(name.c_str(), [store, items, read](benchmark::State& state) {
        store->checked(state, [&] {
            std::size_t i = 0;
            for (auto _ : state) read(*store, i++);
        });
        state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
    })->UseRealTime();
}

// A baseline and a subject in alternating blocks (support/compare.hpp).
// Every read is a `void(Store&, std::size_t)`; the first is the baseline.
template <class Store, class... Reads>
void add_comparison(const std::string& name, const std::shared_ptr<Store>& store, std::size_t items,
                    std::pair<const char*, Reads>... reads) {
    auto block = [store](auto read) {
        return [store, read](std::size_t /*thread*/, std::size_t ops) {
            for (std::size_t i = 0; i < ops; ++i) read(*store, i);
        };
    };
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
        store->checked(state, [&] {
            // One call per block: a call is a round trip, long enough to time on
            // its own, and alternating call by call pairs them as closely as possible.
            Comparison comparison(1, {{reads.first, items, block(reads.second)}...}, std::chrono::microseconds(0));
            for (auto _ : state) state.SetIterationTime(comparison.round());
            comparison.report(state);
        });
    })->UseManualTime();
}

void register_transport(const std::string& transport, const redis::ConnectionOptions& where) {
    using Store = bench::Store<FlagsValues>;
    auto store = std::make_shared<Store>(where);
    const auto region_hit = [](Store& s, std::size_t i) { s.region_hit(i); };
    const auto hiredis_hit = [](Store& s, std::size_t i) { s.hiredis_hit(i); };
    const auto multi = [](Store& s, std::size_t) { s.read_all_multi(); };
    const auto sequential = [](Store& s, std::size_t) { s.read_all_sequential(); };

    add_single("BM_RedisHit_Region/" + transport, store, 1, region_hit);
    add_single("BM_RedisHit_Hiredis/" + transport, store, 1, hiredis_hit);
    add_single("BM_RedisMulti100_Multi/" + transport, store, field_count, multi);
    add_single("BM_RedisMulti100_Sequential/" + transport, store, field_count, sequential);
    add_comparison("BM_Compare_RedisHit/" + transport, store, 1, std::pair("hiredis", hiredis_hit),
                   std::pair("region", region_hit));
    add_comparison("BM_Compare_RedisMulti100/" + transport, store, field_count, std::pair("sequential", sequential),
                   std::pair("multi", multi));

    using FlagSetStore = bench::Store<FlagSetValues>;
    auto flag_sets = std::make_shared<FlagSetStore>(where);
    add_comparison("BM_Compare_RedisMulti100/flag_set/" + transport, flag_sets, field_count,
                   std::pair("sequential", [](FlagSetStore& s, std::size_t) { s.read_all_sequential(); }),
                   std::pair("multi", [](FlagSetStore& s, std::size_t) { s.read_all_multi(); }),
                   std::pair("hmget", [](FlagSetStore& s, std::size_t) { s.read_all_hmget(); }));
}

#if DOGPILE_HAS_TLS
// The TLS store and the plain-TCP one, so one comparison alternates them.
struct TlsAndTcp {
    using TlsStore = Store<FlagsValues, MinimalTlsConnection>;
    using TcpStore = Store<FlagsValues>;
    TlsAndTcp(const redis::ConnectionOptions& tls_where, const redis::ConnectionOptions& tcp_where)
        : tls(tls_where), tcp(tcp_where) {}

    template <class Body>
    void checked(benchmark::State& state, Body body) {
        tls.checked(state, [&] { tcp.checked(state, body); });
    }

    TlsStore tls;
    TcpStore tcp;
};

void register_tls(const redis::ConnectionOptions& tls_where, const redis::ConnectionOptions& tcp_where) {
    auto stores = std::make_shared<TlsAndTcp>(tls_where, tcp_where);
    // Not add_comparison: region_vs_tcp_region is reported besides the ratios to the baseline.
    benchmark::RegisterBenchmark("BM_Compare_RedisHit/tls", [stores](benchmark::State& state) {
        stores->checked(state, [&] {
            TlsAndTcp& s = *stores;
            Comparison comparison(1,
                                  {{"openssl", 1,
                                    [&](std::size_t, std::size_t ops) {
                                        for (std::size_t i = 0; i < ops; ++i) s.tls.hiredis_hit(i);
                                    }},
                                   {"region", 1,
                                    [&](std::size_t, std::size_t ops) {
                                        for (std::size_t i = 0; i < ops; ++i) s.tls.region_hit(i);
                                    }},
                                   {"tcp_region", 1,
                                    [&](std::size_t, std::size_t ops) {
                                        for (std::size_t i = 0; i < ops; ++i) s.tcp.region_hit(i);
                                    }}},
                                  std::chrono::microseconds(0));
            for (auto _ : state) state.SetIterationTime(comparison.round());
            comparison.report(state);
            comparison.report_ratio(state, 1, 2);
        });
    })->UseManualTime();
}
#endif

}  // namespace

void register_redis_benchmarks(const RedisServer& server, const RedisServer* tls_server) {
    register_transport("unix", server.unix_options());
    register_transport("tcp", server.options());
#if DOGPILE_HAS_TLS
    if (tls_server != nullptr) register_tls(tls_server->options(), server.options());
#else
    (void)tls_server;
#endif
}

}  // namespace dogpile::bench
