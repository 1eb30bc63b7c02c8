// Hit ratio of the memory backend's eviction policies on recorded traces,
// against the two references that bracket them: LRU (what a plain recency
// cache gets) and OPT (Belady's clairvoyant optimum, the limit any policy can
// reach at that capacity).
//
//   hit_ratio --trace NAME FORMAT FILE CAPACITIES [--trace ...]
//     FORMAT      lirs (one integer per line) or cache2k (big-endian uint32)
//     FILE        a decompressed trace, or - for stdin (bench/hit_ratio.sh
//                 pipes the compressed ones through zcat/xzcat)
//     CAPACITIES  comma separated, in entries: 250,500,1000
//
// Prints one Markdown table (a row per trace and capacity) and, per policy,
// the mean fraction of the LRU->OPT gap it closes, the fraction of the gap's
// points it closes, and its worst distance below LRU. Every access replays through a real MemoryBackend: get(key),
// and set(key, value) on a miss.

#include <algorithm>
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
    std::string format;
    std::string path;
    std::vector<std::size_t> capacities;
};

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
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) != "--trace" || i + 4 >= argc) {
            throw std::runtime_error("usage: hit_ratio --trace NAME FORMAT FILE CAPACITIES [--trace ...]");
        }
        specs.push_back({argv[i + 1], argv[i + 2], argv[i + 3], parse_capacities(argv[i + 4])});
        i += 4;
    }
    if (specs.empty()) throw std::runtime_error("usage: hit_ratio --trace NAME FORMAT FILE CAPACITIES [--trace ...]");
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
    std::size_t rows = 0;

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
                // A trace where LRU is already optimal leaves no gap to close.
                gap_closed_sum[c] += opt - lru > 1e-9 ? (ratio - lru) / (opt - lru) : 1.0;
                worst_below_lru[c] = std::min(worst_below_lru[c], ratio - lru);
                points_gained[c] += ratio - lru;
            }
            std::cout << std::endl;
            ++rows;
        }
    }
    std::cout << "\nMean fraction of the LRU->OPT gap closed (" << rows << " trace/capacity pairs):";
    for (std::size_t c = 0; c < columns; ++c) {
        std::cout << (c == 0 ? " " : ", ") << variants()[c].column << ' '
                  << percent(gap_closed_sum[c] / static_cast<double>(rows));
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
