#!/usr/bin/env bash
# Runs every dogpile fuzz target for <seconds> on a scratch copy of its seed
# corpus (the repository is never written to). Exits non-zero if any target
# finds a crash, an unexpected exception, a leak, a timeout or an allocation
# over the malloc limit; the reproducer is kept in <build-dir>/fuzz-artifacts/.
#
#   fuzz/run_all.sh <build-dir> <seconds> [extra libFuzzer flags...]
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 <build-dir> <seconds-per-target> [libFuzzer flags...]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
seconds=$2
shift 2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
targets=(fuzz_values fuzz_flags fuzz_bitpacked fuzz_msgpack fuzz_envelope)
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The targets run side by side, one per core (DOGPILE_FUZZ_JOBS overrides):
# each still gets its full <seconds> of one core, and the stage takes
# ceil(targets / cores) x <seconds> instead of targets x <seconds>.
jobs=${DOGPILE_FUZZ_JOBS:-$(nproc)}
declare -A running=()   # pid -> target
failed=()

# Waits for one running target and prints its result.
finish_one() {
  local pid status=0
  wait -n -p pid "${!running[@]}" || status=$?
  local target=${running[$pid]}
  unset "running[$pid]"
  echo "=== $target: ${seconds}s"
  if [[ $status -eq 0 ]]; then
    grep -E '^(Done|stat::number_of_executed_units)' "$scratch/$target.log" || true
  else
    echo "!!! $target failed; log tail:" >&2
    tail -n 40 "$scratch/$target.log" >&2
    failed+=("$target")
  fi
}

for target in "${targets[@]}"; do
  binary="$build_dir/fuzz/$target"
  if [[ ! -x "$binary" ]]; then
    echo "missing $binary: configure with -DCMAKE_CXX_COMPILER=clang++ -DDOGPILE_FUZZ=ON and build target dogpile_fuzz" >&2
    exit 2
  fi
done
for target in "${targets[@]}"; do
  binary="$build_dir/fuzz/$target"
  corpus="$scratch/$target"
  mkdir -p "$corpus"
  cp "$here/corpus/$target/"* "$corpus/"
  # Inputs are at most 4 KiB, so no decode has a reason to allocate 256 MiB.
  "$binary" "$corpus" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -malloc_limit_mb=256 -rss_limit_mb=2048 \
    -dict="$here/msgpack.dict" -artifact_prefix="$artifacts/$target-" -print_final_stats=1 "$@" \
    >"$scratch/$target.log" 2>&1 &
  running[$!]=$target
  while [[ ${#running[@]} -ge $jobs ]]; do finish_one; done
done
while [[ ${#running[@]} -gt 0 ]]; do finish_one; done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]} (reproducers in $artifacts)" >&2
  exit 1
fi
echo "all ${#targets[@]} fuzz targets ran clean"
