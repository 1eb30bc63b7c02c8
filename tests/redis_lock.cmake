# Helper programs for the multi-process RedisLock tests. test_redis_lock
# spawns them (fork+exec via posix_spawn), so it depends on them and learns
# their paths at compile time.
add_executable(dogpile_stampede_worker ${CMAKE_CURRENT_SOURCE_DIR}/programs/stampede_worker.cpp)
target_link_libraries(dogpile_stampede_worker PRIVATE dogpile::redis dogpile_dev_flags dogpile_test_program_flags)
target_include_directories(dogpile_stampede_worker PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})

foreach(lock_test IN ITEMS test_redis_lock test_redis_lock_compiled)
  if(TARGET ${lock_test})
    add_dependencies(${lock_test} dogpile_stampede_worker)
    target_compile_definitions(${lock_test} PRIVATE
      DOGPILE_STAMPEDE_WORKER="$<TARGET_FILE:dogpile_stampede_worker>")
  endif()
endforeach()
