#!/usr/bin/env bash
# The whole test suite (the README's test command's build, soak excluded),
# several times in a row with every core kept busy (stress-ng): no test may
# depend on how fast the scheduler is. Stops at the first failing run.
#   scripts/test_under_load.sh [runs]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
build=${DOGPILE_BUILD_DIR:-build}
bash scripts/setup.sh
# Release at -O2: the benchmarks and examples as users build them, without the
# debug info that costs a third of their build (the tests add their own
# options: DOGPILE_TEST_COMPILE_OPTIONS).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DDOGPILE_BUILD_TESTS=ON -DDOGPILE_BUILD_EXAMPLES=ON -DDOGPILE_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
source scripts/lib/cpu_hog.sh
start_cpu_hog
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  if ! ctest --test-dir "$build" --output-on-failure --label-exclude soak -j2 >"/tmp/dogpile-under-load.$run.log" 2>&1; then
    echo "under load: run $run/$runs FAILED; see /tmp/dogpile-under-load.$run.log"
    grep -E "tests passed|\(Failed\)|\(Timeout\)" "/tmp/dogpile-under-load.$run.log" || true
    exit 1
  fi
  echo "under load: run $run/$runs passed in $(( $(date +%s) - started )) s: $(grep 'tests passed' "/tmp/dogpile-under-load.$run.log")"
done
echo "under load: $runs runs in a row green"
