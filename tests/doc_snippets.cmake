# Every C++ block of the README and docs compiles (scripts/check_doc_snippets.py
# says how fragments are marked), with this build's compiler and the msgpack,
# hiredis, OpenSSL and GoogleTest it found: the include directories and
# definitions a dogpile::redis (and conformance kit) user gets. A second test
# proves the check fails on a block that does not compile. Label docs.
if(DOGPILE_TEST_BUILD_CHECKS)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  # $<TARGET_PROPERTY> of an interface property follows INTERFACE_LINK_LIBRARIES,
  # so these are the directories and definitions dogpile::redis's users compile
  # with. dogpile's own directory is -I (its warnings count), the dependencies'
  # -isystem as CMake passes imported targets', except the compiler's own
  # (-isystem /usr/include breaks libstdc++'s #include_next). One argument per
  # target and per directory: add_test would split a list into arguments.
  set(_snippet_arguments)
  foreach(target IN ITEMS dogpile_redis GTest::gtest)
    list(APPEND _snippet_arguments
         --system-include-dirs "$<TARGET_PROPERTY:${target},INTERFACE_INCLUDE_DIRECTORIES>"
         --defines "$<TARGET_PROPERTY:${target},INTERFACE_COMPILE_DEFINITIONS>")
  endforeach()
  foreach(dir IN LISTS CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    list(APPEND _snippet_arguments --implicit-include-dirs ${dir})
  endforeach()
  set(_snippet_command ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/check_doc_snippets.py
      --root ${PROJECT_SOURCE_DIR}
      --compiler ${CMAKE_CXX_COMPILER}
      --include-dirs ${PROJECT_SOURCE_DIR}/include
      ${_snippet_arguments}
      --jobs 2)
  add_test(NAME docs_cpp_blocks_compile COMMAND ${_snippet_command})
  set_tests_properties(docs_cpp_blocks_compile PROPERTIES LABELS docs TIMEOUT 900 PROCESSORS 2)
  add_test(NAME docs_check_rejects_a_block_that_does_not_compile
    COMMAND ${_snippet_command} ${CMAKE_CURRENT_SOURCE_DIR}/doc_snippets_fixture/broken.md)
  set_tests_properties(docs_check_rejects_a_block_that_does_not_compile PROPERTIES LABELS docs TIMEOUT 300
    PASS_REGULAR_EXPRESSION
      "tests/doc_snippets_fixture/broken\\.md:11: C\\+\\+ block \\(fragment\\) does not compile: tests/doc_snippets_fixture/broken\\.md:14:[0-9]+: error: [^\n]*Region")
endif()
