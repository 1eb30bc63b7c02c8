#include <dogpile/dogpile.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#ifdef DOGPILE_PACKAGE_VERSION
// dogpileConfigVersion.cmake and dogpile/version.hpp come from one source (CMakeLists.txt).
static_assert(std::string_view(DOGPILE_VERSION_STRING) == DOGPILE_PACKAGE_VERSION,
              "the installed headers and the CMake package disagree on the version");
#endif

int main() {
    dogpile::Region<std::string> region(std::make_shared<dogpile::MemoryBackend<std::string>>());
    auto value = region.get_or_create("answer", [] { return std::string("42"); });
    std::cout << "consumer: " << value << "\n";
    return value == "42" ? 0 : 1;
}
