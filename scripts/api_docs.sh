#!/usr/bin/env bash
# Builds the API reference (docs/Doxyfile) into OUT (default build/api-docs).
# Any Doxygen warning, an undocumented public name included, fails it.
# Usage: scripts/api_docs.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/api-docs}
if ! command -v doxygen >/dev/null; then
  echo "api_docs: doxygen is missing (Debian: apt-get install doxygen, or bash scripts/setup.sh)" >&2
  exit 1
fi
mkdir -p "$out"
warnings="$out/warnings.txt"
# FAIL_ON_WARNINGS lists every warning before it fails; the log keeps them.
if ! { cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; echo "WARN_LOGFILE = $warnings"; } | doxygen - ; then
  cat "$warnings" >&2
  echo "api_docs: $(grep -c ': \(warning\|error\):' "$warnings") warning(s); see $warnings" >&2
  exit 1
fi
if [ -s "$warnings" ]; then
  cat "$warnings" >&2
  echo "api_docs: warnings in $warnings" >&2
  exit 1
fi
echo "api_docs: $out/html/index.html"
