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
#include "tests/support/tls_certificates.hpp"

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

// A TLS-only server with the test suite's throwaway certificates (generated
// with the `openssl` tool), or nullptr with the reason in `why`.
inline std::unique_ptr<RedisServer> start_tls_redis(std::string& why) {
    try {
        return std::make_unique<RedisServer>(
            dogpile::test::tls_server_options(dogpile::test::TlsCertificates::shared().server_cert()));
    } catch (const std::exception& e) {
        why = e.what();
        return nullptr;
    }
}

}  // namespace dogpile::bench
