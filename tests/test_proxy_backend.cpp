// Proxy backends (dogpile/backends/proxy.hpp, metrics_proxy.hpp): every call
// is forwarded, chains run in dogpile.cache's wrap=[...] order, the innermost
// backend is reachable, the metrics proxy counts exactly under threads, and a
// proxied MemoryBackend still satisfies the Backend contract.

#include <dogpile/testing/backend_suite.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/metrics_proxy.hpp>
#include <dogpile/backends/null.hpp>
#include <dogpile/backends/proxy.hpp>
#include <dogpile/region.hpp>

namespace {

using dogpile::Backend;
using dogpile::BackendOperation;
using dogpile::CachedValue;
using dogpile::LockRequirement;
using dogpile::Metadata;
using dogpile::MetricsProxy;
using dogpile::ProxyBackend;
using dogpile::Region;
using Entry = CachedValue<std::string>;

Entry entry_of(std::string value) { return Entry{std::move(value), Metadata::created_now(dogpile::precise_now())}; }

class TaggedMutex final : public dogpile::Mutex {
public:
    explicit TaggedMutex(std::string key) : key(std::move(key)) {}
    bool try_lock() override { return true; }
    bool lock(std::optional<std::chrono::milliseconds>) override { return true; }
    void unlock() override {}
    std::string key;
};

// Records which of its own methods ran (the overload included), so a test
// sees that a proxy forwarded a call rather than emulating it.
class CallLog final : public Backend<std::string> {
public:
    std::optional<Entry> get(const std::string& key) override {
        note("get " + key);
        return std::nullopt;
    }
    void set(const std::string& key, const Entry&) override { note("set& " + key); }
    void set(const std::string& key, Entry&&) override { note("set&& " + key); }
    void erase(const std::string& key) override { note("erase " + key); }
    std::vector<std::optional<Entry>> get_multi(const std::vector<std::string>& keys) override {
        note("get_multi " + std::to_string(keys.size()));
        return std::vector<std::optional<Entry>>(keys.size());
    }
    void set_multi(const std::vector<std::pair<std::string, Entry>>& entries) override {
        note("set_multi " + std::to_string(entries.size()));
    }
    void erase_multi(const std::vector<std::string>& keys) override {
        note("erase_multi " + std::to_string(keys.size()));
    }
    std::unique_ptr<dogpile::Mutex> get_mutex(const std::string& key) override {
        note("get_mutex " + key);
        return std::make_unique<TaggedMutex>(key);
    }
    LockRequirement lock_requirement() const override { return LockRequirement::none; }

    std::vector<std::string> calls() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return calls_;
    }

private:
    void note(std::string call) {
        std::lock_guard<std::mutex> lk(mutex_);
        calls_.push_back(std::move(call));
    }
    mutable std::mutex mutex_;
    std::vector<std::string> calls_;
};

TEST(ProxyBackend, ForwardsEveryCallToTheWrappedBackend) {
    auto inner = std::make_shared<CallLog>();
    auto proxy = std::make_shared<ProxyBackend<std::string>>(inner);
    Backend<std::string>& b = *proxy;

    EXPECT_EQ(b.get("k"), std::nullopt);
    const Entry e = entry_of("v");
    b.set("k", e);
    b.set("k", entry_of("v"));
    b.erase("k");
    EXPECT_EQ(b.get_multi({"a", "b"}).size(), 2u);
    b.set_multi({{"a", e}, {"b", e}, {"c", e}});
    b.erase_multi({"a"});
    auto mutex = b.get_mutex("m");
    ASSERT_NE(mutex, nullptr);
    EXPECT_EQ(dynamic_cast<TaggedMutex&>(*mutex).key, "m");

    EXPECT_EQ(inner->calls(), (std::vector<std::string>{"get k", "set& k", "set&& k", "erase k", "get_multi 2",
                                                        "set_multi 3", "erase_multi 1", "get_mutex m"}));
    EXPECT_EQ(b.lock_requirement(), LockRequirement::none) << "capabilities are forwarded too";
    EXPECT_EQ(&b.actual_backend(), inner.get());
    EXPECT_EQ(&proxy->proxied(), inner.get());
}

TEST(ProxyBackend, RefusesBadWiring) {
    ProxyBackend<std::string> unwrapped;
    EXPECT_FALSE(unwrapped.is_wrapping());
    EXPECT_THROW(unwrapped.get("k"), dogpile::ConfigurationError);
    EXPECT_THROW(unwrapped.wrap(nullptr), dogpile::ConfigurationError);

    auto proxy = std::make_shared<ProxyBackend<std::string>>(std::make_shared<CallLog>());
    EXPECT_THROW(proxy->wrap(std::make_shared<CallLog>()), dogpile::ConfigurationError) << "one chain per proxy";
    EXPECT_THROW(dogpile::wrap(std::shared_ptr<CallLog>(), {}), dogpile::ConfigurationError);
}

// Appends its name to a shared trace on get, then forwards.
class Tracing final : public ProxyBackend<std::string> {
public:
    Tracing(std::string name, std::vector<std::string>& trace) : name_(std::move(name)), trace_(trace) {}
    std::optional<Entry> get(const std::string& key) override {
        trace_.push_back(name_);
        return ProxyBackend::get(key);
    }

private:
    std::string name_;
    std::vector<std::string>& trace_;
};

TEST(ProxyBackend, ChainRunsFirstProxyFirstAsDogpileCacheWrap) {
    std::vector<std::string> trace;
    auto inner = std::make_shared<CallLog>();
    auto a = std::make_shared<Tracing>("a", trace);
    auto b = std::make_shared<Tracing>("b", trace);
    auto chain = dogpile::wrap(inner, {a, b});
    EXPECT_EQ(chain.get(), a.get()) << "the first proxy is the outermost";

    Region<std::string> region(chain);
    region.get("k");
    EXPECT_EQ(trace, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(&region.actual_backend(), inner.get());
    EXPECT_EQ(&a->actual_backend(), inner.get());

    // Region::wrap (dogpile.cache's region.wrap) puts the new proxy outside.
    trace.clear();
    auto c = std::make_shared<Tracing>("c", trace);
    region.wrap(c);
    region.get("k");
    EXPECT_EQ(trace, (std::vector<std::string>{"c", "a", "b"}));
    EXPECT_EQ(&region.backend(), c.get());
    EXPECT_EQ(&region.actual_backend(), inner.get());
    EXPECT_EQ(inner->calls(), (std::vector<std::string>{"get k", "get k"}));

    EXPECT_EQ(dogpile::wrap(inner, {}).get(), inner.get()) << "an empty chain is the backend itself";
}

class Failing final : public Backend<std::string> {
public:
    std::optional<Entry> get(const std::string&) override { throw dogpile::BackendError("down"); }
    void set(const std::string&, const Entry&) override { throw dogpile::BackendError("down"); }
    void erase(const std::string&) override {}
};

TEST(MetricsProxy, CountsCallsErrorsAndLatencyPerOperation) {
    auto metrics = std::make_shared<MetricsProxy<std::string>>(std::make_shared<Failing>());
    EXPECT_THROW(metrics->get("k"), dogpile::BackendError);
    EXPECT_THROW(metrics->set("k", entry_of("v")), dogpile::BackendError) << "errors propagate unchanged";
    metrics->erase("k");
    metrics->erase("k");

    const dogpile::BackendMetrics m = metrics->snapshot();
    EXPECT_EQ(m[BackendOperation::get].calls, 1u);
    EXPECT_EQ(m[BackendOperation::get].errors, 1u);
    EXPECT_EQ(m[BackendOperation::set].calls, 1u);
    EXPECT_EQ(m[BackendOperation::set].errors, 1u);
    EXPECT_EQ(m[BackendOperation::erase].calls, 2u);
    EXPECT_EQ(m[BackendOperation::erase].errors, 0u);
    EXPECT_EQ(m[BackendOperation::erase].latency.total(), 2u);
    EXPECT_EQ(m[BackendOperation::get_multi].calls, 0u);
    EXPECT_EQ(m.hits + m.misses, 0u) << "a get that threw found nothing and missed nothing";

    metrics->reset();
    EXPECT_EQ(metrics->snapshot()[BackendOperation::erase].calls, 0u);
    EXPECT_EQ(metrics->snapshot()[BackendOperation::erase].latency.total(), 0u);
}

TEST(MetricsProxy, HistogramBucketsAreLogSpacedMicroseconds) {
    using dogpile::LatencyHistogram;
    using std::chrono::microseconds;
    using std::chrono::nanoseconds;
    EXPECT_EQ(LatencyHistogram::bucket_for(nanoseconds(0)), 0u);
    EXPECT_EQ(LatencyHistogram::bucket_for(nanoseconds(999)), 0u);
    EXPECT_EQ(LatencyHistogram::bucket_for(microseconds(1)), 1u);
    EXPECT_EQ(LatencyHistogram::bucket_for(nanoseconds(1999)), 1u);
    EXPECT_EQ(LatencyHistogram::bucket_for(microseconds(2)), 2u);
    EXPECT_EQ(LatencyHistogram::bucket_for(microseconds(1000)), 10u);  // [512, 1024) µs
    EXPECT_EQ(LatencyHistogram::bucket_for(std::chrono::hours(1)), LatencyHistogram::bucket_count - 1);
    for (std::size_t i = 0; i + 1 < LatencyHistogram::bucket_count; ++i) {
        const microseconds upper = *LatencyHistogram::upper_bound(i);
        EXPECT_EQ(LatencyHistogram::bucket_for(upper - nanoseconds(1)), i);
        EXPECT_EQ(LatencyHistogram::bucket_for(upper), i + 1);
    }
    EXPECT_EQ(LatencyHistogram::upper_bound(LatencyHistogram::bucket_count - 1), std::nullopt);

    LatencyHistogram h;
    EXPECT_EQ(h.quantile(0.5), std::nullopt);
    h.counts[1] = 90;  // [1, 2) µs
    h.counts[5] = 9;   // [16, 32) µs
    h.counts[8] = 1;   // [128, 256) µs
    EXPECT_EQ(h.quantile(0.5), microseconds(2));
    EXPECT_EQ(h.quantile(0.99), microseconds(32));
    EXPECT_EQ(h.quantile(1.0), microseconds(256));
}

TEST(MetricsProxy, CountsExactlyUnderThreads) {
    auto metrics = std::make_shared<MetricsProxy<std::string>>(std::make_shared<dogpile::MemoryBackend<std::string>>());
    constexpr int kThreads = 4;
    constexpr int kRounds = 2000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kRounds; ++i) {
                const std::string key = std::to_string(t) + ":" + std::to_string(i);
                metrics->get(key);                     // miss
                metrics->set(key, entry_of("v"));      // rvalue set
                metrics->get(key);                     // hit
                metrics->get_multi({key, key + "?"});  // one hit, one miss
            }
        });
    }
    for (auto& t : threads) t.join();
    const dogpile::BackendMetrics m = metrics->snapshot();
    constexpr std::uint64_t n = kThreads * kRounds;
    EXPECT_EQ(m[BackendOperation::get].calls, 2 * n);
    EXPECT_EQ(m[BackendOperation::get].latency.total(), 2 * n);
    EXPECT_EQ(m[BackendOperation::set].calls, n);
    EXPECT_EQ(m[BackendOperation::set].latency.total(), n);
    EXPECT_EQ(m[BackendOperation::get_multi].calls, n);
    EXPECT_EQ(m.hits, 2 * n);
    EXPECT_EQ(m.misses, 2 * n);
    for (const auto& op : m.operations) EXPECT_EQ(op.errors, 0u);
}

TEST(MetricsProxy, SeesWhatARegionAsksOfItsBackend) {
    auto metrics = std::make_shared<MetricsProxy<std::string>>();
    Region<std::string> region(dogpile::wrap(std::make_shared<dogpile::MemoryBackend<std::string>>(), {metrics}));
    int created = 0;
    auto creator = [&] { return std::to_string(++created); };
    EXPECT_EQ(region.get_or_create("k", creator), "1");
    EXPECT_EQ(region.get_or_create("k", creator), "1");
    const dogpile::BackendMetrics m = metrics->snapshot();
    // A miss reads twice (once more under the lock), then stores; the hit reads once.
    EXPECT_EQ(m[BackendOperation::get].calls, 3u);
    EXPECT_EQ(m[BackendOperation::set].calls, 1u);
    EXPECT_EQ(m.hits, 1u);
    EXPECT_EQ(m.misses, 2u);
}

}  // namespace

// The Backend contract through proxies: a plain forwarder and the metrics proxy.
namespace {

template <class Proxy>
struct ProxiedMemory {
    using Value = std::string;
    using Key = std::string;
    static std::string name() { return std::is_same_v<Proxy, MetricsProxy<std::string>> ? "Metrics" : "Plain"; }
    static dogpile::testing::BackendCapabilities capabilities() { return {}; }
    std::shared_ptr<Backend<Value, Key>> make() {
        return dogpile::wrap(std::make_shared<dogpile::MemoryBackend<Value>>(), {std::make_shared<Proxy>()});
    }
    Key key(std::size_t i) { return "key:" + std::to_string(i); }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
};

}  // namespace

DOGPILE_BACKEND_CONFORMANCE(Proxied, ProxiedMemory<ProxyBackend<std::string>>,
                            ProxiedMemory<MetricsProxy<std::string>>);
