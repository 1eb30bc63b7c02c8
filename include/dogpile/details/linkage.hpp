#pragma once
// Header-only or compiled: where the non-template Redis client and byte
// stores are compiled (docs/architecture.md, "Header-only or compiled").
//
// Header-only (the default): each such header includes its `-inl.hpp` at the
// end, and DOGPILE_INLINE makes the definitions inline.
//
// DOGPILE_COMPILED_LIB (the dogpile::redis_compiled CMake target sets it for
// its users): the headers only declare, and the library's one source file,
// src/dogpile_redis.cpp, defines DOGPILE_BUILDING_LIB to compile every
// definition once with external linkage. Every TU of a program must agree.
//
// A virtual member defined in an -inl.hpp is also declared DOGPILE_INLINE in
// its class: header-only, a virtual declared without `inline` but defined
// inline would be the class's key function, and every TU that includes the
// header would emit the vtable and all it reaches (the emitted-code ctest).

#if defined(DOGPILE_COMPILED_LIB)
#define DOGPILE_INLINE
#if defined(DOGPILE_BUILDING_LIB)
#define DOGPILE_INCLUDE_DEFINITIONS 1
#else
#define DOGPILE_INCLUDE_DEFINITIONS 0
#endif
#else
#define DOGPILE_HEADER_ONLY 1
#define DOGPILE_INLINE inline
#define DOGPILE_INCLUDE_DEFINITIONS 1
#endif
