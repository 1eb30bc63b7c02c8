// Hit ratio of the memory backend's eviction policies on recorded traces,
// against the two references that bracket them: LRU (what a plain recency
// cache gets) and OPT (Belady's clairvoyant optimum, the limit any policy can
// reach at that capacity).
//
//   hit_ratio --trace NAME FORMAT FILE CAPACITIES [--trace ...] [--synthetic]
//     FORMAT      lirs (one integer per line) or cache2k (big-endian uint32)
//     FILE        a decompressed trace, or - for stdin (bench/hit_ratio.sh
//                 pipes the compressed ones through zcat/xzcat)
//     CAPACITIES  comma separated, in entries: 250,500,1000
//
// --synthetic adds generated workloads (fixed seeds, so the rows are the same
// on every run and platform) that pull the policy both ways: stationary Zipf
// (frequency wins), a hot set that moves on, and keys reused shortly after
// their first access (recency wins), and a hot set under a scan.
//
// Prints one Markdown table (a row per trace and capacity) and, per policy,
// the mean fraction of the LRU->OPT gap it closes, the fraction of the gap's
// points it closes, and its worst distance below LRU. Every access replays through a real MemoryBackend: get(key),
// and set(key, value) on a miss.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <list>
#include <memory>
#include <queue>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <dogpile/backends/memory.hpp>

namespace {

using Trace = std::vector<std::uint64_t>;

struct TraceSpec {
    std::string name;
    std::string format;  // lirs, cache2k, or synthetic (then `generated` holds it)
    std::string path;
    std::vector<std::size_t> capacities;
    Trace generated;
};

// splitmix64: std's distributions differ between standard libraries.
class Random {
public:
    explicit Random(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    std::uint64_t below(std::uint64_t n) { return next() % n; }

private:
    std::uint64_t state_;
};

// Rank 0 is the most popular of `keys`; P(rank r) ~ 1 / (r + 1)^skew.
class Zipf {
public:
    Zipf(std::size_t keys, double skew) : cdf_(keys) {
        double sum = 0;
        for (std::size_t r = 0; r < keys; ++r) cdf_[r] = sum += 1.0 / std::pow(static_cast<double>(r + 1), skew);
        for (double& c : cdf_) c /= sum;
    }
    std::uint64_t operator()(Random& random) const {
        const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), random.unit());
        return static_cast<std::uint64_t>(std::min<std::ptrdiff_t>(it - cdf_.begin(), cdf_.size() - 1));
    }

private:
    std::vector<double> cdf_;
};

constexpr std::size_t synthetic_length = 400000;

Trace zipf_trace(double skew, std::uint64_t seed) {
    Random random(seed);
    const Zipf zipf(100000, skew);
    Trace trace(synthetic_length);
    for (auto& key : trace) key = zipf(random);
    return trace;
}

// A hot set of 600 keys, Zipf 0.6 within it, replaced by fresh keys every
// 20000 requests: the newcomers must get in fast, past the old set's counts.
Trace moving_hot_set_trace(std::uint64_t seed) {
    Random random(seed);
    const Zipf zipf(600, 0.6);
    Trace trace(synthetic_length);
    for (std::size_t n = 0; n < trace.size(); ++n) trace[n] = (n / 20000) * 1000000 + zipf(random);
    return trace;
}

// Every request either brings a new key or reuses one seen recently, the
// older the less likely (about LRU's ideal: a geometric reuse distance).
Trace recency_trace(std::uint64_t seed) {
    Random random(seed);
    Trace trace(synthetic_length);
    std::uint64_t newest = 0;
    for (auto& key : trace) {
        if (random.unit() < 0.3) {
            key = ++newest;
            continue;
        }
        const auto age = static_cast<std::uint64_t>(-std::log(1.0 - random.unit()) * 300.0);
        key = newest > age ? newest - age : 0;
    }
    return trace;
}

// A Zipf 0.9 hot set of 5000 keys under a scan of keys never seen again, one
// request in two.
Trace scan_trace(std::uint64_t seed) {
    Random random(seed);
    const Zipf zipf(5000, 0.9);
    Trace trace(synthetic_length);
    std::uint64_t scanned = 1000000000;
    for (auto& key : trace) key = random.unit() < 0.5 ? zipf(random) : scanned++;
    return trace;
}

std::vector<TraceSpec> synthetic_specs() {
    const std::vector<std::size_t> capacities = {250, 1000, 4000};
    std::vector<TraceSpec> specs;
    specs.push_back({"zipf 0.8", "synthetic", "", capacities, zipf_trace(0.8, 1)});
    specs.push_back({"zipf 1.0", "synthetic", "", capacities, zipf_trace(1.0, 2)});
    specs.push_back({"moving hot set", "synthetic", "", {250, 1000}, moving_hot_set_trace(3)});
    specs.push_back({"recency", "synthetic", "", capacities, recency_trace(4)});
    specs.push_back({"scan + hot set", "synthetic", "", capacities, scan_trace(5)});
    return specs;
}

Trace read_lirs(std::istream& in) {
    Trace trace;
    std::string line;
    while (std::getline(in, line)) {
        // Some LIRS traces carry markers ("*") between blocks: not accesses.
        const auto first = line.find_first_of("0123456789");
        if (first == std::string::npos) continue;
        trace.push_back(std::stoull(line.substr(first)));
    }
    return trace;
}

Trace read_cache2k(std::istream& in) {
    Trace trace;
    unsigned char b[4];
    while (in.read(reinterpret_cast<char*>(b), 4)) {
        trace.push_back((std::uint64_t{b[0]} << 24) | (std::uint64_t{b[1]} << 16) | (std::uint64_t{b[2]} << 8) | b[3]);
    }
    return trace;
}

Trace read_trace(const TraceSpec& spec) {
    if (spec.format == "synthetic") return spec.generated;
    std::ifstream file;
    std::istream* in = &std::cin;
    if (spec.path != "-") {
        file.open(spec.path, std::ios::binary);
        if (!file) throw std::runtime_error("cannot open " + spec.path);
        in = &file;
    }
    if (spec.format == "lirs") return read_lirs(*in);
    if (spec.format == "cache2k") return read_cache2k(*in);
    throw std::runtime_error("unknown trace format " + spec.format + " (lirs or cache2k)");
}

// Belady: on a miss with a full cache, evict the entry whose next use is
// farthest in the future. next_use[i] is the index of the next access to
// trace[i]'s key (trace.size() when none).
double opt_hit_ratio(const Trace& trace, std::size_t capacity) {
    const std::size_t never = trace.size();
    std::vector<std::size_t> next_use(trace.size());
    std::unordered_map<std::uint64_t, std::size_t> seen;
    for (std::size_t i = trace.size(); i-- > 0;) {
        const auto it = seen.find(trace[i]);
        next_use[i] = it == seen.end() ? never : it->second;
        seen[trace[i]] = i;
    }
    // Max-heap of (next use, key); an entry is stale once its key's next
    // use moved on (resident maps each held key to its current next use).
    std::priority_queue<std::pair<std::size_t, std::uint64_t>> farthest;
    std::unordered_map<std::uint64_t, std::size_t> resident;
    std::size_t hits = 0;
    for (std::size_t i = 0; i < trace.size(); ++i) {
        const std::uint64_t key = trace[i];
        const auto it = resident.find(key);
        if (it != resident.end()) {
            ++hits;
            it->second = next_use[i];
            farthest.emplace(next_use[i], key);
            continue;
        }
        if (resident.size() == capacity) {
            while (true) {
                const auto [use, victim] = farthest.top();
                farthest.pop();
                const auto held = resident.find(victim);
                if (held != resident.end() && held->second == use) {
                    resident.erase(held);
                    break;
                }
            }
        }
        resident.emplace(key, next_use[i]);
        farthest.emplace(next_use[i], key);
    }
    return static_cast<double>(hits) / static_cast<double>(trace.size());
}

// The reference LRU: one global recency order, no sharding.
double lru_hit_ratio(const Trace& trace, std::size_t capacity) {
    std::list<std::uint64_t> order;  // most recent first
    std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> where;
    std::size_t hits = 0;
    for (const std::uint64_t key : trace) {
        const auto it = where.find(key);
        if (it != where.end()) {
            ++hits;
            order.splice(order.begin(), order, it->second);
            continue;
        }
        if (where.size() == capacity) {
            where.erase(order.back());
            order.pop_back();
        }
        order.push_front(key);
        where.emplace(key, order.begin());
    }
    return static_cast<double>(hits) / static_cast<double>(trace.size());
}

struct Variant {
    std::string column;
    dogpile::EvictionPolicy policy;
    std::size_t shards;
};

const std::vector<Variant>& variants() {
    static const std::vector<Variant> all = {
        {"clock", dogpile::EvictionPolicy::clock, 16},
        {"lru", dogpile::EvictionPolicy::lru, 16},
        {"tiny_lfu (default)", dogpile::EvictionPolicy::tiny_lfu, 16},
        {"tiny_lfu, 1 shard", dogpile::EvictionPolicy::tiny_lfu, 1},
    };
    return all;
}

double backend_hit_ratio(const Trace& trace, std::size_t capacity, const Variant& variant) {
    dogpile::MemoryBackendOptions options;
    options.capacity = capacity;
    options.eviction = variant.policy;
    options.shards = variant.shards;
    dogpile::MemoryBackend<int, std::uint64_t> backend(options);
    const dogpile::CachedValue<int> value{1, dogpile::Metadata::store_managed()};
    std::size_t hits = 0;
    for (const std::uint64_t key : trace) {
        if (backend.get(key)) {
            ++hits;
        } else {
            backend.set(key, value);
        }
    }
    return static_cast<double>(hits) / static_cast<double>(trace.size());
}

std::vector<std::size_t> parse_capacities(const std::string& list) {
    std::vector<std::size_t> out;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) out.push_back(std::stoul(item));
    if (out.empty()) throw std::runtime_error("no capacities in '" + list + "'");
    return out;
}

std::vector<TraceSpec> parse_args(int argc, char** argv) {
    std::vector<TraceSpec> specs;
    const char* usage = "usage: hit_ratio --trace NAME FORMAT FILE CAPACITIES [--trace ...] [--synthetic]";
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--synthetic") {
            for (TraceSpec& spec : synthetic_specs()) specs.push_back(std::move(spec));
            continue;
        }
        if (std::string(argv[i]) != "--trace" || i + 4 >= argc) throw std::runtime_error(usage);
        specs.push_back({argv[i + 1], argv[i + 2], argv[i + 3], parse_capacities(argv[i + 4]), {}});
        i += 4;
    }
    if (specs.empty()) throw std::runtime_error(usage);
    return specs;
}

std::string percent(double ratio) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * ratio);
    return buf;
}

int run(int argc, char** argv) {
    const std::vector<TraceSpec> specs = parse_args(argc, argv);
    const std::size_t columns = variants().size();
    std::vector<double> gap_closed_sum(columns, 0.0);
    std::vector<double> worst_below_lru(columns, std::numeric_limits<double>::infinity());
    std::vector<double> points_gained(columns, 0.0);
    double points_of_gap = 0.0;
    std::size_t rows = 0;  // pairs with a gap of at least min_gap
    std::size_t pairs = 0;
    constexpr double min_gap = 0.01;

    std::cout << "| trace | capacity | OPT | LRU |";
    for (const Variant& v : variants()) std::cout << ' ' << v.column << " |";
    std::cout << "\n|---|---:|---:|---:|";
    for (std::size_t c = 0; c < columns; ++c) std::cout << "---:|";
    std::cout << '\n';
    for (const TraceSpec& spec : specs) {
        const Trace trace = read_trace(spec);
        if (trace.empty()) throw std::runtime_error("trace " + spec.name + " is empty");
        for (const std::size_t capacity : spec.capacities) {
            const double opt = opt_hit_ratio(trace, capacity);
            const double lru = lru_hit_ratio(trace, capacity);
            points_of_gap += opt - lru;
            std::cout << "| " << spec.name << " | " << capacity << " | " << percent(opt) << " | " << percent(lru)
                      << " |";
            for (std::size_t c = 0; c < columns; ++c) {
                const double ratio = backend_hit_ratio(trace, capacity, variants()[c]);
                std::cout << ' ' << percent(ratio) << " |";
                // A pair where LRU is within a point of OPT leaves no gap worth
                // a fraction (0.1 point over a gap of 0.01 would weigh 10x):
                // it counts in the worst distance below LRU only.
                if (opt - lru >= min_gap) gap_closed_sum[c] += (ratio - lru) / (opt - lru);
                worst_below_lru[c] = std::min(worst_below_lru[c], ratio - lru);
                points_gained[c] += ratio - lru;
            }
            std::cout << std::endl;
            if (opt - lru >= min_gap) ++rows;
            ++pairs;
        }
    }
    std::cout << "\nMean fraction of the LRU->OPT gap closed (" << rows << " trace/capacity pairs";
    if (rows < pairs) std::cout << "; " << pairs - rows << " more where LRU is within a point of OPT";
    std::cout << "):";
    for (std::size_t c = 0; c < columns; ++c) {
        std::cout << (c == 0 ? " " : ", ") << variants()[c].column << ' '
                  << percent(rows == 0 ? 0.0 : gap_closed_sum[c] / static_cast<double>(rows));
    }
    // The mean above weighs a pair where LRU is already near OPT (a gap of 2
    // points) like one with a gap of 50; this one weighs them by their points.
    std::cout << ".\nPoints of the LRU->OPT gap closed, summed over the pairs:";
    for (std::size_t c = 0; c < columns; ++c) {
        std::cout << (c == 0 ? " " : ", ") << variants()[c].column << ' ' << percent(points_gained[c] / points_of_gap);
    }
    std::cout << ".\nWorst hit ratio relative to LRU, in points:";
    for (std::size_t c = 0; c < columns; ++c) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%+.1f", 100.0 * worst_below_lru[c]);
        std::cout << (c == 0 ? " " : ", ") << variants()[c].column << ' ' << buf;
    }
    std::cout << ".\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "hit_ratio: " << e.what() << '\n';
        return 2;
    }
}
