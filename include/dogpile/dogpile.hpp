#pragma once
// Umbrella header: the core and the in-process backends. Needs only the
// standard library; codecs are in dogpile/codec/, Redis in dogpile/redis.hpp.

/// \namespace dogpile
/// dogpile-cpp: regions that compute each value once (Region, the dogpile lock), the
/// Backend interface and its in-process backends, memoize, configuration from settings.

#include "backend.hpp"
#include "backends/memory.hpp"
#include "backends/metrics_proxy.hpp"
#include "backends/null.hpp"
#include "backends/proxy.hpp"
#include "cached_value.hpp"
#include "clock.hpp"
#include "dogpile_lock.hpp"
#include "errors.hpp"
#include "expiration.hpp"
#include "key_mangler.hpp"
#include "lock.hpp"
#include "memoize.hpp"
#include "memoize_multi.hpp"
#include "region.hpp"
#include "region_options.hpp"
#include "version.hpp"
