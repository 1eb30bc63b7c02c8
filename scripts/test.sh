#!/usr/bin/env bash
# The test command: sets up a fresh Debian machine if needed, builds the
# library, its tests, examples and benchmarks (warnings are errors), and runs
# the whole test suite against real redis-server processes it starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

build=${DOGPILE_BUILD_DIR:-build}
# Release at -O2: the benchmarks and examples as users build them, without the
# debug info that costs a third of their build (the tests add their own
# options: DOGPILE_TEST_COMPILE_OPTIONS).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DDOGPILE_BUILD_TESTS=ON -DDOGPILE_BUILD_EXAMPLES=ON -DDOGPILE_BUILD_BENCH=ON
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure --label-exclude soak -j2
