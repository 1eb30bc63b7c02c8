// Writing your own backend: the backend is in custom_backend.hpp; this
// program puts a region in front of it.
#include "custom_backend.hpp"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

int main() {
    dogpile::Region<int> region(std::make_shared<LoggingMapBackend<int>>());
    std::cout << "first call (miss, creates):\n";
    int a = region.get_or_create("answer", [] { return 42; });
    std::cout << "second call (hit):\n";
    int b = region.get_or_create("answer", [] { return -1; });
    std::cout << "multi call (creates only the missing key):\n";
    auto values = region.get_or_create_multi({"answer", "other"}, [](const std::vector<std::string>& missing) {
        return std::vector<int>(missing.size(), 7);
    });
    std::cout << a << " " << b << " " << values[0] << " " << values[1] << "\n";
    return (a == 42 && b == 42 && values[1] == 7) ? 0 : 1;
}
