# The ways a user takes dogpile in, each proven as that user would
# (label consumer; scripts/sanitize.sh leaves them to the plain build):
#   consumer_install            fixture: cmake --install into one scratch prefix
#   install_and_find_package    find_package(dogpile CONFIG) from that prefix (tests/consumer)
#   consumer_pkg_config         pkg-config --cflags --libs dogpile-redis from that prefix
#   consumer_add_subdirectory   add_subdirectory(dogpile-source) (tests/consumer/embedded)
#   consumer_fetch_content      FetchContent from a tarball of the source tree
# Each consumer compiles and runs its own small TUs; ctest prints what each costs.
set(_consumer_dir ${CMAKE_CURRENT_BINARY_DIR}/consumer)
set(_consumer_prefix ${_consumer_dir}/prefix)
set(_consumer_script_dir ${CMAKE_CURRENT_SOURCE_DIR}/consumer)
find_program(DOGPILE_PKG_CONFIG NAMES pkg-config pkgconf)

add_test(NAME consumer_install
  COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DPREFIX=${_consumer_prefix}
          -P ${_consumer_script_dir}/install.cmake)
set_tests_properties(consumer_install PROPERTIES FIXTURES_SETUP dogpile_installed)

add_test(NAME install_and_find_package
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DPREFIX=${_consumer_prefix}
          -DWORK_DIR=${_consumer_dir}/find_package -DCXX=${CMAKE_CXX_COMPILER} -DVERSION=${PROJECT_VERSION}
          -P ${_consumer_script_dir}/run.cmake)
add_test(NAME consumer_pkg_config
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DPREFIX=${_consumer_prefix}
          -DLIBDIR=${CMAKE_INSTALL_LIBDIR} -DWORK_DIR=${_consumer_dir}/pkg_config -DCXX=${CMAKE_CXX_COMPILER}
          -DPKG_CONFIG=${DOGPILE_PKG_CONFIG} -DVERSION=${PROJECT_VERSION}
          -P ${_consumer_script_dir}/pkg_config.cmake)
set_tests_properties(install_and_find_package consumer_pkg_config PROPERTIES FIXTURES_REQUIRED dogpile_installed)

foreach(mode IN ITEMS add_subdirectory FetchContent)
  string(TOLOWER "${mode}" name)
  string(REPLACE "fetchcontent" "fetch_content" name "${name}")
  add_test(NAME consumer_${name}
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DMODE=${mode}
            -DWORK_DIR=${_consumer_dir}/${name} -DCXX=${CMAKE_CXX_COMPILER}
            -P ${_consumer_script_dir}/embedded.cmake)
endforeach()

set_tests_properties(consumer_install install_and_find_package consumer_pkg_config
                     consumer_add_subdirectory consumer_fetch_content
                     PROPERTIES LABELS consumer TIMEOUT 600)
