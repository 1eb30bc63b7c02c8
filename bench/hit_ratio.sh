#!/usr/bin/env bash
# The hit-ratio table of docs/performance.md: every trace of the shared trace set at the
# capacities the project uses, replayed by bench/hit_ratio.cpp, then a second
# table of generated workloads (hit_ratio --synthetic).
#   bench/hit_ratio.sh [TRACE_DIR] [BUILD_DIR]
# TRACE_DIR defaults to ../shared/traces (next to the repository); BUILD_DIR
# to build-bench, where the Release target hit_ratio is built if missing. The
# traces stay compressed where they are: each is decompressed into a pipe.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
traces=${1:-$root/../shared/traces}
build=${2:-$root/build-bench}

if [[ ! -x $build/bench/hit_ratio ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDOGPILE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j2 --target dogpile_hit_ratio >/dev/null
fi

lirs="250,500,1000"
"$build/bench/hit_ratio" \
  --trace loop lirs <(zcat "$traces/loop.trace.gz") "$lirs" \
  --trace multi1 lirs <(zcat "$traces/multi1.trace.gz") "$lirs" \
  --trace multi2 lirs <(zcat "$traces/multi2.trace.gz") "$lirs" \
  --trace sprite lirs <(zcat "$traces/sprite.trace.gz") "$lirs" \
  --trace 2_pools lirs <(zcat "$traces/2_pools.trace.gz") "$lirs" \
  --trace web07 cache2k <(xzcat "$traces/web07.trace.xz") "1000,3000"
# Generated workloads that pull both ways (frequency, recency, scans), so the
# policy is not tuned to the files above only.
echo
"$build/bench/hit_ratio" --synthetic
