# Proves find_package(dogpile CONFIG REQUIRED) works from an install tree:
# install into a scratch prefix, then configure, build and run tests/consumer.
set(_consumer_dir ${CMAKE_CURRENT_BINARY_DIR}/consumer)
add_test(NAME install_and_find_package
  COMMAND ${CMAKE_COMMAND}
    -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
    -DBUILD_DIR=${PROJECT_BINARY_DIR}
    -DWORK_DIR=${_consumer_dir}
    -DCXX=${CMAKE_CXX_COMPILER}
    -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.cmake)
set_tests_properties(install_and_find_package PROPERTIES LABELS unit TIMEOUT 600)
