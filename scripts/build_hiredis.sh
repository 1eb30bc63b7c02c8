#!/usr/bin/env bash
# Builds hiredis from an unmodified source tarball into a prefix, so dogpile can
# be built and tested against a hiredis other than the system's (CI builds
# 1.2.0 this way: Debian 12 ships 0.14.1). Without TLS: dogpile does not use
# hiredis' TLS. Idempotent: a prefix already built from the same tarball is
# left alone. Prints the prefix it installed into.
#   scripts/build_hiredis.sh [TARBALL] PREFIX
#     TARBALL defaults to ../shared/third_party/hiredis-1.2.0.tar.gz, relative
#     to the repository root (not to the current directory).
# Then: cmake -S . -B build -DCMAKE_PREFIX_PATH=PREFIX
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

case $# in
  1) tarball=$repo/../shared/third_party/hiredis-1.2.0.tar.gz; prefix=$1 ;;
  2) tarball=$1; prefix=$2 ;;
  *) echo "usage: $0 [TARBALL] PREFIX" >&2; exit 2 ;;
esac
if [ ! -f "$tarball" ]; then
  echo "build_hiredis: no hiredis source tarball at $tarball" >&2
  echo "build_hiredis: CI expects ../shared/third_party/hiredis-1.2.0.tar.gz beside the repository" >&2
  exit 1
fi
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
stamp=$prefix/.dogpile-hiredis-source
checksum=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$checksum" ] \
   && [ -f "$prefix/include/hiredis/hiredis.h" ]; then
  echo "build_hiredis: $prefix already holds hiredis from $(basename "$tarball")"
  echo "$prefix"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
source_dir=$(find "$work" -mindepth 2 -maxdepth 2 -name hiredis.h -printf '%h\n' | head -n1)
if [ -z "$source_dir" ]; then
  echo "build_hiredis: $tarball holds no hiredis.h one directory down" >&2
  exit 1
fi
cmake -S "$source_dir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
  -DENABLE_SSL=OFF -DDISABLE_TESTS=ON -DENABLE_EXAMPLES=OFF >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" -j"$(nproc)" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; exit 1; }
cmake --install "$work/build" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; exit 1; }
echo "$checksum" > "$stamp"
version=$(sed -n 's/^#define HIREDIS_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$prefix/include/hiredis/hiredis.h" | paste -sd.)
echo "build_hiredis: hiredis $version installed into $prefix"
echo "$prefix"
