# The hash store's Python interop check as its own ctest entry, so it can be
# run alone (ctest -R redis_hash_store_interop). The C++ side lives in
# test_redis_hash_backend.cpp (HashStoreInterop.*), which owns the
# redis-server and drives tests/interop/hash_store_interop.py with
# /usr/bin/python3 (python3-redis and python3-msgpack; missing modules fail
# the test with the apt-get hint, they never skip it).
if(TARGET test_redis_hash_backend)
  add_test(NAME redis_hash_store_interop
    COMMAND test_redis_hash_backend --gtest_filter=HashStoreInterop.*)
  # A filter that matched nothing would pass vacuously: require the one test to pass.
  set_tests_properties(redis_hash_store_interop PROPERTIES LABELS redis TIMEOUT 300
    PASS_REGULAR_EXPRESSION "\\[  PASSED  \\] 1 test\\."
    FAIL_REGULAR_EXPRESSION "\\[  FAILED  \\]")
endif()
