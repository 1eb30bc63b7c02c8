#!/usr/bin/env bash
# Sanitizer runs, built with clang++ (so clang's warnings are errors too):
#   asan: the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan: the concurrency tests and the multi-threaded Redis tests under ThreadSanitizer
# Usage: scripts/sanitize.sh [--build-only] [asan|tsan]...   (default: both)
#   --build-only: configure and build the trees, run nothing (.ci/run builds a
#   tree in the background while the stage before it runs its tests).
# DOGPILE_HIREDIS_PREFIX=<prefix> builds against the hiredis installed there
# instead of the system's (scripts/lib/sanitizers.sh; .ci/run uses it for ASan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/lib/sanitizers.sh

build_only=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(asan tsan)

for mode in "${modes[@]}"; do
  tree=$(sanitizer_tree "$mode")
  configure_sanitizer_tree "$mode"
  case "$mode" in
    asan)
      cmake --build "$tree" -j"$(nproc)"
      [ "$build_only" -eq 1 ] && continue
      ctest --test-dir "$tree" --output-on-failure --label-exclude 'soak|consumer' -j2
      ;;
    tsan)
      # tests/CMakeLists.txt says which Redis tests carry the label redis_threads.
      cmake --build "$tree" -j"$(nproc)" --target dogpile_tsan_tests
      [ "$build_only" -eq 1 ] && continue
      ctest --test-dir "$tree" --output-on-failure --label-regex 'concurrency|redis_threads' -j2
      ;;
  esac
done
