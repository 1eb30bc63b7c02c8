#!/usr/bin/env bash
# How long one translation unit takes to compile with dogpile's headers
# (g++ -O0, the edit-compile loop), against an empty TU and against the
# third-party headers alone (hiredis + msgpack-c), measured in the same run.
#
#   bench/compile_time.sh                                   median of 5 compiles per TU
#   COMPILE_RUNS=9 CXX=clang++ bench/compile_time.sh
#   BASELINE_INCLUDE_DIR=/tmp/old/include bench/compile_time.sh
#       adds the same TUs compiled against another tree's headers (for example
#       `git archive <rev> include | tar -x -C /tmp/old`), interleaved round by
#       round with this tree's, and the ratio between the two
#
# Prints a Markdown table. The TUs are in bench/compile_time/: the umbrella
# headers alone, a region over the memory backend, and a region over the
# Redis hash store with values-only flags and the distributed lock (the
# library's workload, as an application writes it). A TU named `x+compiled` is
# x.cpp built with DOGPILE_COMPILED_LIB, as a user of dogpile::redis_compiled
# builds it (the library's own source, compiled once, is not counted).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cxx=${CXX:-g++}
runs=${COMPILE_RUNS:-5}
baseline=${BASELINE_INCLUDE_DIR:-}
tus=(empty dependencies umbrellas memory_region redis_region redis_region+compiled)
trees=(this)
[[ -n $baseline ]] && trees+=(baseline)

include_of() { if [[ $1 == baseline ]]; then echo "$baseline"; else echo "$root/include"; fi; }
source_of() { echo "$root/bench/compile_time/${1%+compiled}.cpp"; }
mode_flags_of() { if [[ $1 == *+compiled ]]; then echo "-DDOGPILE_COMPILED_LIB"; fi; }

# Milliseconds of one compile.
compile_ms() {
  local start end
  start=$(date +%s%N)
  # shellcheck disable=SC2046
  "$cxx" -std=c++17 -O0 -DMSGPACK_DEFAULT_API_VERSION=3 -DMSGPACK_NO_BOOST $(mode_flags_of "$2") \
    -I"$(include_of "$1")" -c -o /dev/null "$(source_of "$2")"
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A samples lines ms
for tree in "${trees[@]}"; do
  for tu in "${tus[@]}"; do
    # shellcheck disable=SC2046
    lines[$tree/$tu]=$("$cxx" -std=c++17 -E -DMSGPACK_NO_BOOST $(mode_flags_of "$tu") -I"$(include_of "$tree")" \
      "$(source_of "$tu")" | wc -l)
  done
done
# Rounds interleave TUs and trees, so that a burst of load hits all of them alike.
for ((round = 0; round < runs; round++)); do
  for tu in "${tus[@]}"; do
    for tree in "${trees[@]}"; do samples[$tree/$tu]+="$(compile_ms "$tree" "$tu") "; done
  done
done
for key in "${!samples[@]}"; do ms[$key]=$(median "${samples[$key]}"); done

printf '%s -O0, median of %d compiles per TU, %s\n\n' "$("$cxx" --version | head -1)" "$runs" "$(date -u +%Y-%m-%d)"
if [[ -z $baseline ]]; then
  printf '| translation unit | preprocessed lines | seconds | × hiredis+msgpack alone |\n|---|---:|---:|---:|\n'
  for tu in "${tus[@]}"; do
    printf '| %s | %s | %s | %s |\n' "$tu" "${lines[this/$tu]}" "$(seconds "${ms[this/$tu]}")" \
      "$(ratio "${ms[this/$tu]}" "${ms[this/dependencies]}")"
  done
else
  printf 'baseline headers: %s\n\n' "$baseline"
  printf '| translation unit | lines, baseline | lines, this tree | seconds, baseline | seconds, this tree | this ÷ baseline |\n'
  printf '|---|---:|---:|---:|---:|---:|\n'
  for tu in "${tus[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s |\n' "$tu" "${lines[baseline/$tu]}" "${lines[this/$tu]}" \
      "$(seconds "${ms[baseline/$tu]}")" "$(seconds "${ms[this/$tu]}")" \
      "$(ratio "${ms[this/$tu]}" "${ms[baseline/$tu]}")"
  done
fi
