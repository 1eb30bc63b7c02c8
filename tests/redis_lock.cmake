# Helper programs for the multi-process RedisLock tests. test_redis_lock
# spawns them (fork+exec via posix_spawn), so it depends on them and learns
# their paths at compile time.
add_executable(dogpile_stampede_worker ${CMAKE_CURRENT_SOURCE_DIR}/programs/stampede_worker.cpp)
target_link_libraries(dogpile_stampede_worker PRIVATE dogpile::redis dogpile_dev_flags)
target_include_directories(dogpile_stampede_worker PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})

if(TARGET test_redis_lock)
  add_dependencies(test_redis_lock dogpile_stampede_worker)
  target_compile_definitions(test_redis_lock PRIVATE
    DOGPILE_STAMPEDE_WORKER="$<TARGET_FILE:dogpile_stampede_worker>")
endif()
