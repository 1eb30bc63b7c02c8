# pkg-config files for builds without CMake: dogpile.pc (dogpile::dogpile) and
# dogpile-redis.pc (dogpile::redis), installed to <libdir>/pkgconfig.
#
# Their flags are the CMake targets' own, read through generator expressions
# (transitive over INTERFACE_LINK_LIBRARIES, so msgpack's MSGPACK_NO_BOOST and
# MSGPACK_DEFAULT_API_VERSION, and DOGPILE_HAS_TLS with TLS, come along) rather
# than written a second time here. Dependencies go in as the build found them:
# include directories the compiler does not search by itself, and the hiredis
# and OpenSSL library files (Debian's msgpack-cxx ships no .pc to Require, and
# naming the very hiredis dogpile was built against keeps a 0.14/1.x mix out:
# cmake/dogpileHiredisCheck.cmake says why that matters).
#
# The prefix is ${pcfiledir}-relative, so `cmake --install --prefix` anywhere
# (and a moved install tree) still gives the right -I.
include_guard(GLOBAL)

set(_dogpile_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${_dogpile_pc_dir}")
  set(DOGPILE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _dogpile_pc_up "/prefix/${_dogpile_pc_dir}" "/prefix")
  string(REGEX REPLACE "/$" "" _dogpile_pc_up "${_dogpile_pc_up}")
  set(DOGPILE_PC_PREFIX "\${pcfiledir}/${_dogpile_pc_up}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(DOGPILE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(DOGPILE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# dogpile's own include directory and the compiler's are left out of -I.
set(_dogpile_pc_skip_dirs "${PROJECT_SOURCE_DIR}/include" ${CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES})
list(TRANSFORM _dogpile_pc_skip_dirs REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1")
list(JOIN _dogpile_pc_skip_dirs "|" _dogpile_pc_skip_regex)
set(_dogpile_pc_skip_regex "^(${_dogpile_pc_skip_regex})/?$")

# The -I and -D flags a user of `target` compiles with.
function(_dogpile_pc_cflags target out)
  set(dirs "$<REMOVE_DUPLICATES:$<FILTER:$<TARGET_PROPERTY:${target},INTERFACE_INCLUDE_DIRECTORIES>,EXCLUDE,${_dogpile_pc_skip_regex}>>")
  set(defs "$<REMOVE_DUPLICATES:$<TARGET_PROPERTY:${target},INTERFACE_COMPILE_DEFINITIONS>>")
  set(${out} "$<$<BOOL:${dirs}>:-I$<JOIN:${dirs}, -I>> $<$<BOOL:${defs}>:-D$<JOIN:${defs}, -D>>" PARENT_SCOPE)
endfunction()

# Writes <libdir>/pkgconfig/<name>.pc from cmake/<name>.pc.in and installs it.
function(_dogpile_pc_file name target)
  _dogpile_pc_cflags(${target} DOGPILE_PC_CFLAGS)
  set(DOGPILE_PC_LIBS "${ARGN}")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${name}.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc.gen @ONLY)
  file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc INPUT ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc.gen)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc DESTINATION ${_dogpile_pc_dir})
endfunction()

_dogpile_pc_file(dogpile dogpile)
if(dogpile_hiredis_FOUND)
  set(_dogpile_pc_redis_libs "$<TARGET_LINKER_FILE:hiredis::hiredis>")
  if(DOGPILE_TLS_ENABLED)
    string(APPEND _dogpile_pc_redis_libs " $<TARGET_LINKER_FILE:OpenSSL::SSL> $<TARGET_LINKER_FILE:OpenSSL::Crypto>")
  endif()
  _dogpile_pc_file(dogpile-redis dogpile_redis "${_dogpile_pc_redis_libs}")
endif()
