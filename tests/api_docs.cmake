# The API reference builds without a warning: every public name is documented
# (docs/Doxyfile, scripts/api_docs.sh). Doxygen takes about two seconds.
# Label docs. Only where the build checks run (not in the sanitizer trees).
if(DOGPILE_TEST_BUILD_CHECKS)
  add_test(NAME api_reference_has_no_warnings
    COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/api_docs.sh ${CMAKE_BINARY_DIR}/api-docs)
  set_tests_properties(api_reference_has_no_warnings PROPERTIES LABELS docs TIMEOUT 120)
endif()
