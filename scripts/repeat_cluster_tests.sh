#!/usr/bin/env bash
# Runs the Redis Cluster and Sentinel test binaries many times in a row under
# a sanitizer, optionally with every core kept busy, and stops at the first
# failure: the proof that they do not flake (each run starts and stops its
# own cluster or sentinel group).
#   scripts/repeat_cluster_tests.sh asan|tsan [runs] [--load] [-- gtest flags...]
#     runs     how many times each binary runs (default 20)
#     --load   keep every core busy meanwhile (stress-ng --cpu <nproc>)
#   e.g. scripts/repeat_cluster_tests.sh asan 20 --load -- --gtest_shuffle
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/lib/sanitizers.sh

mode=${1:?usage: scripts/repeat_cluster_tests.sh asan|tsan [runs] [--load] [-- gtest flags...]}
shift
runs=20
load=0
gtest_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --load) load=1 ;;
    --) shift; gtest_flags=("$@"); break ;;
    *) runs=$1 ;;
  esac
  shift
done

binaries=(test_redis_cluster test_redis_cluster_backends test_redis_cluster_failover test_redis_sentinel)
tree=$(sanitizer_tree "$mode")
configure_sanitizer_tree "$mode" >/dev/null
targets=()
for b in "${binaries[@]}"; do targets+=(--target "$b"); done
cmake --build "$tree" -j"$(nproc)" "${targets[@]}"

if [ "$load" -eq 1 ]; then
  source scripts/lib/cpu_hog.sh
  start_cpu_hog
fi

log_dir=$(mktemp -d /tmp/dogpile-repeat-XXXXXX)
echo "repeat: $mode, $runs runs of each binary, load=$load, gtest flags: ${gtest_flags[*]:-none}; logs in $log_dir"
started=$(date +%s)
for run in $(seq 1 "$runs"); do
  for b in "${binaries[@]}"; do
    t0=$(date +%s)
    log="$log_dir/$b.$run.log"
    if ! "$tree/tests/$b" "${gtest_flags[@]}" >"$log" 2>&1; then
      echo "repeat: $b FAILED on run $run/$runs after $(( $(date +%s) - t0 )) s; its output:"
      grep -E -B2 -A12 'Failure|FAILED|ERROR: |runtime error|WARNING: ThreadSanitizer' "$log" | head -80 || tail -40 "$log"
      exit 1
    fi
    printf 'repeat: run %2d/%d %-30s passed in %3d s\n' "$run" "$runs" "$b" "$(( $(date +%s) - t0 ))"
  done
done
echo "repeat: all ${#binaries[@]} binaries passed $runs runs in a row ($mode, load=$load) in $(( $(date +%s) - started )) s"
rm -rf "$log_dir"
