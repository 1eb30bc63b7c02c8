#pragma once
// SymmetricMode::per_node of the symmetric store (symmetric.hpp): its three
// multi-key scripts (write, erase, invalidate) split into steps that each
// touch one hash, sent through Client::batch / eval_batch (one round trip per
// node per step). The step order keeps the invariant invalidate_b() relies on,
// "every entry has its mirror":
//   write       mirrors first, then the entries;
//   erase       entries first, then the mirrors;
//   invalidate  entries first, then the mirror fields that were read.
// What that guarantees, and the one gap under concurrency:
// docs/architecture.md, "The symmetric store's modes".
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../../details/linkage.hpp"
#include "../../../redis/client.hpp"
#include "../../../redis/command.hpp"
#include "../../../redis/script.hpp"
#include "../a2b_key.hpp"
#include "../keyed_bytes.hpp"
#include "hash_fields.hpp"
#include "hash_scripts.hpp"

namespace dogpile::redis::details {

// The store's naming and TTL arguments, as the backend holds them.
struct SymmetricLayout {
    std::string a_prefix;  // "a2b-a|"
    std::string b_prefix;  // "a2b-b|"
    std::string ttl_ms;    // "0": no TTL (ttl_policy none), plain HSET
    const char* ttl_mode = ttl_on_create;
    // Fields per script call on one hash (the backend's max_pairs_per_call).
    std::size_t max_fields_per_call = max_pairs_per_script_call;
};

// Which side an invalidation starts from.
enum class SymmetricSide { a, b };

namespace symmetric_steps {

// One hash's field writes under the TTL rule: hset-with-expiry calls of at
// most max_fields_per_call fields, or HSETs when there is no TTL.
void add_hash_write(std::vector<KeyedCommand>& out, const SymmetricLayout& layout, const std::string& hash,
                    const std::vector<std::pair<std::string_view, std::string_view>>& fields);

void run(Client& client, const std::vector<KeyedCommand>& commands, std::string_view what);

}  // namespace symmetric_steps

// All pairs (a, b_i, bytes_i) of one a, as views.
struct SymmetricWriteView {
    std::string_view a;
    std::vector<std::pair<std::string_view, std::string_view>> b_payloads;
};

// All pairs (a, b_i, payload_i) of one a, owned.
struct SymmetricWrite {
    std::string a;
    std::vector<std::pair<std::string, std::string>> b_payloads;
};

// set / set_multi: every mirror (b-side hash field a), then every entry
// (a-side hash, all its b fields in one call). Two steps, each one round
// trip per node. Throws ReplyError when a step failed (the first error).
void symmetric_write_per_node(Client& client, const SymmetricLayout& layout,
                              const std::vector<SymmetricWriteView>& writes);

// erase / erase_multi: HDEL every entry, then every mirror.
void symmetric_erase_per_node(Client& client, const SymmetricLayout& layout,
                              const std::vector<std::pair<std::string, std::string>>& pairs);

// invalidate_a(id) / invalidate_b(id): HKEYS of the id's hash, then the
// entries go, then the mirrors. Returns how many pairs the id had.
std::size_t symmetric_invalidate_per_node(Client& client, const SymmetricLayout& layout, SymmetricSide side,
                                          std::string_view id);

void symmetric_write_per_node(Client& client, const SymmetricLayout& layout, const std::vector<SymmetricWrite>& writes);

// The store's writes, grouped by a (`by_a` holds their positions).
void symmetric_write_per_node(Client& client, const SymmetricLayout& layout,
                              const std::vector<KeyedBytes<A2BKey>>& writes, const std::vector<HashGroup>& by_a);

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "symmetric_per_node-inl.hpp"
#endif
