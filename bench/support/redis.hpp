#pragma once
// A throwaway redis-server for the tools: the test suite's launcher (free
// loopback port + unix socket in a fresh temp dir, persistence off, killed
// with the tool if the tool dies), but a missing redis-server is reported to
// the caller instead of thrown, because a benchmark without Redis can still
// measure everything else.

#include <exception>
#include <memory>
#include <string>

#include "tests/support/redis_server.hpp"

namespace dogpile::bench {

using RedisServer = dogpile::test::RedisServer;

// The server, or nullptr with the reason (including the install hint) in `why`.
inline std::unique_ptr<RedisServer> start_redis(std::string& why) {
    try {
        return std::make_unique<RedisServer>();
    } catch (const std::exception& e) {
        why = e.what();
        return nullptr;
    }
}

}  // namespace dogpile::bench
