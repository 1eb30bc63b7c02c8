# Sourced: start_cpu_hog keeps every core busy (stress-ng) until the script
# exits, for runs that must stay green on a loaded machine.
start_cpu_hog() {
  stress-ng --cpu "$(nproc)" --quiet &
  local pid=$!
  # shellcheck disable=SC2064  # the pid is meant to be expanded now
  trap "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true" EXIT
  echo "cpu hog: stress-ng --cpu $(nproc) (pid $pid) until exit"
}
