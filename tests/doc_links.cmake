# Every relative link of the README and docs resolves, to a file and, for a
# #fragment, to a heading of it (scripts/check_doc_links.py); a second test
# proves the check rejects a missing file and a missing heading. Both take
# well under a second. Label docs.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME docs_links_resolve
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/check_doc_links.py --root ${PROJECT_SOURCE_DIR})
set_tests_properties(docs_links_resolve PROPERTIES LABELS docs TIMEOUT 60)
add_test(NAME docs_link_check_rejects_a_broken_link
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/check_doc_links.py --root ${PROJECT_SOURCE_DIR}
          ${CMAKE_CURRENT_SOURCE_DIR}/doc_links_fixture/broken.md)
set_tests_properties(docs_link_check_rejects_a_broken_link PROPERTIES LABELS docs TIMEOUT 60
  PASS_REGULAR_EXPRESSION
    "broken\\.md:5: \\.\\./\\.\\./docs/no-such-guide\\.md: no such file[^\n]*\n[^\n]*broken\\.md:6: \\.\\./\\.\\./README\\.md#no-such-heading: no heading with anchor #no-such-heading in README\\.md\n1 Markdown file\\(s\\), 2 broken link\\(s\\)")
