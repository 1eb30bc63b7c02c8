# The worker process of the distributed stampede test on a Redis Cluster.
# test_redis_cluster_failover spawns it (posix_spawn), so it depends on it and
# learns its path at compile time.
add_executable(dogpile_cluster_stampede_worker ${CMAKE_CURRENT_SOURCE_DIR}/programs/cluster_stampede_worker.cpp)
target_link_libraries(dogpile_cluster_stampede_worker PRIVATE dogpile::redis dogpile_dev_flags dogpile_test_program_flags)

if(TARGET test_redis_cluster_failover)
  add_dependencies(test_redis_cluster_failover dogpile_cluster_stampede_worker)
  target_compile_definitions(test_redis_cluster_failover PRIVATE
    DOGPILE_CLUSTER_STAMPEDE_WORKER="$<TARGET_FILE:dogpile_cluster_stampede_worker>")
endif()
