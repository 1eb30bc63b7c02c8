#!/usr/bin/env bash
# Builds dogpile's measurement tools (Release) and prints a Markdown summary of
# short runs, ready for the "The last report" section of docs/performance.md.
#
#   bench/report.sh [build-dir]          default build dir: build-bench
#   BENCH_MIN_TIME=3 BENCH_REPETITIONS=3 bench/report.sh   longer, steadier
#   BENCH_RESULTS_DIR=/tmp/results bench/report.sh   keeps the raw JSON there
#   BENCH_CLUSTER_SECONDS=10 bench/report.sh   longer cluster run (default 3 s per operation and topology)
#   BENCH_CONCURRENCY_SECONDS=2 bench/report.sh   longer concurrency blocks (default 1 s per mode and block)
#   BENCH_ONLY=memory bench/report.sh    only the in-process hit and thread-scaling tables (~20 s)
#
# Progress goes to stderr, the Markdown to stdout: the whole "## The last report"
# section of docs/performance.md, every figure in it from this run.
#   bench/report.sh > performance.md
# The runs take about two minutes on a 2-core machine; building the tools
# (Release), when the sources changed, several more. Without
# redis-server the Redis figures are reported as skipped; without redis-cli,
# the cluster's.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-bench}
min_time=${BENCH_MIN_TIME:-0.5}
repetitions=${BENCH_REPETITIONS:-1}
jobs=${BENCH_JOBS:-2}
only=${BENCH_ONLY:-}
[[ -z $only || $only == memory ]] || { echo "BENCH_ONLY: 'memory' or unset" >&2; exit 2; }
python=/usr/bin/python3
[[ -x $python ]] || python=python3

if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then
  out=$BENCH_RESULTS_DIR
  mkdir -p "$out"
  rm -f "$out"/stampede-*.json "$out"/early_refresh-*.json "$out"/near_cache.json "$out"/cluster.json "$out"/concurrency.md
else
  out=$(mktemp -d /tmp/dogpile-report-XXXXXX)
  trap 'rm -rf "$out"' EXIT
fi

say() { printf '== %s\n' "$*" >&2; }

say "configure + build (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDOGPILE_BUILD_TESTS=OFF >"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log" >&2; exit 1; }
targets=(dogpile_bench)
[[ $only == memory ]] ||
  targets+=(dogpile_stampede dogpile_sizes dogpile_near_cache_bench dogpile_cluster_bench dogpile_early_refresh
           dogpile_concurrency_bench)
cmake --build "$build" --target "${targets[@]}" -j"$jobs" >>"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log" >&2; exit 1; }
bin=$build/bench
# The scaling figures need idle cores: a busy machine (another build, say)
# shows up as "CPUs used" below the thread count in the tables; the load
# averages at the start and the end go into the header.
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)

have_redis=yes
if [[ -n ${DOGPILE_REDIS_SERVER:-} ]]; then
  [[ -x $DOGPILE_REDIS_SERVER ]] || have_redis=no
elif ! command -v redis-server >/dev/null && [[ ! -x /usr/bin/redis-server ]]; then
  have_redis=no
fi
if [[ $have_redis == no ]]; then
  say "redis-server not found: Redis figures are skipped (apt-get install redis-server)"
fi
have_redis_cli=$have_redis
if [[ $have_redis == yes && -z ${DOGPILE_REDIS_CLI:-} ]] && ! command -v redis-cli >/dev/null; then
  have_redis_cli=no
  say "redis-cli not found: the cluster figures are skipped (apt-get install redis-tools)"
fi

# The paired comparisons (bench/support/compare.hpp): each reports its
# variants' rates and their ratios to the baseline, measured in alternation;
# BM_Compare_MemoryScaling runs each read on 1, 2, ... threads in alternation,
# so its scaling ratios come from one run. No taskset: the threads must be free
# to spread over the cores.
filter='^BM_Compare_'
[[ $only == memory ]] && filter='^BM_Compare_Memory(Hit|Scaling)/'
say "dogpile_bench: paired comparisons ($filter), ${min_time}s each x $repetitions"
"$bin/dogpile_bench" --benchmark_filter="$filter" --benchmark_format=json \
  --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true >"$out/bench.json"

if [[ $only != memory ]]; then
say "sizes"
"$bin/sizes" --json >"$out/sizes.json"

say "stampede"
n=0
stampede() {
  n=$((n + 1))
  "$bin/stampede" --json "$@" >"$out/stampede-$(printf %02d $n).json" ||
    say "stampede $* failed (see above)"
}
stampede
stampede --naive
stampede --stale
stampede --stale --naive
if [[ $have_redis == yes ]]; then
  stampede --redis local
  stampede --redis local --naive
  stampede --redis local --stale
  stampede --redis local --procs 4 --threads 16
  stampede --redis local --procs 4 --threads 16 --naive
  stampede --redis local --procs 4 --threads 16 --stale
fi

# Near cache, cluster, early refresh: the last performance table of docs/performance.md.
if [[ $have_redis == yes ]]; then
  say "near_cache_bench: paired comparisons x $repetitions"
  "$bin/near_cache_bench" --benchmark_filter='^BM_Compare_Hit/' --benchmark_format=json \
    --benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true >"$out/near_cache.json" ||
    say "near_cache_bench failed (see above)"
fi
if [[ $have_redis == yes ]]; then
  say "concurrency_bench"
  "$bin/concurrency_bench" --seconds "${BENCH_CONCURRENCY_SECONDS:-1}" --blocks 5 --added-rtt-ms 0.5 >"$out/concurrency.md" ||
    { say "concurrency_bench failed (see above)"; rm -f "$out/concurrency.md"; }
fi
if [[ $have_redis_cli == yes ]]; then
  say "cluster_bench"
  "$bin/cluster_bench" --json --seconds "${BENCH_CLUSTER_SECONDS:-3}" --blocks 12 >"$out/cluster.json" ||
    say "cluster_bench failed (see above)"
fi
say "early_refresh (beta 1, then 0.3)"
"$bin/early_refresh" --json >"$out/early_refresh-1.json" || say "early_refresh failed (see above)"
"$bin/early_refresh" --json --beta 0.3 >"$out/early_refresh-2.json" || say "early_refresh --beta 0.3 failed (see above)"
fi

compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
redis_version=no
if [[ $have_redis == yes ]]; then
  redis_version=$("${DOGPILE_REDIS_SERVER:-redis-server}" --version 2>/dev/null |
    sed -n 's/.* v=\([^ ]*\).*/redis \1/p')
fi
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc: $(nproc)"
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "os: $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-$(uname -sr)}" || uname -sr)"
  echo "compiler: $("${compiler:-c++}" --version | head -1)"
  echo "redis: ${redis_version:-redis-server}"
  echo "redis-cli: $have_redis_cli"
  echo "repetitions: $repetitions"
  echo "load: $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a) at the end"
  echo "only: ${only:-all}"
} >"$out/machine.txt"

"$python" "$root/bench/support/render_report.py" "$out"
