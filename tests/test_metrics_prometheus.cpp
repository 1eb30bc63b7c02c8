// The Prometheus text export (docs/metrics.md): the exact text of a small
// hand-made case, what the writer refuses, and a region over the Redis hash
// store on a real redis-server, its client's breaker opened, scraped and read
// back by Debian's prometheus_client parser (python3-prometheus-client).

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dogpile/backends/memory.hpp"
#include "dogpile/backends/metrics_proxy.hpp"
#include "dogpile/backends/prometheus.hpp"
#include "dogpile/backends/redis/hash.hpp"
#include "dogpile/backends/redis/hash_key.hpp"
#include "dogpile/backends/redis/prometheus.hpp"
#include "dogpile/codec/msgpack.hpp"
#include "dogpile/metrics/prometheus.hpp"
#include "dogpile/metrics/prometheus_text.hpp"
#include "dogpile/redis/prometheus.hpp"
#include "dogpile/region.hpp"
#include "support/child_process.hpp"
#include "support/near_cache_stack.hpp"
#include "support/message_of.hpp"
#include "support/redis_server.hpp"

namespace {

using dogpile::metrics::HistogramBucket;
using dogpile::metrics::PrometheusText;
using dogpile::test::ChildProcess;
using dogpile::test::RedisServer;
using namespace std::chrono_literals;

constexpr double infinity = std::numeric_limits<double>::infinity();

// --- the exact text ------------------------------------------------------------------------------

TEST(PrometheusText, WritesTheExactTextOfASmallCase) {
    PrometheusText out;
    out.counter("demo_requests_total", "Requests.\nSecond line, a \\ backslash.", {{"region", "a\"b\\c\nd"}}, 3);
    out.gauge("demo_temperature_celsius", "A gauge.", {}, 21.5);
    out.histogram("demo_duration_seconds", "Durations.", {{"op", "get"}},
                  {HistogramBucket{0.001, 2}, HistogramBucket{0.5, 0}, HistogramBucket{2, 3}}, 4.25);
    // A second series of the first family, added after other families: it
    // joins its family's group, under the one HELP and TYPE.
    out.counter("demo_requests_total", "ignored: the first HELP stays", {{"region", "plain"}}, 18446744073709551615u);

    EXPECT_EQ(out.str(), "# HELP demo_requests_total Requests.\\nSecond line, a \\\\ backslash.\n"
                         "# TYPE demo_requests_total counter\n"
                         "demo_requests_total{region=\"a\\\"b\\\\c\\nd\"} 3\n"
                         "demo_requests_total{region=\"plain\"} 18446744073709551615\n"
                         "# HELP demo_temperature_celsius A gauge.\n"
                         "# TYPE demo_temperature_celsius gauge\n"
                         "demo_temperature_celsius 21.5\n"
                         "# HELP demo_duration_seconds Durations.\n"
                         "# TYPE demo_duration_seconds histogram\n"
                         "demo_duration_seconds_bucket{op=\"get\",le=\"0.001\"} 2\n"
                         "demo_duration_seconds_bucket{op=\"get\",le=\"0.5\"} 2\n"
                         "demo_duration_seconds_bucket{op=\"get\",le=\"2\"} 5\n"
                         "demo_duration_seconds_bucket{op=\"get\",le=\"+Inf\"} 5\n"
                         "demo_duration_seconds_sum{op=\"get\"} 4.25\n"
                         "demo_duration_seconds_count{op=\"get\"} 5\n");
}

TEST(PrometheusText, AnOverflowBucketIsTheInfBucket) {
    PrometheusText out;
    out.histogram("h_seconds", "h", {}, {HistogramBucket{1, 1}, HistogramBucket{infinity, 4}}, 9);
    EXPECT_EQ(out.str(), "# HELP h_seconds h\n# TYPE h_seconds histogram\n"
                         "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 5\n"
                         "h_seconds_sum 9\nh_seconds_count 5\n");
}

TEST(PrometheusText, RefusesWhatAPrometheusServerWouldReject) {
    PrometheusText out;
    out.counter("ok_total", "ok", {{"region", "a"}}, 1);
    const auto refuses = [](auto&& add, const std::string& why) {
        try {
            add();
            ADD_FAILURE() << "accepted: " << why;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    refuses([&] { out.counter("ok_total", "ok", {{"region", "a"}}, 2); }, "added twice");
    refuses([&] { out.gauge("ok_total", "ok", {{"region", "b"}}, 2); }, "already a counter");
    refuses([&] { out.counter("requests", "no suffix", {}, 1); }, "must end in _total");
    refuses([&] { out.gauge("1st", "bad name", {}, 1); }, "invalid metric name");
    refuses([&] { out.gauge("g", "bad label", {{"region-name", "x"}}, 1); }, "invalid label name");
    refuses([&] { out.gauge("g", "reserved", {{"__name", "x"}}, 1); }, "invalid label name");
    refuses([&] { out.histogram("h", "le is the writer's", {{"le", "1"}}, {}, 0); }, "invalid label name");
    refuses(
        [&] {
            out.histogram("h2", "bounds", {}, {HistogramBucket{2, 1}, HistogramBucket{1, 1}}, 0);
        },
        "must increase");
}

TEST(PrometheusText, FormatsValuesAsTheFormatSpellsThem) {
    EXPECT_EQ(PrometheusText::format_value(1e-06), "1e-06");
    EXPECT_EQ(PrometheusText::format_value(67.108864), "67.108864");
    EXPECT_EQ(PrometheusText::format_value(infinity), "+Inf");
    EXPECT_EQ(PrometheusText::format_value(-infinity), "-Inf");
    EXPECT_EQ(PrometheusText::format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(PrometheusText::format_value(std::uint64_t{9007199254740993u}), "9007199254740993");
}

// Several regions: each family once, its series together, whatever the order of the calls.
TEST(RegionMetrics, OneHeaderPerFamilyAcrossRegions) {
    dogpile::RegionStats users;
    users.hits = 5;
    users.misses = 2;
    dogpile::RegionStats flags;
    flags.hits = 7;
    const std::string text = dogpile::metrics::prometheus_text({{"users", users}, {"flags", flags}});
    const std::string hits = "# HELP dogpile_region_hits_total Fresh values returned without locking.\n"
                             "# TYPE dogpile_region_hits_total counter\n"
                             "dogpile_region_hits_total{region=\"users\"} 5\n"
                             "dogpile_region_hits_total{region=\"flags\"} 7\n"
                             "# HELP dogpile_region_misses_total";
    EXPECT_EQ(text.rfind(hits, 0), 0u) << text;
    EXPECT_NE(text.find("dogpile_region_misses_total{region=\"users\"} 2\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("# TYPE dogpile_region_hits_total"), text.rfind("# TYPE dogpile_region_hits_total"));
    EXPECT_THROW(dogpile::metrics::prometheus_text({{"users", users}, {"users", flags}}), std::invalid_argument);
}

// MetricsProxy's buckets are per bucket; the export's are cumulative up to +Inf.
TEST(BackendMetrics, LatencyBucketsAreCumulativeInSeconds) {
    dogpile::BackendMetrics m;
    auto& get = m.operations[static_cast<std::size_t>(dogpile::BackendOperation::get)];
    get.calls = 4;
    get.latency.counts[0] = 1;                                            // under 1 µs
    get.latency.counts[3] = 2;                                            // [4, 8) µs
    get.latency.counts[dogpile::LatencyHistogram::bucket_count - 1] = 1;  // over 67 s
    get.total_latency = 70s;
    PrometheusText out;
    dogpile::metrics::append_backend_metrics(out, "mem", m);
    const std::string text = out.str();
    const std::string series = "dogpile_backend_operation_duration_seconds_bucket{backend=\"mem\",operation=\"get\",";
    EXPECT_NE(text.find(series + "le=\"1e-06\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find(series + "le=\"4e-06\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find(series + "le=\"8e-06\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find(series + "le=\"67.108864\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find(series + "le=\"+Inf\"} 4\n"), std::string::npos) << text;
    EXPECT_NE(text.find("dogpile_backend_operation_duration_seconds_sum{backend=\"mem\",operation=\"get\"} 70\n"),
              std::string::npos);
    EXPECT_NE(text.find("dogpile_backend_operation_duration_seconds_count{backend=\"mem\",operation=\"get\"} 4\n"),
              std::string::npos);
}

// --- Debian's parser -----------------------------------------------------------------------------

constexpr const char* python = "/usr/bin/python3";
constexpr const char* install_hint =
    "the Prometheus text parser is missing: apt-get install python3 python3-prometheus-client "
    "(bash scripts/setup.sh installs it)";

// Reads argv[1] with prometheus_client's parser and writes one line per
// family ("family NAME TYPE HELP") and per sample ("sample NAME{k='v',...} VALUE",
// labels sorted, values as Python's repr) to argv[2].
constexpr const char* parse_script = R"PY(
import sys, traceback
out = open(sys.argv[2], 'w')
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:
    out.write('import-error %s\n' % e)
    sys.exit(3)
try:
    for f in text_string_to_metric_families(open(sys.argv[1]).read()):
        out.write('family %s %s %s\n' % (f.name, f.type, f.documentation))
        for s in f.samples:
            labels = ','.join('%s=%r' % kv for kv in sorted(s.labels.items()))
            out.write('sample %s{%s} %r\n' % (s.name, labels, s.value))
except Exception:
    out.write('parse-error ' + traceback.format_exc())
    sys.exit(2)
)PY";

std::string read_all(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Parsed {
    bool ok = false;     // the parser ran and read the whole text
    std::string output;  // its dump, or why it failed
};

// What prometheus_client's parser makes of `text`.
Parsed run_parser(const std::string& text) {
    if (::access(python, X_OK) != 0) return {false, std::string(python) + " is missing; " + install_hint};
    const std::filesystem::path dir = std::filesystem::temp_directory_path();
    const std::string stem = "dogpile-metrics-" + std::to_string(::getpid()) + "-" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const auto input = dir / (stem + ".prom");
    const auto output = dir / (stem + ".parsed");
    std::ofstream(input) << text;
    ChildProcess parser({python, "-c", parse_script, input.string(), output.string()});
    const std::optional<int> status = parser.wait(60s);
    Parsed result{false, read_all(output)};
    std::filesystem::remove(input);
    std::filesystem::remove(output);
    if (!status) {
        result.output = "the parser did not finish within 60 s";
    } else if (result.output.rfind("import-error", 0) == 0) {
        result.output += install_hint;
    } else if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        result.output = "the parser failed (" + dogpile::test::describe_wait_status(*status) + "):\n" + result.output +
                        "\non this text:\n" + text;
    } else {
        result.ok = true;
    }
    return result;
}

// The parser's dump of `text`, each line starting with a newline so that
// "\nfamily NAME " matches whole lines. Fails the test (never skips) when
// the parser is missing or cannot read the text.
std::string parse_with_prometheus_client(const std::string& text) {
    Parsed parsed = run_parser(text);
    if (!parsed.ok) ADD_FAILURE() << parsed.output;
    return "\n" + parsed.output;
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
}

// The parser test can fail: the same label value written without escaping
// its quote does not read back.
TEST(PrometheusParser, SeesAnUnescapedLabelValue) {
    const std::string escaped = parse_with_prometheus_client("# TYPE x_total counter\nx_total{a=\"q\\\"\"} 1\n");
    EXPECT_NE(escaped.find("\nsample x_total{a='q\"'} 1.0\n"), std::string::npos) << escaped;
    const Parsed unescaped = run_parser("# TYPE x_total counter\nx_total{a=\"q\"\"} 1\n");
    EXPECT_EQ(unescaped.output.find("sample x_total{a='q\"'} 1.0\n"), std::string::npos) << unescaped.output;
}

// --- end to end ----------------------------------------------------------------------------------

using HashRegion = dogpile::Region<std::string, dogpile::HashKey>;
using StringHashBackend = dogpile::RedisHashBackend<std::string>;
using KeyedMetricsProxy = dogpile::MetricsProxy<std::string, dogpile::HashKey>;

// A client whose breaker opens after 3 failed calls and stays open (1 h probe interval).
std::shared_ptr<dogpile::redis::Client> breaking_client(const RedisServer& server) {
    dogpile::redis::PoolOptions o;
    o.connection = server.options();
    o.connection.connect_timeout = 500ms;
    o.connection.command_timeout = 500ms;
    o.breaker.failure_threshold = 3;
    o.breaker.probe_interval = 1h;
    return dogpile::redis::make_client(o);
}

TEST(PrometheusEndToEnd, ARegionOverTheHashStoreScrapedAndParsed) {
    RedisServer server;
    auto client = breaking_client(server);
    auto store = std::make_shared<StringHashBackend>(dogpile::RedisHashBackendOptions{client, 1h});
    auto proxy = std::make_shared<KeyedMetricsProxy>();
    HashRegion region(dogpile::wrap(std::shared_ptr<dogpile::Backend<std::string, dogpile::HashKey>>(store), {proxy}));
    const dogpile::HashKeyScheme scheme("metrics-test|");

    const auto make = [] { return std::string("flags"); };
    region.get_or_create(scheme.key(7, 42), make);  // miss, created
    region.get_or_create(scheme.key(7, 42), make);  // hit
    region.get_or_create(scheme.key(7, 43), make);  // miss, created
    // Redis gone: the region degrades (the creator's value, not stored). A
    // miss is 3 backend calls (get, get again under the lock, set): 12
    // backend errors; the first 3 open the breaker, the other 9 fail fast.
    server.stop();
    for (int id = 100; id < 104; ++id) region.get_or_create(scheme.key(8, id), make);
    ASSERT_EQ(client->breaker_stats().state, dogpile::redis::BreakerState::open);

    // A region name that needs every escape the format has.
    const std::string region_name = "perms \"a\\b\"\nv2";
    PrometheusText out;
    dogpile::metrics::append_region(out, region_name, region);
    const HashRegion idle(std::make_shared<dogpile::MemoryBackend<std::string, dogpile::HashKey>>());
    dogpile::metrics::append_region(out, "idle", idle);
    dogpile::metrics::append_backend_metrics(out, "redis-hash", proxy->snapshot());
    dogpile::metrics::append_redis_store(out, "redis-hash", store->stats());
    dogpile::metrics::append_redis_client(out, "main", *client);
    const std::string text = out.str();
    const std::string parsed = parse_with_prometheus_client(text);
    ASSERT_FALSE(HasFailure()) << "the parser did not read the scrape";

    // Every family once (its lines are one group), typed, counters named
    // without _total by the parser (OpenMetrics' family name).
    for (const char* family :
         {"dogpile_region_hits counter Fresh values returned without locking.", "dogpile_region_misses counter",
          "dogpile_region_creations counter", "dogpile_region_backend_errors counter",
          "dogpile_backend_operation_duration_seconds histogram", "dogpile_backend_operation_errors counter",
          "dogpile_backend_hits counter", "dogpile_redis_store_decode_errors counter",
          "dogpile_redis_round_trips counter", "dogpile_redis_breaker_state gauge",
          "dogpile_redis_breaker_opened counter", "dogpile_redis_breaker_rejected counter",
          "dogpile_redis_pool_connections gauge"}) {
        EXPECT_EQ(count_of(parsed, std::string("\nfamily ") + family), 1u) << family << "\n" << parsed;
    }
    EXPECT_EQ(count_of(parsed, " untyped "), 0u) << parsed;

    // The escaped name reads back as it was.
    const std::string label = "region='perms \"a\\\\b\"\\nv2'";
    EXPECT_NE(parsed.find("\nsample dogpile_region_hits_total{" + label + "} 1.0\n"), std::string::npos) << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_region_misses_total{" + label + "} 6.0\n"), std::string::npos) << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_region_creations_total{" + label + "} 6.0\n"), std::string::npos) << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_region_backend_errors_total{" + label + "} 12.0\n"), std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_region_hits_total{region='idle'} 0.0\n"), std::string::npos) << parsed;

    // The breaker: open, opened once, 9 calls rejected.
    EXPECT_NE(parsed.find("\nsample dogpile_redis_breaker_state{client='main',state='open'} 1.0\n"), std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_redis_breaker_state{client='main',state='closed'} 0.0\n"),
              std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_redis_breaker_opened_total{client='main'} 1.0\n"), std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_redis_breaker_rejected_total{client='main'} 9.0\n"), std::string::npos)
        << parsed;

    // The proxy saw every get: 1 per hit, 2 per miss (13), the 8 of the last 4 misses threw;
    // the histogram's count is the calls, and so is its +Inf bucket.
    const std::string get = "backend='redis-hash',operation='get'";
    EXPECT_NE(parsed.find("\nsample dogpile_backend_operation_duration_seconds_count{" + get + "} 13.0\n"),
              std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_backend_operation_duration_seconds_bucket{backend='redis-hash',le='+Inf',"
                          "operation='get'} 13.0\n"),
              std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_backend_operation_errors_total{" + get + "} 8.0\n"), std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_backend_hits_total{backend='redis-hash'} 1.0\n"), std::string::npos)
        << parsed;
}

// The near cache over the hash store and its invalidation listener.
TEST(PrometheusEndToEnd, ANearCacheAndItsListenerScrapedAndParsed) {
    dogpile::redis::TrackingOptions tracking;
    tracking.connection = RedisServer::shared().options();
    const dogpile::test::NearCacheStack stack = dogpile::test::make_near_cache_stack(tracking, 2);
    ASSERT_TRUE(stack.listener->wait_until_tracking(10s)) << stack.listener->last_error();
    HashRegion region(stack.cache);
    const dogpile::HashKeyScheme scheme("metrics-near|" + std::to_string(::getpid()) + "|");
    const auto make = [] { return std::string("flags"); };
    // Whether the second read is served from memory depends on when the
    // invalidation of the first one's write arrives: the test compares the
    // export with the statistics it was made from.
    region.get_or_create(scheme.key(1, 2), make);
    region.get_or_create(scheme.key(1, 2), make);
    const dogpile::NearCacheStats near = stack.cache->stats();
    ASSERT_GE(near.misses, 1u);

    PrometheusText out;
    dogpile::metrics::append_near_cache(out, "near", near);
    dogpile::metrics::append_tracking(out, "listener", *stack.listener);
    const std::string parsed = parse_with_prometheus_client(out.str());
    ASSERT_FALSE(HasFailure()) << "the parser did not read the scrape";
    for (const char* family :
         {"dogpile_near_cache_hits counter", "dogpile_near_cache_stored counter", "dogpile_redis_tracking_active gauge",
          "dogpile_redis_tracking_sessions counter", "dogpile_redis_tracking_failures counter"}) {
        EXPECT_EQ(count_of(parsed, std::string("\nfamily ") + family), 1u) << family << "\n" << parsed;
    }
    for (const auto& [name, value] : {std::pair{"hits", near.hits}, std::pair{"misses", near.misses},
                                      std::pair{"stored", near.stored}, std::pair{"raced", near.raced}}) {
        const std::string sample = std::string("\nsample dogpile_near_cache_") + name + "_total{backend='near'} " +
                                   std::to_string(value) + ".0\n";
        EXPECT_NE(parsed.find(sample), std::string::npos) << sample << parsed;
    }
    EXPECT_NE(parsed.find("\nsample dogpile_redis_tracking_active{listener='listener'} 1.0\n"), std::string::npos)
        << parsed;
    EXPECT_NE(parsed.find("\nsample dogpile_redis_tracking_sessions_total{listener='listener'} 1.0\n"),
              std::string::npos)
        << parsed;
}

}  // namespace
