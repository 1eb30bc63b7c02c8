#pragma once
// The body both stampede workers share: `threads` callers each count
// themselves in `<ns>arrived`, then ask `region` for `key`; the creator counts
// itself in `<ns>creations` and returns only once all `callers` (across every
// process) have arrived, so the others really contend for the lock. Each
// caller's result is pushed to `<ns>results`. Returns the process exit code.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/details/random.hpp>
#include <dogpile/redis/client.hpp>

namespace dogpile::test {

template <class Region, class Key>
int run_stampede_callers(const char* program, dogpile::redis::Client& client, Region& region, const Key& key,
                         const std::string& ns, std::size_t threads, long long callers) {
    using namespace std::chrono_literals;
    const std::string arrived = ns + "arrived";
    const std::string creations = ns + "creations";
    const std::string results = ns + "results";

    auto creator = [&]() -> std::string {
        client.command(creations, {"INCR", creations});
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        for (;;) {
            const auto reply = client.command(arrived, {"GET", arrived});
            if (!reply.is_nil() && std::stoll(reply.as_string()) >= callers) break;
            if (std::chrono::steady_clock::now() >= deadline) {
                throw std::runtime_error("not all " + std::to_string(callers) + " callers arrived within 20 s");
            }
            std::this_thread::sleep_for(1ms);
        }
        return "created-by-" + std::to_string(::getpid()) + "-" + dogpile::details::random_hex(8);
    };

    std::atomic<int> failures{0};
    std::mutex print;
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            try {
                client.command(arrived, {"INCR", arrived});
                const std::string value = region.get_or_create(key, creator);
                client.command(results, {"RPUSH", results, value});
            } catch (const std::exception& e) {
                failures.fetch_add(1);
                std::lock_guard<std::mutex> lk(print);
                std::fprintf(stderr, "%s %d: %s\n", program, static_cast<int>(::getpid()), e.what());
            }
        });
    }
    for (auto& t : pool) t.join();
    return failures.load() == 0 ? 0 : 1;
}

}  // namespace dogpile::test
