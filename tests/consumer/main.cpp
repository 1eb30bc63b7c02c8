#include <dogpile/dogpile.hpp>

#include <iostream>
#include <memory>
#include <string>

int main() {
    dogpile::Region<std::string> region(std::make_shared<dogpile::MemoryBackend<std::string>>());
    auto value = region.get_or_create("answer", [] { return std::string("42"); });
    std::cout << "consumer: " << value << "\n";
    return value == "42" ? 0 : 1;
}
