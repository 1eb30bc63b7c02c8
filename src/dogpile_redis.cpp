// The dogpile::redis_compiled library: every non-template definition of the
// Redis client and the byte stores, compiled once (details/linkage.hpp).
#ifndef DOGPILE_COMPILED_LIB
#error "src/dogpile_redis.cpp is built with DOGPILE_COMPILED_LIB (the dogpile::redis_compiled target sets it)"
#endif
#define DOGPILE_BUILDING_LIB

#include "dogpile/redis.hpp"
#include "dogpile/backends/redis/config.hpp"  // not in the umbrella: settings are opt-in
#include "dogpile/redis/prometheus.hpp"       // not in the umbrella: metrics are opt-in
