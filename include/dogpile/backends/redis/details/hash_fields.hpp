#pragma once
// What the hash store (hash_store.hpp) and the symmetric store
// (symmetric_store.hpp) share: key checks, lock resource names, grouping by
// hash, the reads (HGET, and grouped HMGETs in one round trip) and the
// checking of pipelined write replies.

#include <algorithm>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../../details/linkage.hpp"
#include "../../../errors.hpp"
#include "../../../redis/client.hpp"
#include "../../../redis/command.hpp"
#include "../../../redis/errors.hpp"
#include "../../../redis/reply.hpp"
#include "../backend_options.hpp"
#include "payload.hpp"
#include "whole_hash_reads.hpp"

namespace dogpile::redis::details {

// The distributed lock resource of one hash field: "<hash length>:<hash>|<field>".
// The length makes it unambiguous (hash "a|b" field "c" and hash "a" field
// "b|c" must not share a lock: get_or_create_multi may hold both at once).
std::string hash_field_lock_resource(std::string_view hash, std::string_view field);

std::string describe_field(std::string_view hash, std::string_view field);

// Throws LimitExceeded when a key part is longer than limits.max_key_bytes.
void check_key_bytes(std::string_view bytes, const BackendLimits& limits, std::string_view what);

void check_hash_field(std::string_view hash, std::string_view field, const BackendLimits& limits);

// Pipelined writes return error replies in place; the write as a whole failed
// if any of them is one. Throws ReplyError with the first error and a count.
void throw_if_any_error(const std::vector<Reply>& replies, std::string_view operation);

bool concerns_the_connection(std::string_view error_message);

// Positions of `count` entries grouped by hash, hashes in order of first
// appearance. `hash_at(i)` is the i-th entry's hash, or std::nullopt to leave
// it out; the views must outlive the groups.
struct HashGroup {
    std::string_view hash;
    std::vector<std::size_t> positions;
};

template <class HashAt>
std::vector<HashGroup> group_by_hash(std::size_t count, HashAt&& hash_at) {
    std::vector<HashGroup> groups;
    std::unordered_map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < count; ++i) {
        const std::optional<std::string_view> hash = hash_at(i);
        if (!hash) continue;
        const auto [it, inserted] = index.try_emplace(*hash, groups.size());
        if (inserted) groups.push_back(HashGroup{*hash, {}});
        groups[it->second].positions.push_back(i);
    }
    return groups;
}

// One field of a hash, as views that stay valid during a read.
struct FieldRef {
    std::string_view hash;
    std::string_view field;
};

// HGET: the stored bytes (a string reply), or std::nullopt. Throws
// LimitExceeded for an over-long key (nothing is sent).
std::optional<Reply> read_field(Client& client, FieldRef key, const BackendLimits& limits);

// One HMGET per distinct hash and per max_fields_per_read of its fields, all
// pipelined: one round trip on a single server whatever the number of keys or
// hashes (a cluster client groups them per node). The stored bytes in the
// order of `keys`; an over-long key, a non-string value or an error reply for
// one HMGET turns only the entries concerned into misses, each counted and
// reported through the store's hook. With `whole_hash`, a hash of which most
// fields are asked may be read by one HGETALL instead (whole_hash_reads.hpp),
// still in the same round trip.
std::vector<std::optional<Reply>> read_fields(Client& client, const std::vector<FieldRef>& keys,
                                              const BackendLimits& limits, std::size_t max_fields_per_read,
                                              const StoreStatistics& statistics, WholeHashReads* whole_hash = nullptr);

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "hash_fields-inl.hpp"
#endif
