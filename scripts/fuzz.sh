#!/usr/bin/env bash
# Builds the libFuzzer targets (clang++, ASan+UBSan) and runs each one for
# the given number of seconds on a scratch copy of its seed corpus.
#   scripts/fuzz.sh [seconds-per-target]   (default 60)
#   scripts/fuzz.sh --build-only            (build, run nothing: .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_only=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
seconds=${1:-60}
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOGPILE_FUZZ=ON \
  -DDOGPILE_BUILD_TESTS=OFF -DDOGPILE_BUILD_EXAMPLES=OFF -DDOGPILE_BUILD_BENCH=OFF
cmake --build build-fuzz -j"$(nproc)" --target dogpile_fuzz
[ "$build_only" -eq 1 ] && exit 0
bash fuzz/run_all.sh build-fuzz "$seconds"
