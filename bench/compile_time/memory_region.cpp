// A TU that uses a region over the memory backend.
#include <dogpile/backends/memory.hpp>
#include <dogpile/region.hpp>

#include <memory>
#include <string>

int main() {
    dogpile::Region<std::string> region(std::make_shared<dogpile::MemoryBackend<std::string>>());
    return region.get_or_create("key", [] { return std::string("value"); }).size() == 5 ? 0 : 1;
}
