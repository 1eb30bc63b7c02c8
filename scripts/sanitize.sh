#!/usr/bin/env bash
# Sanitizer runs, built with clang++ (so clang's warnings are errors too):
#   asan: the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan: the concurrency and Redis tests under ThreadSanitizer
# Usage: scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(asan tsan)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

configure() {  # dir sanitizers
  cmake -S . -B "$1" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDOGPILE_SANITIZE="$2" -DDOGPILE_BUILD_BENCH=OFF -DDOGPILE_BUILD_EXAMPLES=OFF
}

for mode in "${modes[@]}"; do
  case "$mode" in
    asan)
      configure build-asan "address;undefined"
      cmake --build build-asan -j"$(nproc)"
      ctest --test-dir build-asan --output-on-failure --label-exclude soak -E install_and_find_package -j2
      ;;
    tsan)
      configure build-tsan thread
      targets=()
      for src in tests/test_concurrency_*.cpp tests/test_redis_*.cpp; do
        [ -e "$src" ] && targets+=(--target "$(basename "${src%.cpp}")")
      done
      cmake --build build-tsan -j"$(nproc)" "${targets[@]}"
      ctest --test-dir build-tsan --output-on-failure --label-regex 'concurrency|redis' -j2
      ;;
    *) echo "unknown mode: $mode (asan|tsan)" >&2; exit 2 ;;
  esac
done
