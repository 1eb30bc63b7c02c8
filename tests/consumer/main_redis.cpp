#include <dogpile/redis.hpp>

int main() { return 0; }
