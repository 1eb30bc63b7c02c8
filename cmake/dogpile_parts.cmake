# Resolves DOGPILE_BUILD_TESTS, DOGPILE_BUILD_EXAMPLES and DOGPILE_BUILD_BENCH
# (AUTO, ON or OFF in the cache) into ON or OFF, as normal variables that the
# rest of the build reads (issue 18: a plain `cmake -S . -B build && cmake
# --install build` must not need GoogleTest or Google Benchmark).
#   AUTO: ON when dogpile is the top-level project and the part's dependencies
#         are found; otherwise OFF, with a message saying what was skipped and why.
#   ON:   a missing dependency fails the configure, naming the Debian package.
#   OFF:  OFF.
# The cache keeps AUTO, so installing a dependency later turns the part on at
# the next configure.
include_guard(GLOBAL)

# _dogpile_resolve_part(PART description [found-variable "what (Debian: package)"]...)
function(_dogpile_resolve_part part description)
  set(missing)
  set(pairs ${ARGN})
  while(pairs)
    list(POP_FRONT pairs found what)
    if(NOT ${found})
      list(APPEND missing "${what}")
    endif()
  endwhile()
  list(JOIN missing ", " missing)
  set(option DOGPILE_BUILD_${part})
  set(value "${${option}}")
  if(value STREQUAL "AUTO")
    if(NOT DOGPILE_TOP_LEVEL)
      message(STATUS "dogpile: ${description} skipped: dogpile is not the top-level project")
      set(value OFF)
    elseif(missing)
      message(STATUS "dogpile: ${description} skipped: ${missing} not found "
                     "(-D${option}=ON makes this an error, -D${option}=OFF silences it)")
      set(value OFF)
    else()
      set(value ON)
    endif()
  elseif(value)
    if(missing)
      message(FATAL_ERROR "${option}=ON but ${description} need ${missing}, not found. "
                          "Install it, or configure with -D${option}=OFF.")
    endif()
    set(value ON)
  else()
    set(value OFF)
  endif()
  set(${option} ${value} PARENT_SCOPE)
endfunction()

# Whether a part may be built: only then are its dependencies looked up.
function(_dogpile_part_wanted part out)
  set(value "${DOGPILE_BUILD_${part}}")
  if((value STREQUAL "AUTO" AND DOGPILE_TOP_LEVEL) OR (NOT value STREQUAL "AUTO" AND value))
    set(${out} ON PARENT_SCOPE)
  else()
    set(${out} OFF PARENT_SCOPE)
  endif()
endfunction()

set(_dogpile_msgpack_hint "msgpack-cxx (Debian: libmsgpack-cxx-dev)")
set(_dogpile_hiredis_hint "hiredis (Debian: libhiredis-dev)")

_dogpile_part_wanted(TESTS _dogpile_want_tests)
if(_dogpile_want_tests)
  find_package(GTest QUIET)
endif()
_dogpile_resolve_part(TESTS "the tests"
  GTest_FOUND "GoogleTest (Debian: libgtest-dev)"
  dogpile_hiredis_FOUND "${_dogpile_hiredis_hint}"
  dogpile_msgpack_FOUND "${_dogpile_msgpack_hint}")

_dogpile_resolve_part(EXAMPLES "the examples"
  dogpile_hiredis_FOUND "${_dogpile_hiredis_hint}"
  dogpile_msgpack_FOUND "${_dogpile_msgpack_hint}")

_dogpile_part_wanted(BENCH _dogpile_want_bench)
if(_dogpile_want_bench)
  find_package(benchmark QUIET)
endif()
_dogpile_resolve_part(BENCH "the benchmarks"
  benchmark_FOUND "Google Benchmark (Debian: libbenchmark-dev)"
  dogpile_hiredis_FOUND "${_dogpile_hiredis_hint}"
  dogpile_msgpack_FOUND "${_dogpile_msgpack_hint}")
