# A TU that includes dogpile's headers and uses nothing must emit no code of
# dogpile's: a class whose key function is defined in a header (a virtual
# member declared without `inline`, defined `inline` out of class) makes every
# TU emit its vtable and everything it reaches, seconds of compile time each.
#   cmake -DOBJECT=<file.o> -DNM=<nm> [-DPATTERN=<regex>] -P check_no_emitted_code.cmake
# PATTERN narrows the check to the symbols it matches (default: any of dogpile's).
execute_process(COMMAND ${NM} -C ${OBJECT} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${OBJECT}")
endif()
if(NOT DEFINED PATTERN)
  set(PATTERN "dogpile")
endif()
string(REPLACE "\n" ";" lines "${symbols}")
set(emitted "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-f]+ [TtWwVv] .*${PATTERN}")
    list(APPEND emitted "${line}")
  endif()
endforeach()
list(LENGTH emitted count)
if(count GREATER 0)
  list(SUBLIST emitted 0 10 first)
  string(REPLACE ";" "\n  " first "${first}")
  if(PATTERN STREQUAL "dogpile")
    message(FATAL_ERROR "${OBJECT} uses nothing but defines ${count} symbols of dogpile's, e.g.\n  ${first}")
  endif()
  message(FATAL_ERROR "${OBJECT} defines ${count} symbols of dogpile's matching ${PATTERN}, e.g.\n  ${first}")
endif()
message(STATUS "no code of dogpile's emitted by ${OBJECT}")
