# Refuses, at configure time, a hiredis whose headers and library do not
# belong together, and says which hiredis was found.
#
# Why: redisReply's layout changed between hiredis 0.14 and 1.x (1.x added
# dval and vtype), so 1.x headers linked with a 0.14 library (or the reverse)
# compile and link cleanly, then read the wrong len and str out of every reply.
# It happens with nothing more than a .pc file whose libdir points at the
# system's hiredis. The probe below is built and run with the found headers and
# library: it parses "$3\r\nabc\r\n" with the library's reader and reads the
# reply through the headers' redisReply; it also compares the headers'
# HIREDIS_SONAME with the soname of the library the program actually loaded
# (hiredis reports no version at run time; its soname is the closest thing).
#
# Used by the build and by the installed dogpileConfig.cmake (through
# dogpileDependencies.cmake), so a consumer gets the same check. The result is
# cached per (headers, library, compiler); a cross build only reports. Sets
# DOGPILE_HIREDIS_VERSION (the headers' version) and DOGPILE_HIREDIS_PREFIX.
include_guard(GLOBAL)

function(_dogpile_hiredis_header_dir out)
  get_target_property(dirs hiredis::hiredis INTERFACE_INCLUDE_DIRECTORIES)
  set(${out} "" PARENT_SCOPE)
  foreach(dir IN LISTS dirs)
    if(EXISTS "${dir}/hiredis/hiredis.h")
      set(${out} "${dir}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
endfunction()

function(_dogpile_hiredis_library_file out)
  get_target_property(location hiredis::hiredis IMPORTED_LOCATION)
  if(NOT location)
    get_target_property(configs hiredis::hiredis IMPORTED_CONFIGURATIONS)
    foreach(config IN LISTS configs)
      get_target_property(location hiredis::hiredis IMPORTED_LOCATION_${config})
      if(location)
        break()
      endif()
    endforeach()
  endif()
  set(${out} "${location}" PARENT_SCOPE)
endfunction()

function(dogpile_check_hiredis)
  if(NOT TARGET hiredis::hiredis)
    return()
  endif()
  _dogpile_hiredis_header_dir(header_dir)
  _dogpile_hiredis_library_file(library)
  set(header_version "unknown")
  if(header_dir)
    file(STRINGS "${header_dir}/hiredis/hiredis.h" defines REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH|SONAME) ")
    foreach(part IN ITEMS MAJOR MINOR PATCH SONAME)
      set(${part} "?")
      foreach(line IN LISTS defines)
        if(line MATCHES "^#define HIREDIS_${part} +([^ ]+)")
          set(${part} "${CMAKE_MATCH_1}")
        endif()
      endforeach()
    endforeach()
    set(header_version "${MAJOR}.${MINOR}.${PATCH}")
  endif()
  set(found "hiredis ${header_version} (headers ${header_dir}/hiredis, library ${library})")
  # The installed dogpileConfig.cmake records these: the compiled library must
  # be used with the hiredis it was built against (dogpileConfig.cmake.in).
  set(DOGPILE_HIREDIS_VERSION "${header_version}" PARENT_SCOPE)
  get_filename_component(prefix "${header_dir}" DIRECTORY)
  set(DOGPILE_HIREDIS_PREFIX "${prefix}" PARENT_SCOPE)

  if(CMAKE_CROSSCOMPILING OR WIN32)
    message(STATUS "dogpile: ${found}; headers and library not cross-checked (cross or Windows build)")
    return()
  endif()

  string(MD5 key "${header_dir}|${library}|${CMAKE_CXX_COMPILER}|${CMAKE_CXX_COMPILER_VERSION}")
  if(DEFINED DOGPILE_HIREDIS_MATCH_${key})
    message(STATUS "dogpile: ${found}")
    return()
  endif()

  set(probe_dir "${CMAKE_BINARY_DIR}/CMakeFiles/dogpile_hiredis_check")
  file(WRITE "${probe_dir}/probe.cpp" [=[
#include <hiredis/hiredis.h>
#include <dlfcn.h>
#include <cstdio>
#include <cstring>
#define DOGPILE_STR2(x) #x
#define DOGPILE_STR(x) DOGPILE_STR2(x)
// Prints where the library's reader was loaded from, then whether a reply the
// library built reads correctly through these headers' redisReply.
int main() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&redisReaderCreate), &info) != 0 && info.dli_fname)
    std::printf("loaded=%s\n", info.dli_fname);
  std::printf("header_soname=%s\n", DOGPILE_STR(HIREDIS_SONAME));
  redisReader* reader = redisReaderCreate();
  if (!reader) { std::printf("reply=no reader\n"); return 1; }
  const char wire[] = "$3\r\nabc\r\n";
  void* raw = nullptr;
  if (redisReaderFeed(reader, wire, sizeof wire - 1) != REDIS_OK
      || redisReaderGetReply(reader, &raw) != REDIS_OK || raw == nullptr) {
    std::printf("reply=the reader did not parse a bulk string\n");
    redisReaderFree(reader);
    return 1;
  }
  const redisReply* reply = static_cast<const redisReply*>(raw);
  int ok = reply->type == REDIS_REPLY_STRING && reply->len == 3
           && reply->str != nullptr && std::memcmp(reply->str, "abc", 3) == 0;
  if (ok) std::printf("reply=ok\n");
  else std::printf("reply=type %d len %zu instead of a string of length 3\n", reply->type,
                   static_cast<size_t>(reply->len));
  freeReplyObject(raw);
  redisReaderFree(reader);
  return ok ? 0 : 1;
}
]=])
  try_run(DOGPILE_HIREDIS_PROBE_RUN DOGPILE_HIREDIS_PROBE_COMPILE "${probe_dir}/build" "${probe_dir}/probe.cpp"
          COMPILE_DEFINITIONS -w   # the user's -Werror must not fail the probe
          LINK_LIBRARIES hiredis::hiredis ${CMAKE_DL_LIBS}
          COMPILE_OUTPUT_VARIABLE compile_output
          RUN_OUTPUT_VARIABLE run_output)

  if(NOT DOGPILE_HIREDIS_PROBE_COMPILE)
    message(FATAL_ERROR "dogpile: ${found}: a program using hiredis' reader does not build with "
                        "these headers and this library:\n${compile_output}")
  endif()
  set(loaded "${library}")
  if(run_output MATCHES "loaded=([^\n]*)")
    set(loaded "${CMAKE_MATCH_1}")
  endif()
  set(reply "the program did not run to the end (exit ${DOGPILE_HIREDIS_PROBE_RUN})")
  if(run_output MATCHES "reply=([^\n]*)")
    set(reply "${CMAKE_MATCH_1}")
  endif()
  set(library_soname "")
  if(CMAKE_READELF AND loaded MATCHES "libhiredis[^/]*\\.so" AND EXISTS "${loaded}")
    execute_process(COMMAND "${CMAKE_READELF}" -d "${loaded}" OUTPUT_VARIABLE dynamic ERROR_QUIET)
    if(dynamic MATCHES "Library soname: \\[([^]\n]+)\\]")
      set(library_soname "${CMAKE_MATCH_1}")
    endif()
  endif()
  set(problem "")
  if(NOT DOGPILE_HIREDIS_PROBE_RUN EQUAL 0 OR NOT reply STREQUAL "ok")
    set(problem "a reply parsed by the library reads wrong through the headers: ${reply}")
  elseif(library_soname AND NOT library_soname STREQUAL "libhiredis.so.${SONAME}")
    set(problem "the headers are hiredis ${header_version} (soname libhiredis.so.${SONAME}) but the library loaded is ${library_soname}")
  endif()
  if(problem)
    message(FATAL_ERROR
      "dogpile: hiredis headers and library do not match: ${problem}.\n"
      "  headers: hiredis ${header_version} in ${header_dir}/hiredis\n"
      "  headers expect the library libhiredis.so.${SONAME}\n"
      "  library: ${library} (loaded at run time: ${loaded}, soname ${library_soname})\n"
      "Point CMAKE_PREFIX_PATH (or hiredis_DIR) at one hiredis installation, or fix the libdir "
      "of the hiredis.pc that pkg-config finds; the README's Build section says how.")
  endif()
  set(DOGPILE_HIREDIS_MATCH_${key} TRUE CACHE INTERNAL "hiredis headers and library checked")
  message(STATUS "dogpile: ${found}")
endfunction()

dogpile_check_hiredis()
