#!/usr/bin/env bash
# Sanitizer runs, built with clang++ (so clang's warnings are errors too):
#   asan: the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan: the concurrency and Redis tests under ThreadSanitizer
# Usage: scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/lib/sanitizers.sh

modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(asan tsan)

for mode in "${modes[@]}"; do
  tree=$(sanitizer_tree "$mode")
  configure_sanitizer_tree "$mode"
  case "$mode" in
    asan)
      cmake --build "$tree" -j"$(nproc)"
      ctest --test-dir "$tree" --output-on-failure --label-exclude soak -E install_and_find_package -j2
      ;;
    tsan)
      targets=()
      for src in tests/test_concurrency_*.cpp tests/test_redis_*.cpp; do
        [ -e "$src" ] && targets+=(--target "$(basename "${src%.cpp}")")
      done
      cmake --build "$tree" -j"$(nproc)" "${targets[@]}"
      ctest --test-dir "$tree" --output-on-failure --label-regex 'concurrency|redis' -j2
      ;;
  esac
done
