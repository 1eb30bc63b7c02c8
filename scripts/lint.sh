#!/usr/bin/env bash
# Lint: scripts/format.sh --check, then clang-tidy with the repository's
# .clang-tidy over a few translation units that together include every header
# under include/dogpile/ (header-only and compiled-library modes). Any finding
# fails; both parts run, so one run shows everything.
#   DOGPILE_LINT_BUILD_DIR  where the compile commands are configured
#                           (default build-lint; only configured, never built)
#   DOGPILE_LINT_SKIP_FORMAT=1  skips the format check (for local runs before
#                           the tree is reformatted; CI never sets it)
#   CLANG_TIDY              another clang-tidy (the reference is Debian 12's 14)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

status=0
if [ "${DOGPILE_LINT_SKIP_FORMAT:-0}" = 1 ]; then
  echo "lint: format check skipped (DOGPILE_LINT_SKIP_FORMAT=1)"
else
  bash scripts/format.sh --check || status=1
fi

# src/dogpile_redis.cpp defines every -inl.hpp (compiled mode); the examples
# include the rest in header-only mode, the Redis conformance test the
# testing/ kit, the Prometheus test the metrics export. Together they cover include/dogpile/ (checked by the loop at
# the end, so a new header that none of them includes fails here).
units=(
  src/dogpile_redis.cpp
  examples/quickstart.cpp
  examples/permissions.cpp
  examples/config_from_env.cpp
  examples/custom_backend.cpp
  tests/test_redis_backend_conformance.cpp
  tests/test_metrics_prometheus.cpp
)

build=${DOGPILE_LINT_BUILD_DIR:-build-lint}
# Only configure: clang-tidy needs compile_commands.json, not objects. The
# header checks are generated sources that lint does not need.
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DDOGPILE_BUILD_TESTS=ON -DDOGPILE_BUILD_EXAMPLES=ON -DDOGPILE_BUILD_BENCH=OFF \
  -DDOGPILE_TEST_BUILD_CHECKS=OFF >"$build/lint-configure.log" 2>&1 \
  || { cat "$build/lint-configure.log"; exit 1; }

clang_tidy=${CLANG_TIDY:-clang-tidy}
echo "lint: $("$clang_tidy" --version | grep -i version | head -n 1 | sed 's/^ *//') over ${#units[@]} translation units"
logs=$(mktemp -d "${TMPDIR:-/tmp}/dogpile-lint.XXXXXX")
trap 'rm -rf "$logs"' EXIT
# The compile commands come from g++, whose default is C++17; clang-tidy 14's
# is C++14, so the standard is said explicitly. g++-only warning flags are
# not clang-tidy's business.
export clang_tidy build logs
tidy_failed=0
printf '%s\0' "${units[@]}" | xargs -0 -n 1 -P "$(nproc)" bash -c '
  log="$logs/$(echo "$0" | tr / _).log"
  if "$clang_tidy" -p "$build" --quiet --extra-arg=-std=c++17 --extra-arg=-Wno-unknown-warning-option \
       "$0" >"$log" 2>&1; then
    echo "lint: clang-tidy $0: clean"
  else
    echo "lint: clang-tidy $0: FAILED"
    grep -v -E "^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$" "$log" || true
    exit 1
  fi' || tidy_failed=1
[ "$tidy_failed" -eq 0 ] || status=1

# Coverage: every public header must be reached by one of the units above.
# g++ -MM lists what each includes, with the flags of its compile command.
covered=$(python3 - "$build/compile_commands.json" "${units[@]}" <<'EOF'
import json, os, shlex, subprocess, sys
db, units = sys.argv[1], sys.argv[2:]
root = os.getcwd()
seen = set()
for entry in json.load(open(db)):
    path = os.path.relpath(entry["file"], root)
    if path not in units or path in seen:
        continue
    seen.add(path)
    args = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]
    keep, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            keep.append(a)
    out = subprocess.run(keep + ["-MM", "-MT", "x", "-w"], cwd=entry["directory"],
                         capture_output=True, text=True, check=True).stdout
    for dep in out.replace("\\\n", " ").split()[1:]:
        print(os.path.relpath(os.path.realpath(os.path.join(entry["directory"], dep)), root))
EOF
)
uncovered=$(comm -23 <(git ls-files 'include/dogpile/*.hpp' | sort -u) \
                     <(printf '%s\n' "$covered" | sort -u))
if [ -n "$uncovered" ]; then
  echo "lint: these headers are in none of the linted units (add a unit to scripts/lint.sh):"
  printf '%s\n' "$uncovered" | sed 's/^/  /'
  status=1
fi

[ "$status" -eq 0 ] && echo "lint: passed" || echo "lint: FAILED"
exit "$status"
