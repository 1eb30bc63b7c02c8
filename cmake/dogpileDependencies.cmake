# Locates dogpile's optional dependencies and gives each one stable target name:
#   dogpile_msgpack  -> msgpack-cxx (header-only)   (found when dogpile_msgpack_FOUND)
#   hiredis::hiredis -> hiredis 1.x CMake target (CMAKE_PREFIX_PATH or
#                       hiredis_DIR), or Debian's 0.14 (or any hiredis) through
#                       pkg-config / a plain header and library search; its
#                       headers and library are checked to match
#                       (dogpileHiredisCheck.cmake).
# Used by the build and by the installed dogpileConfig.cmake, so consumers
# resolve the same targets.
include_guard(GLOBAL)

if(NOT TARGET dogpile_msgpack)
  find_package(msgpack-cxx CONFIG QUIET)
  if(TARGET msgpack-cxx)
    set(_dogpile_msgpack_target msgpack-cxx)
  else()
    find_package(msgpack CONFIG QUIET)
    if(TARGET msgpackc-cxx)
      set(_dogpile_msgpack_target msgpackc-cxx)
    endif()
  endif()
  if(NOT _dogpile_msgpack_target)
    find_path(DOGPILE_MSGPACK_INCLUDE_DIR msgpack.hpp)
  endif()
  if(_dogpile_msgpack_target OR DOGPILE_MSGPACK_INCLUDE_DIR)
    add_library(dogpile_msgpack INTERFACE IMPORTED GLOBAL)
    if(_dogpile_msgpack_target)
      set_target_properties(dogpile_msgpack PROPERTIES INTERFACE_LINK_LIBRARIES ${_dogpile_msgpack_target})
    else()
      set_target_properties(dogpile_msgpack PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${DOGPILE_MSGPACK_INCLUDE_DIR}")
    endif()
    set_property(TARGET dogpile_msgpack APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS MSGPACK_NO_BOOST)
  endif()
endif()
set(dogpile_msgpack_FOUND FALSE)
if(TARGET dogpile_msgpack)
  set(dogpile_msgpack_FOUND TRUE)
endif()

# DOGPILE_BUILT_HIREDIS_PREFIX: set by the installed dogpileConfig.cmake to the
# hiredis dogpile was built against, searched after the consumer's own
# CMAKE_PREFIX_PATH / hiredis_DIR and before the system.
if(NOT TARGET hiredis::hiredis)
  find_package(hiredis CONFIG QUIET HINTS ${DOGPILE_BUILT_HIREDIS_PREFIX})   # hiredis >= 1.0 ships hiredis::hiredis
endif()
if(NOT TARGET hiredis::hiredis)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(DOGPILE_PC_HIREDIS QUIET hiredis)
  endif()
  set(_dogpile_built_hiredis_include)
  set(_dogpile_built_hiredis_lib)
  if(DOGPILE_BUILT_HIREDIS_PREFIX)
    set(_dogpile_built_hiredis_include ${DOGPILE_BUILT_HIREDIS_PREFIX}/include)
    set(_dogpile_built_hiredis_lib ${DOGPILE_BUILT_HIREDIS_PREFIX}/lib ${DOGPILE_BUILT_HIREDIS_PREFIX}/${CMAKE_INSTALL_LIBDIR})
  endif()
  find_path(DOGPILE_HIREDIS_INCLUDE_DIR hiredis/hiredis.h
            HINTS ${_dogpile_built_hiredis_include} ${DOGPILE_PC_HIREDIS_INCLUDEDIR}/.. ${DOGPILE_PC_HIREDIS_INCLUDE_DIRS})
  find_library(DOGPILE_HIREDIS_LIBRARY NAMES hiredis
               HINTS ${_dogpile_built_hiredis_lib} ${DOGPILE_PC_HIREDIS_LIBDIR} ${DOGPILE_PC_HIREDIS_LIBRARY_DIRS})
  if(DOGPILE_HIREDIS_INCLUDE_DIR AND DOGPILE_HIREDIS_LIBRARY)
    add_library(hiredis::hiredis UNKNOWN IMPORTED GLOBAL)
    set_target_properties(hiredis::hiredis PROPERTIES
      IMPORTED_LOCATION "${DOGPILE_HIREDIS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${DOGPILE_HIREDIS_INCLUDE_DIR}")
  endif()
endif()
set(dogpile_hiredis_FOUND FALSE)
if(TARGET hiredis::hiredis)
  set(dogpile_hiredis_FOUND TRUE)
  # Fails the configure when the headers and the library are different hiredis.
  include(${CMAKE_CURRENT_LIST_DIR}/dogpileHiredisCheck.cmake)
endif()
