# The helper program for the cross-process invalidation tests:
# test_redis_invalidation spawns four of them (posix_spawn), so it depends on
# the program and learns its path at compile time.
add_executable(dogpile_invalidation_worker ${CMAKE_CURRENT_SOURCE_DIR}/programs/invalidation_worker.cpp)
target_link_libraries(dogpile_invalidation_worker PRIVATE dogpile::redis dogpile_dev_flags dogpile_test_program_flags)

if(TARGET test_redis_invalidation)
  add_dependencies(test_redis_invalidation dogpile_invalidation_worker)
  target_compile_definitions(test_redis_invalidation PRIVATE
    DOGPILE_INVALIDATION_WORKER="$<TARGET_FILE:dogpile_invalidation_worker>")
endif()
