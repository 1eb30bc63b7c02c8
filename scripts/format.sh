#!/usr/bin/env bash
# clang-format over the tracked C++ files, with the repository's .clang-format.
#   scripts/format.sh           formats them in place
#   scripts/format.sh --check   changes nothing; lists the files clang-format
#                               would change and exits 1 if there is any
# CLANG_FORMAT=<binary> picks another clang-format. The reference is Debian
# 12's clang-format 14 (what CI has): other major versions place a few tokens
# differently, so --check with them may list files that CI accepts.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null; then
  echo "format.sh: $clang_format not found (bash scripts/setup.sh installs Debian's clang-format)" >&2
  exit 2
fi
version=$("$clang_format" --version)
case "$version" in
  *"version 14."*) ;;
  *) echo "format.sh: warning: $version; the reference is clang-format 14 (Debian 12)" >&2 ;;
esac

# The fixtures are inputs to checks that inspect them (tests/CMakeLists.txt:
# the emitted-code and layering checks): they stay byte for byte as written.
mapfile -t files < <(git ls-files -- '*.hpp' '*.cpp' '*.h' | grep -v -E '^tests/[a-z_]+_fixture/')
# The check below splits names on spaces.
if printf '%s\n' "${files[@]}" | grep -q ' '; then echo "format.sh: a C++ file name with a space" >&2; exit 2; fi
[ ${#files[@]} -gt 0 ] || { echo "format.sh: no tracked C++ files" >&2; exit 2; }

if [ "$check" -eq 0 ]; then
  printf '%s\0' "${files[@]}" | xargs -0 -n 32 -P "$(nproc)" "$clang_format" -i --style=file
  exit 0
fi

# One clang-format per batch of files prints one <replacements> block per file,
# in argument order; a block with a <replacement> names an unformatted file.
# A crash, or a block count that does not match, fails the check.
unformatted=$(printf '%s\0' "${files[@]}" \
  | xargs -0 -n 40 -P "$(nproc)" bash -c '
      set -o pipefail
      "$0" --style=file --output-replacements-xml "$@" | awk -v names="$*" "
        BEGIN { n = split(names, file, \" \") }
        /^<replacements / { i++ }
        /^<replacement / { bad[i] = 1 }
        END { for (k in bad) print file[k]; if (i != n) exit 3 }
      " || { echo "format.sh: $0 failed on a batch starting at $1" >&2; exit 255; }' "$clang_format" \
  | sort)
if [ -n "$unformatted" ]; then
  count=$(printf '%s\n' "$unformatted" | wc -l)
  echo "format.sh: $count of ${#files[@]} files are not clang-formatted (run: bash scripts/format.sh):"
  printf '%s\n' "$unformatted" | sed 's/^/  /'
  exit 1
fi
echo "format.sh: ${#files[@]} files clang-formatted"
