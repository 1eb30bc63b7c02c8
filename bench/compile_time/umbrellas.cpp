// Both umbrella headers, nothing used.
#include <dogpile/dogpile.hpp>
#include <dogpile/redis.hpp>

int main() { return 0; }
