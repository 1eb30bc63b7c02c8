"""Renders bench/report.sh's measurements as Markdown.

    render_report.py <dir>

<dir> holds bench.json (dogpile_bench --benchmark_filter=BM_Compare_
--benchmark_format=json: the paired comparisons of bench/support/compare.hpp,
whose counters carry each variant's rate and its ratio to the baseline), sizes.json
(sizes --json), stampede-*.json (stampede --json, one object each),
near_cache.json (near_cache_bench --benchmark_filter=^BM_Compare_Hit/
--benchmark_format=json), cluster.json (cluster_bench --json),
early_refresh-*.json (early_refresh --json, one run each, e.g. per beta) and
machine.txt (key: value lines). Every figure is printed next to the baseline
measured in the same run, and the ratio between them is the number to read:
the absolute rates move with the machine's load.

The output is the whole "## The last report" section of docs/performance.md.
"""

import glob
import json
import os
import sys


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rate(value):
    """items/s in human units."""
    if value is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}/s"
    return f"{value:.0f} /s"


def ratio(numerator, denominator):
    if numerator is None or denominator in (None, 0):
        return "n/a"
    return f"{numerator / denominator:.2f}x"


def times(value):
    return "n/a" if value is None else f"{value:.2f}x"


def verdict(value, target, higher_is_better=True):
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "**missed**"


class Bench:
    """dogpile_bench results: the median of the repetitions (or the single run)."""

    def __init__(self, data):
        self.context = (data or {}).get("context", {})
        self.runs = {}
        for b in (data or {}).get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") != "median":
                    continue
                name = b["run_name"]
            else:
                name = b["name"]
                if name in self.runs and self.runs[name].get("run_type") == "aggregate":
                    continue
            self.runs[name] = b

    def get(self, name, field):
        run = self.runs.get(name + "/manual_time")
        if run is None or run.get("error_occurred"):
            return None
        return run.get(field)

    def error(self, name):
        run = self.runs.get(name + "/manual_time")
        return run.get("error_message") if run and run.get("error_occurred") else None


def cpus_used(bench, name, threads):
    """The CPUs the blocks of a multi-threaded comparison really used (range over its variants)."""
    if threads == 1:
        return "-"
    values = [v for v in (bench.get(name, f"{k}_cpus") for k in ("baseline", "region", "region_expiring"))
              if v is not None]
    return f"{min(values):.2f}-{max(values):.2f}" if values else "n/a"


def memory_section(bench, out):
    out.append("#### In-process hit path (memory backend)\n")
    out.append("`Region<std::string>::get_or_create` on keys that hold a fresh value, against a hand-written "
               "cache: `std::unordered_map<std::string, std::string>` lookup + copy under a "
               "`std::shared_mutex` (shared lock). Hits/s summed over all threads; `keys` = distinct keys read "
               "(1 = one hot key). Target: >= 10 M hits/s on one thread and >= 0.5x the baseline. Each row is a "
               "separate run: compare rows only through their ratios, and read scaling from the next table. With "
               "more threads than cores the rows show the locks under preemption, not scaling.\n")
    out.append("| threads | keys | baseline | Region (never expires) | ratio | Region (expiration_time set) | ratio "
               "| CPUs used |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    single = {}
    expiry_cost = {}
    for keys in (1, 1024):
        for threads in (1, 2, 4, 8):
            name = f"BM_Compare_MemoryHit/keys:{keys}/threads:{threads}"
            base = bench.get(name, "baseline_per_s")
            if base is None:
                continue
            never = bench.get(name, "region_per_s")
            never_x = bench.get(name, "region_vs_baseline")
            expiring = bench.get(name, "region_expiring_per_s")
            expiring_x = bench.get(name, "region_expiring_vs_baseline")
            out.append(f"| {threads} | {keys} | {rate(base)} | {rate(never)} | {times(never_x)} | "
                       f"{rate(expiring)} | {times(expiring_x)} | {cpus_used(bench, name, threads)} |")
            if threads == 1:
                single[keys] = ((bench.get(name, "region_best_per_s"), never_x),
                                (bench.get(name, "region_expiring_best_per_s"), expiring_x))
                expiry_cost[keys] = (bench.get(name, "region_expiring_vs_region"),
                                     bench.get(name, "region_expiring_precise_vs_region"))
    out.append("")
    out.append("Single thread against the targets (absolute rate: the fastest block, i.e. when nothing "
               "preempted the benchmark):\n")
    for keys, variants in single.items():
        for label, (best, x) in zip(("never expires", "expiration_time set"), variants):
            out.append(f"- {keys} key(s), {label}: {rate(best)} (>= 10 M/s: {verdict(best, 10e6)}), "
                       f"{times(x)} the baseline (>= 0.5x: {verdict(x, 0.5)})")
    for keys, (coarse, precise) in expiry_cost.items():
        out.append(f"- {keys} key(s), expiration_time set vs never expires: {times(coarse)} (>= 0.8x: "
                   f"{verdict(coarse, 0.8)}; {times(precise)} with `ClockPolicy::precise`)")
    out.append("")


def scaling_section(bench, out):
    """BM_Compare_MemoryScaling: every kind of read on 1, 2, ... threads in one
    comparison, so each scaling ratio is a median of per-round ratios."""
    names = [f"BM_Compare_MemoryScaling/keys:{keys}" for keys in (1024, 1)]
    if all(bench.get(name, "region_t1_per_s") is None for name in names):
        return
    out.append("#### Thread scaling of the hit path\n")
    out.append("The same reads on 1, 2, ... threads (up to the cores), all in one comparison: blocks of each "
               "kind and thread count alternate, and *scaling* is the median over the rounds of the rate on N "
               "threads over the rate on 1 thread. *unlocked map*: `std::unordered_map` read without a lock "
               "(safe: nobody writes it), what the machine gives; *locked map*: the same under a "
               "`std::shared_mutex` (the baseline above); *Region*: `Region<std::string>` over the memory "
               "backend (16 shards). *CPUs used*: thread CPU time over wall time of the N-thread blocks; "
               "well below N means the threads shared cores with other work and that row's scaling "
               "understates the code.\n")
    out.append("| keys | threads | unlocked map | scaling | locked map | scaling | Region | scaling | CPUs used |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        keys = name.rsplit(":", 1)[1]
        threads = 1
        while bench.get(name, f"region_t{threads}_per_s") is not None:
            cells = [keys, str(threads)]
            cpus = []
            for kind in ("unlocked_map", "locked_map", "region"):
                variant = f"{kind}_t{threads}"
                x = 1.0 if threads == 1 else bench.get(name, f"{variant}_vs_{kind}_t1")
                cells += [rate(bench.get(name, f"{variant}_per_s")), times(x)]
                if threads > 1 and bench.get(name, f"{variant}_cpus") is not None:
                    cpus.append(bench.get(name, f"{variant}_cpus"))
            cells.append(f"{min(cpus):.2f}-{max(cpus):.2f}" if cpus else "-")
            out.append("| " + " | ".join(cells) + " |")
            threads *= 2
    out.append("")
    out.append("With one key every thread takes the same shard's reader lock, whose count is one cache line "
               "that the cores pass back and forth: contention, not parallelism, in the Region as in the "
               "locked map.\n")


def redis_section(bench, out):
    if not any(name.startswith("BM_Compare_Redis") for name in bench.runs):
        out.append("#### Redis hash store\n")
        out.append(f"Skipped: {bench.context.get('redis', 'no Redis results')}\n")
        return
    out.append("#### Redis hash store hit (one thread, one connection)\n")
    out.append("`Region<Flags, HashKey>::get_or_create` of an existing field (HGET + values-only decode of the "
               "25 flags) against plain hiredis `redisCommandArgv` HGET + the same decode on the same kind of "
               "connection, call by call. Target: >= 0.9x.\n")
    out.append("| transport | hiredis HGET + decode | Region::get_or_create | ratio | target |")
    out.append("|---|---:|---:|---:|---|")
    for transport in ("unix", "tcp"):
        name = f"BM_Compare_RedisHit/{transport}"
        x = bench.get(name, "region_vs_hiredis")
        base, region = bench.get(name, "hiredis_per_s"), bench.get(name, "region_per_s")
        out.append(f"| {transport} | {rate(base)} | {rate(region)} | {times(x)} | {verdict(x, 0.9)} |")
    out.append("")
    tls = "BM_Compare_RedisHit/tls"
    if bench.get(tls, "region_vs_openssl") is None:
        out.append(f"Over TLS: skipped ({bench.context.get('redis_tls', 'no TLS results')}).\n")
    else:
        out.append("Over TLS (a second redis-server, `--tls-port` only, throwaway certificates): the same hit "
                   "against a minimal hand-written TLS client (OpenSSL `SSL_write` of the HGET, `SSL_read` into "
                   "hiredis' reader, the same decode), and the plain-TCP Region hit in the same rounds. "
                   "Target: >= 0.9x the hand-written client.\n")
        out.append("| hand-written TLS client | Region over TLS | ratio | target | Region over TCP | TLS / TCP |")
        out.append("|---:|---:|---:|---|---:|---:|")
        x = bench.get(tls, "region_vs_openssl")
        over_tcp = bench.get(tls, "region_vs_tcp_region")
        out.append(f"| {rate(bench.get(tls, 'openssl_per_s'))} | {rate(bench.get(tls, 'region_per_s'))} | "
                   f"{times(x)} | {verdict(x, 0.9)} | {rate(bench.get(tls, 'tcp_region_per_s'))} | "
                   f"{times(over_tcp)} |")
        out.append("")
    out.append("#### get_or_create_multi: 100 fields of one hash\n")
    out.append("One `get_or_create_multi` (one round trip) against 100 sequential `get_or_create` calls; "
               "entries/s. Target: >= 20x. The hash holds exactly the 100 fields, so from its second read on "
               "the store reads it whole with one `HGETALL` (whole-hash reads, in the hash-store section).\n")
    out.append("| value | transport | 100 x get_or_create | get_or_create_multi | speedup | target "
               "| raw HMGET + decode | multi / raw |")
    out.append("|---|---|---:|---:|---:|---|---:|---:|")
    for value, label in (("flag_set/", "`FlagSet`"), ("", "`Flags` (`std::map`)")):
        for transport in ("unix", "tcp"):
            name = f"BM_Compare_RedisMulti100/{value}{transport}"
            x = bench.get(name, "multi_vs_sequential")
            if x is None:
                continue
            multi, raw = bench.get(name, "multi_per_s"), bench.get(name, "hmget_per_s")
            raw_cells = (f"{rate(raw)} | {times(multi / raw)} (>= 0.8x: {verdict(multi / raw, 0.8)})"
                         if raw and multi else "n/a | n/a")
            out.append(f"| {label} | {transport} | {rate(bench.get(name, 'sequential_per_s'))} | "
                       f"{rate(multi)} | {times(x)} | {verdict(x, 20)} | {raw_cells} |")
    out.append("")
    out.append("Raw HMGET + decode is one hiredis `redisCommandArgv` HMGET of the 100 fields on a bare connection "
               "and the same decode into `FlagSet`: a hand-written batch read. Its own speedup is bounded by "
               "the server, which searches a small hash once per HMGET field (43-61 us per call here, against "
               "11-13 us for HGETALL, `INFO commandstats`).\n")


def codec_section(bench, sizes, out):
    out.append("#### Codecs: the 25-flag permission dict\n")
    out.append("Encodes and decodes per second; the baseline is the generic msgpack map "
               "(`MsgpackCodec<std::map<std::string, bool>>`), what one writes without a key template.\n")
    payload = (sizes or {}).get("payload_bytes", {})
    out.append("| codec | bytes | encode | vs map | decode | vs map |")
    out.append("|---|---:|---:|---:|---:|---:|")
    rows = (("msgpack map (baseline)", "msgpack_map", "msgpack map"),
            ("values-only into `FlagSet` (`FlagSetCodec`)", "flag_set_values", "values-only"),
            ("bit-packed into `FlagSet` (`BitpackedFlagSetCodec`)", "flag_set_bitpacked", "bit-packed"),
            ("values-only into `Flags` (`FlagsCodec`)", "values_only", "values-only"),
            ("bit-packed into `Flags` (`BitpackedCodec`)", "bitpacked", "bit-packed"),
            ("values-only over `Dict` (`DictValuesCodec`)", "dict_values", "values-only"))
    for label, name, size_key in rows:
        size = payload.get(size_key)
        size_text = f"{size:.0f}" if size is not None else "n/a"
        cells = [label, size_text]
        for op in ("Encode", "Decode"):
            bench_name = f"BM_Compare_Codec{op}"
            x = 1.0 if name == "msgpack_map" else bench.get(bench_name, f"{name}_vs_msgpack_map")
            cells += [rate(bench.get(bench_name, f"{name}_per_s")), times(x)]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    limit = "BM_Compare_FlagSetDecode"
    unpack = bench.get(limit, "msgpack_unpack_per_s")
    hand = bench.get(limit, "hand_loop_per_s")
    values = bench.get(limit, "flag_set_values_per_s")
    if unpack and hand and values:
        floor = max(unpack, hand)
        out.append(f"The limit for a values-only decode of the 25 flags, in one run (`{limit}`): raw "
                   f"`msgpack::unpack` of the same bytes {rate(unpack)}, a hand-written loop {rate(hand)}. "
                   f"`FlagSetCodec` decodes {rate(values)}: {times(values / floor)} the faster of the two "
                   f"(>= 0.8x: {verdict(values / floor, 0.8)}); `FlagsCodec` into the map "
                   f"{rate(bench.get(limit, 'flags_values_per_s'))}.\n")


def sizes_section(sizes, out):
    if not sizes:
        out.append("#### Sizes\n\nNo results (sizes failed).\n")
        return
    out.append("#### Bytes per entry\n")
    out.append(f"Payload of the {sizes['flags']}-flag dict, mean over {sizes['entries']} generated dicts; "
               "baseline: JSON (`json.dumps`, sorted keys).\n")
    out.append("| format | bytes | vs JSON |")
    out.append("|---|---:|---:|")
    payload = sizes["payload_bytes"]
    for name, size in payload.items():
        out.append(f"| {name} | {size:.1f} | {ratio(size, payload['JSON'])} |")
    out.append("")
    per_entry = sizes.get("redis_bytes_per_entry")
    if not per_entry:
        out.append(f"Redis memory: {sizes.get('redis', 'not measured')}\n")
        return
    baseline = sizes["redis_baseline"]
    out.append(f"Redis `used_memory` growth for {sizes['ids']} ids x {sizes['fields']} fields = {sizes['entries']} "
               f"entries, a TTL on every key, {sizes['redis']}. Baseline: one plain key per entry "
               "(`calculated|<id_a>|<id_b>`, same values-only payload); the library's layout is one hash per "
               "id_a (`calculated-a|<id_a>`, field `<id_b>`).\n")
    out.append("| layout | bytes/entry | vs plain keys |")
    out.append("|---|---:|---:|")
    for name, size in per_entry.items():
        label = name + (" (baseline)" if name == baseline else "")
        out.append(f"| {label} | {size:.1f} | {ratio(size, per_entry[baseline])} |")
    out.append("")


def stampede_section(runs, out):
    out.append("#### Stampede: many callers, one key, a 100 ms creator\n")
    if not runs:
        out.append("No results.\n")
        return
    out.append("All callers are released at once. *naive* is plain cache-aside (get; if miss: create; set), "
               "the baseline the dogpile lock is measured against; *cold* = no value, *stale* = an expired "
               "value. Waits are per caller, from the release to the return.\n")
    out.append("| backend | callers | key | strategy | creator calls | wall / creator time | p50 wait | p99 wait |")
    out.append("|---|---|---|---|---:|---:|---:|---:|")
    for r in runs:
        callers = str(r["callers"])
        if r["processes"] > 1:
            callers += f" ({r['processes']} procs x {r['threads_per_process']} threads)"
        errors = f" ({r['errors']} errors)" if r.get("errors") else ""
        out.append(f"| {r['backend']} | {callers} | {r['key']} | {r['mode']} | {r['creator_calls']}{errors} | "
                   f"{r['wall_over_creator']:.2f}x | {r['p50_wait_ms']:.1f} ms | {r['p99_wait_ms']:.1f} ms |")
    out.append("")


def near_cache_section(near, machine, out):
    out.append("#### Near cache hit\n")
    if not near.runs:
        reason = "no Redis" if machine.get("redis") == "no" else "near_cache_bench failed"
        out.append(f"Skipped ({reason}).\n")
        return
    out.append("`NearCacheBackend<V, HashKey>::get` of an entry held in the near tier (`near_cache_bench`), "
               "against the two things it sits between, in alternating blocks: a `MemoryBackend<V, HashKey>` hit "
               "(the baseline: the near tier is built from the same shards) and a `RedisHashBackend` hit (HGET "
               "over a unix socket + decode: what the near tier saves). Reads cycle over 1,024 keys; hits/s "
               "summed over all threads. Target: >= 0.5x the memory hit and >= 100x the Redis hit.\n")
    out.append("| value | threads | memory backend | near cache | vs memory | Redis hash | near / Redis |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    single = []
    for value, label in (("flag_set", "25 flags (`FlagSet`)"), ("string48", "48-byte string"),
                         ("flags", "25 flags (`std::map`)")):
        for threads in (1, 2):
            name = f"BM_Compare_Hit/{value}/threads:{threads}/iterations:20"
            if name + "/manual_time" not in near.runs:
                continue
            error = near.error(name)
            if error:
                out.append(f"| {label} | {threads} | {error} | | | | |")
                continue
            near_x = near.get(name, "near_vs_memory")
            redis_x = near.get(name, "redis_hash_vs_memory")
            over_redis = near_x / redis_x if near_x is not None and redis_x else None
            out.append(f"| {label} | {threads} | {rate(near.get(name, 'memory_per_s'))} | "
                       f"{rate(near.get(name, 'near_per_s'))} | {times(near_x)} | "
                       f"{rate(near.get(name, 'redis_hash_per_s'))} | {times(over_redis)} |")
            if threads == 1:
                single.append((label, near_x, over_redis, 1 / redis_x if redis_x else None))
    out.append("")
    if single:
        out.append("One thread against the targets (near / Redis is the ratio of the two medians of per-round "
                   "ratios to the memory hit):\n")
        for label, near_x, over_redis, memory_over_redis in single:
            out.append(f"- {label}: {times(near_x)} the memory hit (>= 0.5x: {verdict(near_x, 0.5)}), "
                       f"{times(over_redis)} the Redis hit (>= 100x: {verdict(over_redis, 100)}; "
                       f"the memory hit itself: {times(memory_over_redis)})")
        out.append("")
    flag_set = "BM_Compare_Hit/flag_set/threads:1/iterations:20"
    flag_set_memory = near.get(flag_set, "memory_best_per_s")
    over_string = near.get(flag_set, "memory_string48_vs_memory")
    near_x = near.get(flag_set, "near_vs_memory")
    if flag_set_memory and over_string:
        out.append(f"The workload's value, `FlagSet`, one thread: a memory hit {rate(flag_set_memory)} "
                   f"(>= 10 M/s: {verdict(flag_set_memory, 10e6)}), {times(1 / over_string)} a memory hit of "
                   f"the 48-byte string in the same run (>= 0.5x: {verdict(1 / over_string, 0.5)}); the near "
                   f"hit {times(near_x)} the memory hit (within 1.5x, i.e. >= 0.67x: "
                   f"{verdict(near_x, 1 / 1.5)}).\n")
    string_memory = near.get("BM_Compare_Hit/string48/threads:1/iterations:20", "memory_per_s")
    flags_memory = near.get("BM_Compare_Hit/flags/threads:1/iterations:20", "memory_per_s")
    if string_memory and flags_memory:
        out.append(f"A memory hit on the 25-flag `std::map` runs at {times(flags_memory / string_memory)} the rate "
                   "of one on the 48-byte string: copying the map dominates, in the near tier as in the memory "
                   "backend. Cache `FlagSet` values, or `std::shared_ptr<const V>` for other large values.\n")


def cluster_section(cluster, machine, out):
    out.append("#### Redis Cluster: 3 masters against one server\n")
    rows = (cluster or {}).get("cluster_bench")
    if not rows:
        if machine.get("redis") == "no":
            reason = "no Redis"
        elif machine.get("redis-cli") == "no":
            reason = "no redis-cli"
        else:
            reason = "cluster_bench failed"
        out.append(f"Skipped ({reason}).\n")
        return
    out.append(f"The hash store (`Region<Flags, HashKey>` over `RedisHashBackend`, `cluster_bench`) on one "
               f"redis-server and on a 3-master Redis Cluster (3 + 3 nodes), one thread, loopback TCP for both, "
               f"{cluster['hashes']} hashes x {cluster['fields']} fields of 25 flags. The topologies run in "
               f"{cluster['blocks']} alternating blocks each; the ratio is the median over the blocks of the "
               "cluster's mean latency over the single server's. Round trips are the client's count per call: "
               "a cluster multi-get costs one per master holding its keys. The near-cache hit row reads through a "
               "`NearCacheBackend` (an `InvalidationListener` on the single server, a `ClusterTracking` on the "
               "cluster): compare its cluster column with the hit row's.\n")
    out.append("| operation | single server: mean / p99 | round trips | cluster: mean / p99 | round trips "
               "| cluster / single |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append(f"| {r['operation']} | {r['single_mean_us']:.1f} / {r['single_p99_us']:.1f} us | "
                   f"{r['single_round_trips_per_call']:.2f} | {r['cluster_mean_us']:.1f} / "
                   f"{r['cluster_p99_us']:.1f} us | {r['cluster_round_trips_per_call']:.2f} | "
                   f"{times(r.get('cluster_over_single'))} |")
    out.append("")


def concurrency_section(directory, out):
    out.append("#### Throughput under concurrency: pool against auto-pipelining\n")
    path = os.path.join(directory, "concurrency.md")
    if not os.path.exists(path):
        out.append("Skipped (no Redis, or concurrency_bench failed).\n")
        return
    out.append("Hits per second of the hash store (`concurrency_bench`, loopback TCP, 1,000 hashes x 20 fields "
               "of 25 flags): the region over the default pool (8 connections) and over `PipelinedClient` "
               "(one shared connection), raw hiredis with one connection per thread, and raw hiredis on one "
               "thread sending batches of 16 (the same decode). The modes run in alternating blocks; each "
               "figure is the median block, so compare within a row. Then the latency per call and the CPU "
               "time per hit (client process, redis-server) at 64 threads, and the 64-thread row through "
               "tests/support/delay_proxy.hpp adding 0.5 ms per round trip.\n")
    with open(path) as f:
        out.append(f.read())


def early_refresh_section(runs, out):
    out.append("#### Early refresh: one hot key at expiry\n")
    if not runs:
        out.append("No results (early_refresh failed).\n")
        return
    first = runs[0]
    out.append(f"`early_refresh`: {first['threads']} threads read one key (memory backend) with a "
               f"{first['ttl_ms']} ms TTL and a {first['creator_ms']} ms creator for {first['periods']} TTL "
               "periods. *dogpile*: the lock alone (at expiry one caller regenerates inline, the others get the "
               "stale value); *never-stale*: `StalePolicy::never_serve` (everyone waits at expiry); *xfetch*: "
               "`RegionOptions::early_refresh` (XFetch) with an async runner, the value recomputed before it "
               "expires. Blocked = calls that took longer than half the creator's time; one creation per period "
               "is the least that keeps the key fresh.\n")
    out.append("| mode | beta | calls/s | blocked calls | creations per period | stale values served |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for i, run in enumerate(runs):
        seconds = run["ttl_ms"] * run["periods"] / 1000.0
        for m in run["modes"]:
            # Only XFetch depends on beta: the other modes are shown once.
            if m["mode"] != "xfetch" and i > 0:
                continue
            beta = f"{run['beta']:g}" if m["mode"] == "xfetch" else "-"
            out.append(f"| {m['mode']} | {beta} | {rate(m['calls'] / seconds)} | {m['blocked']:,} | "
                       f"{m['creations_per_period']:.2f} | {m['stale_served']:,} |")
    out.append("")


def main():
    directory = sys.argv[1]
    machine = {}
    with open(os.path.join(directory, "machine.txt")) as f:
        for line in f:
            key, _, value = line.partition(":")
            machine[key.strip()] = value.strip()
    bench = Bench(load_json(os.path.join(directory, "bench.json")))
    sizes = load_json(os.path.join(directory, "sizes.json"))
    stampedes = [load_json(p) for p in sorted(glob.glob(os.path.join(directory, "stampede-*.json")))]
    stampedes = [s for s in stampedes if s]
    near = Bench(load_json(os.path.join(directory, "near_cache.json")))
    cluster = load_json(os.path.join(directory, "cluster.json"))
    early = [load_json(p) for p in sorted(glob.glob(os.path.join(directory, "early_refresh-*.json")))]
    early = [e for e in early if e and e.get("modes")]

    out = ["## The last report\n"]
    out.append(f"Measured by `bench/report.sh` on {machine.get('date')}: {machine.get('nproc')} cores "
               f"({machine.get('cpu')}), {machine.get('os')}, {machine.get('compiler')}, Release build, "
               f"{machine.get('redis')}, load average (1/5/15 min) {machine.get('load', 'n/a')}. Each ratio is the median over many rounds in which the baseline and "
               "the subject ran alternately (in blocks of a few ms, or call by call for Redis), so load that "
               "comes and goes hits both alike; the rates are medians too and move more from run to run. "
               "Targets are the project's.\n")
    memory_section(bench, out)
    scaling_section(bench, out)
    if machine.get("only", "all") == "memory":
        out.append("(BENCH_ONLY=memory: the other tables were not measured.)")
        print("\n".join(out))
        return
    redis_section(bench, out)
    codec_section(bench, sizes, out)
    sizes_section(sizes, out)
    stampede_section(stampedes, out)
    near_cache_section(near, machine, out)
    cluster_section(cluster, machine, out)
    concurrency_section(directory, out)
    early_refresh_section(early, out)
    out.append("Regenerate this section with `bash bench/report.sh > perf.md`.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
