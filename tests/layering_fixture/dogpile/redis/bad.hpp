#pragma once
// Not compiled: check_layering.cmake must reject this client header, because
// the client layer may not include a codec (tests/CMakeLists.txt, layering_*).
#include "../codec/msgpack.hpp"
