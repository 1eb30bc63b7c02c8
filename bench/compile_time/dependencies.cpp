// What the third-party headers alone cost: hiredis and msgpack-c.
#include <hiredis/hiredis.h>
#include <msgpack.hpp>

int main() { return 0; }
