#pragma once
// The one place dogpile includes msgpack-c. Marked as a system header so that
// anything msgpack-c's macros expand into here cannot fail a -Werror build; the
// msgpack headers themselves are warning-free under -Wall -Wextra -Wpedantic
// with msgpack-cxx 4.1 (g++ 12, clang++ 14) even outside the system path.
//
// dogpile uses msgpack-cxx without Boost: CMake's dogpile::dogpile target
// defines MSGPACK_NO_BOOST; users building without CMake should define it too.

#if defined(__GNUC__)
#pragma GCC system_header
#endif

#include <msgpack.hpp>
