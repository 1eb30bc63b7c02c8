// The README's first screen: an expensive value computed once, however many
// threads ask for it at the same moment.
#include <dogpile/dogpile.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

int main() {
    using namespace std::chrono_literals;
    dogpile::RegionOptions options;
    options.expiration_time = 10min;
    dogpile::Region<std::string> region(std::make_shared<dogpile::MemoryBackend<std::string>>(), options);

    std::atomic<int> computed{0};
    auto expensive = [&] {
        ++computed;
        std::this_thread::sleep_for(100ms);  // a slow query, a remote call...
        return std::string("permissions of user 7 on object 42");
    };

    std::vector<std::thread> threads;
    for (int i = 0; i < 32; ++i) {
        threads.emplace_back([&] { region.get_or_create("perm:7:42", expensive); });
    }
    for (auto& t : threads) t.join();

    std::cout << "32 threads asked, the value was computed " << computed << " time(s): " << *region.get("perm:7:42")
              << "\n";
    return computed == 1 ? 0 : 1;
}
