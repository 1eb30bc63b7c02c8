#!/usr/bin/env bash
# How long one translation unit takes to compile with dogpile's headers
# (g++ -O0, the edit-compile loop), against an empty TU and against the
# third-party headers alone (hiredis + msgpack-c), measured in the same run.
#
#   bench/compile_time.sh              median of 5 compiles per TU
#   COMPILE_RUNS=9 CXX=clang++ bench/compile_time.sh
#
# Prints a Markdown table. The TUs are in bench/compile_time/: the umbrella
# headers alone, a region over the memory backend, and a region over the
# Redis hash store with values-only flags and the distributed lock (the
# library's workload, as an application writes it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cxx=${CXX:-g++}
runs=${COMPILE_RUNS:-5}
flags=(-std=c++17 -O0 -DMSGPACK_DEFAULT_API_VERSION=3 -DMSGPACK_NO_BOOST -I"$root/include" -c -o /dev/null)
tus=(empty dependencies umbrellas memory_region redis_region)

# Wall seconds of one compile, to the millisecond.
compile_seconds() {
  local start end
  start=$(date +%s%N)
  "$cxx" "${flags[@]}" "$root/bench/compile_time/$1.cpp"
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

declare -A median_ms lines
for tu in "${tus[@]}"; do
  lines[$tu]=$("$cxx" -std=c++17 -E -DMSGPACK_NO_BOOST -I"$root/include" "$root/bench/compile_time/$tu.cpp" | wc -l)
done
# Rounds interleave the TUs so that a burst of load hits all of them alike.
declare -A samples
for ((round = 0; round < runs; round++)); do
  for tu in "${tus[@]}"; do samples[$tu]+="$(compile_seconds "$tu") "; done
done
for tu in "${tus[@]}"; do
  median_ms[$tu]=$(tr ' ' '\n' <<<"${samples[$tu]}" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
done

printf '%s -O0, median of %d compiles, %s\n\n' "$("$cxx" --version | head -1)" "$runs" "$(date -u +%Y-%m-%d)"
printf '| translation unit | preprocessed lines | seconds | × hiredis+msgpack alone |\n|---|---:|---:|---:|\n'
deps=${median_ms[dependencies]}
for tu in "${tus[@]}"; do
  ms=${median_ms[$tu]}
  printf '| %s | %s | %d.%03d | %s |\n' "$tu" "${lines[$tu]}" $((ms / 1000)) $((ms % 1000)) \
    "$(awk -v a="$ms" -v b="$deps" 'BEGIN { printf "%.2f", a / b }')"
done
