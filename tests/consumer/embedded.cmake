# cmake -P script: build tests/consumer/embedded with dogpile taken in by
# add_subdirectory (MODE=add_subdirectory) or by FetchContent from a tarball of
# the source tree made here (MODE=FetchContent: no network, and the tree as it
# is now, committed or not). Then run it, and install it to check that the
# parent's install holds none of dogpile's files.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
if(MODE STREQUAL "FetchContent")
  # What a release tarball needs to configure and build as a subproject.
  run(${CMAKE_COMMAND} -E chdir ${SOURCE_DIR}
      ${CMAKE_COMMAND} -E tar czf ${WORK_DIR}/dogpile.tar.gz CMakeLists.txt LICENSE CHANGELOG.md cmake include src)
  set(how -DDOGPILE_URL=${WORK_DIR}/dogpile.tar.gz)
else()
  set(how -DDOGPILE_SOURCE=${SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/embedded -B ${WORK_DIR}/build
    -DCMAKE_CXX_COMPILER=${CXX} -DDOGPILE_CONSUME=${MODE} ${how})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
run(${CMAKE_COMMAND} --install ${WORK_DIR}/build --prefix ${WORK_DIR}/prefix)
file(GLOB_RECURSE installed RELATIVE ${WORK_DIR}/prefix ${WORK_DIR}/prefix/*)
if(NOT installed STREQUAL "bin/consumer")
  message(FATAL_ERROR "the parent's install (${MODE}) installed more than its own program: ${installed}")
endif()
