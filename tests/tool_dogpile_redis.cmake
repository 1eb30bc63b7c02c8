# test_tool_dogpile_redis runs the built dogpile-redis binary (tools/), so it
# depends on it and learns its path at compile time. The tool is added after
# the tests (top-level CMakeLists.txt); $<TARGET_FILE> resolves at generation.
if(DOGPILE_BUILD_TOOLS AND TARGET test_tool_dogpile_redis)
  add_dependencies(test_tool_dogpile_redis dogpile_redis_tool)
  target_compile_definitions(test_tool_dogpile_redis PRIVATE
    DOGPILE_REDIS_TOOL="$<TARGET_FILE:dogpile_redis_tool>")
endif()
