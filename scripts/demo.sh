#!/usr/bin/env bash
# The demo command: sets up a fresh Debian machine if needed, builds the
# examples, and runs examples/permissions.cpp — first on the in-process memory
# backend, then against a throwaway redis-server that this script starts on a
# free port in a temp dir and stops afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

build=${DOGPILE_BUILD_DIR:-build}
# The build type and flags of scripts/test.sh, which shares the tree: another
# configure would change every target's flags and rebuild them all.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DDOGPILE_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target example_permissions

workdir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
       || echo $(( 20000 + RANDOM % 20000 )))
redis-server --port "$port" --bind 127.0.0.1 --dir "$workdir" --save '' --appendonly no \
  --daemonize yes --pidfile "$workdir/redis.pid" --logfile "$workdir/redis.log"
cleanup() {
  if [ -f "$workdir/redis.pid" ]; then kill "$(cat "$workdir/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

"$build/examples/permissions" --redis "redis://127.0.0.1:$port"
