#!/usr/bin/env bash
# Builds dogpile's measurement tools (Release) and prints a Markdown summary of
# short runs, ready for the performance section of the top-level README.
#
#   bench/report.sh [build-dir]          default build dir: build-bench
#   BENCH_MIN_TIME=3 BENCH_REPETITIONS=3 bench/report.sh   longer, steadier
#   BENCH_RESULTS_DIR=/tmp/results bench/report.sh   keeps the raw JSON there
#
# Progress goes to stderr, the Markdown to stdout:
#   bench/report.sh > performance.md
# Takes about two minutes on a 2-core machine. Without redis-server the Redis
# figures are reported as skipped.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-bench}
min_time=${BENCH_MIN_TIME:-0.5}
repetitions=${BENCH_REPETITIONS:-1}
jobs=${BENCH_JOBS:-2}
python=/usr/bin/python3
[[ -x $python ]] || python=python3

if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then
  out=$BENCH_RESULTS_DIR
  mkdir -p "$out"
  rm -f "$out"/stampede-*.json
else
  out=$(mktemp -d /tmp/dogpile-report-XXXXXX)
  trap 'rm -rf "$out"' EXIT
fi

say() { printf '== %s\n' "$*" >&2; }

say "configure + build (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDOGPILE_BUILD_TESTS=OFF >"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log" >&2; exit 1; }
cmake --build "$build" --target dogpile_bench dogpile_stampede dogpile_sizes -j"$jobs" >>"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log" >&2; exit 1; }
bin=$build/bench

have_redis=yes
if [[ -n ${DOGPILE_REDIS_SERVER:-} ]]; then
  [[ -x $DOGPILE_REDIS_SERVER ]] || have_redis=no
elif ! command -v redis-server >/dev/null && [[ ! -x /usr/bin/redis-server ]]; then
  have_redis=no
fi
if [[ $have_redis == no ]]; then
  say "redis-server not found: Redis figures are skipped (apt-get install redis-server)"
fi

# The paired comparisons (bench/support/compare.hpp): each reports its
# variants' rates and their ratios to the baseline, measured in alternation.
say "dogpile_bench: paired comparisons, ${min_time}s each x $repetitions"
"$bin/dogpile_bench" --benchmark_filter='^BM_Compare_' --benchmark_format=json \
  --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true >"$out/bench.json"

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
  echo "repetitions: $repetitions"
} >"$out/machine.txt"

"$python" "$root/bench/support/render_report.py" "$out"
