# Sourced by the scripts that build and run sanitizer trees (sanitize.sh,
# repeat_cluster_tests.sh): one place for their options and configure line.

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# sanitizer_tree asan|tsan: the build directory of that mode.
sanitizer_tree() {
  case "$1" in
    asan) echo build-asan ;;
    tsan) echo build-tsan ;;
    *) echo "unknown sanitizer mode: $1 (asan|tsan)" >&2; return 2 ;;
  esac
}

# configure_sanitizer_tree asan|tsan: configures that mode's tree with clang++
# (so clang's warnings are errors too), without benchmarks, examples, the
# build checks (tests/CMakeLists.txt: DOGPILE_TEST_BUILD_CHECKS) and the soak
# test, which no sanitizer run starts. The tests keep line tables, enough
# for a report's stack to name files and lines. ASan+UBSan builds them at
# -O0: clang's instrumented -O1 took 3.4x the CPU of -O0 on one TU
# (tests/test_redis_hash_backend.cpp: 115 s against 34 s), and the suite
# waits on redis-server far more than it computes. TSan keeps -O1: its
# run-time cost grows more without optimisation, and its tree is small.
# DOGPILE_HIREDIS_PREFIX: a hiredis installation to build against instead of
# the system's (scripts/build_hiredis.sh makes one; CI runs ASan on hiredis
# 1.2.0 that way). The tree forgets the hiredis it found last time, so it
# follows this variable from one run to the next; the configure prints the
# hiredis it uses.
configure_sanitizer_tree() {
  local sanitizers test_options
  case "$1" in
    asan) sanitizers="address;undefined"; test_options="-O0;-gline-tables-only" ;;
    tsan) sanitizers="thread"; test_options="-O1;-gline-tables-only" ;;
    *) echo "unknown sanitizer mode: $1 (asan|tsan)" >&2; return 2 ;;
  esac
  local hiredis=(-Uhiredis_DIR -UDOGPILE_HIREDIS_INCLUDE_DIR -UDOGPILE_HIREDIS_LIBRARY -UCMAKE_PREFIX_PATH)
  if [ -n "${DOGPILE_HIREDIS_PREFIX:-}" ]; then
    if [ ! -f "$DOGPILE_HIREDIS_PREFIX/include/hiredis/hiredis.h" ]; then
      echo "DOGPILE_HIREDIS_PREFIX=$DOGPILE_HIREDIS_PREFIX holds no include/hiredis/hiredis.h (scripts/build_hiredis.sh)" >&2
      return 1
    fi
    hiredis+=(-DCMAKE_PREFIX_PATH="$DOGPILE_HIREDIS_PREFIX")
  fi
  cmake -S . -B "$(sanitizer_tree "$1")" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDOGPILE_SANITIZE="$sanitizers" -DDOGPILE_BUILD_BENCH=OFF -DDOGPILE_BUILD_EXAMPLES=OFF \
    -DDOGPILE_TEST_BUILD_CHECKS=OFF -DDOGPILE_TEST_SOAK=OFF \
    -DDOGPILE_TEST_COMPILE_OPTIONS="$test_options" "${hiredis[@]}"
}
