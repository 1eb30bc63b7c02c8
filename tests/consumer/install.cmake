# cmake -P script, the consumer_install fixture: installs the build tree into
# the prefix that the find_package and pkg-config consumers share.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
file(REMOVE_RECURSE ${PREFIX})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})
