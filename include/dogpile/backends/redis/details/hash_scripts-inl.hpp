#pragma once
// Definitions of hash_scripts.hpp (details/linkage.hpp: inline when header-only).

#include "hash_scripts.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE const Script& hset_with_expiry_script() {
    static const Script script(R"lua(-- dogpile hset-with-expiry v1
local key = KEYS[1]
local set_ttl = ARGV[2] == '1' or redis.call('PTTL', key) < 0
local added = redis.call('HSET', key, unpack(ARGV, 3))
if set_ttl then redis.call('PEXPIRE', key, ARGV[1]) end
return added
)lua");
    return script;
}

DOGPILE_INLINE const Script& symmetric_write_script() {
    static const Script script(R"lua(-- dogpile a2b write v1
local ttl = ARGV[1]
local refresh = ARGV[2] == '1'
local a = ARGV[3]
local function write(key, field, value)
  local set_ttl = ttl ~= '0' and (refresh or redis.call('PTTL', key) < 0)
  redis.call('HSET', key, field, value)
  if set_ttl then redis.call('PEXPIRE', key, ttl) end
end
for k = 2, #KEYS do
  local payload = ARGV[2 * k + 1]
  write(KEYS[1], ARGV[2 * k], payload)
  write(KEYS[k], a, payload)
end
return #KEYS - 1
)lua");
    return script;
}

DOGPILE_INLINE const Script& hdel_each_script() {
    static const Script script(R"lua(-- dogpile hdel-each v1
local deleted = 0
for i = 1, #KEYS do deleted = deleted + redis.call('HDEL', KEYS[i], ARGV[i]) end
return deleted
)lua");
    return script;
}

DOGPILE_INLINE const Script& invalidate_mirrored_script() {
    static const Script script(R"lua(-- dogpile a2b invalidate v1
local others = redis.call('HKEYS', KEYS[1])
for _, other in ipairs(others) do redis.call('HDEL', ARGV[1] .. other, ARGV[2]) end
redis.call('DEL', KEYS[1])
return #others
)lua");
    return script;
}

}  // namespace dogpile::redis::details
