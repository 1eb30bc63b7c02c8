#!/usr/bin/env bash
# The test command: sets up a fresh Debian machine if needed, builds the
# library, its tests, examples and benchmarks (warnings are errors), and runs
# the whole test suite against real redis-server processes it starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

build=${DOGPILE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDOGPILE_BUILD_TESTS=ON -DDOGPILE_BUILD_EXAMPLES=ON -DDOGPILE_BUILD_BENCH=ON
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure --label-exclude soak -j2
