#pragma once
// The Lua scripts of the hash stores (hash_store.hpp and
// symmetric_store.hpp). They run with EVALSHA (script.hpp reloads
// them after NOSCRIPT) and take every user byte through KEYS and ARGV, never
// by splicing it into the source, so keys, fields and payloads may hold any
// bytes.
//
// The TTL rule, shared by all writes: when ttl_policy is on_create the TTL is
// set only if the hash had none before the write (PTTL < 0: it did not exist,
// or somebody created it without a TTL); a later write to another field never
// prolongs it. refresh_on_write sets it on every write. Reading PTTL and
// writing happen in one script, so no other client can slip in between.

#include <cstddef>

#include "../../../details/linkage.hpp"
#include "../../../redis/script.hpp"

namespace dogpile::redis::details {

// Argument values of the TTL mode.
inline constexpr const char* ttl_on_create = "0";
inline constexpr const char* ttl_refresh = "1";

// Largest number of field/value pairs one script call carries. Lua 5.1's
// unpack() fails beyond ~8000 values (LUAI_MAXCSTACK), so bigger writes are
// split into several calls (pipelined together).
inline constexpr std::size_t max_pairs_per_script_call = 3000;

// KEYS[1]: the hash.
// ARGV[1]: TTL in milliseconds. ARGV[2]: ttl_refresh or ttl_on_create.
// ARGV[3], ARGV[4], ...: field, value, field, value, ...
// Returns the number of fields that were new.
const Script& hset_with_expiry_script();

// The symmetric store's write: every pair (a, b_i) lands in both directions,
// a-side hash field b_i and b-side hash field a, with the same payload and
// the same TTL rule, atomically.
// KEYS[1]: the a-side hash (a2b-a|<a>). KEYS[1 + i]: the b-side hash of pair i (a2b-b|<b_i>).
// ARGV[1]: TTL in milliseconds, "0" for none. ARGV[2]: ttl_refresh or ttl_on_create.
// ARGV[3]: a. ARGV[2 + 2i], ARGV[3 + 2i]: b_i and the payload of pair i.
// Returns the number of pairs written.
const Script& symmetric_write_script();

// Deletes one field from each of several hashes atomically (a symmetric pair
// is removed from both directions at once, so no reader or invalidation can
// see one direction without the other).
// KEYS[i]: a hash. ARGV[i]: the field to delete from it.
// Returns the number of fields deleted.
const Script& hdel_each_script();

// Invalidates one id of the symmetric store: every field of its hash names a
// mirror hash (prefix .. field) that holds the id as a field; those fields
// are deleted, then the hash itself. The mirror hashes are derived inside the
// script, so they are not in KEYS: this runs on one server (or, in a cluster,
// only where all the keys share a slot; see RedisSymmetricBackend).
// KEYS[1]: the id's hash (a2b-a|<a> or a2b-b|<b>).
// ARGV[1]: the mirror prefix (a2b-b| or a2b-a|). ARGV[2]: the id.
// Returns the number of mirror entries removed.
const Script& invalidate_mirrored_script();

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "hash_scripts-inl.hpp"
#endif
