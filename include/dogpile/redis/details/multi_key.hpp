#pragma once
// Multi-key commands in a cluster. A command naming several keys runs on one
// node only when all its keys share a slot (else the server answers
// CROSSSLOT). The commands below are independent per key, so a cluster
// client splits them into one command per slot, runs those (grouped by
// node, one pipeline per node), and merges the replies into the reply one
// server would have given:
//
//   MGET k...          array of the values, in the order asked
//   DEL / UNLINK / EXISTS / TOUCH k...   sum of the integers
//   MSET k v k v...    OK when every part answered OK
//
// The split command is not atomic across slots (nor is it on one server
// with respect to keys on other servers): each part is.
//
// Merged replies are built by serialising the parts to RESP and parsing that
// with hiredis' own reader, so they are ordinary Reply objects.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../details/linkage.hpp"
#include "../command.hpp"
#include "../errors.hpp"
#include "../reply.hpp"
#include "../slot.hpp"
#include "ascii.hpp"
#include "group_positions.hpp"

namespace dogpile::redis::details {

enum class MergeKind { values, sum, all_ok };

// How a splittable command lays out its keys: arguments from `first`, one
// key every `step` arguments.
struct MultiKeyShape {
    MergeKind merge;
    std::size_t step;
};

std::optional<MultiKeyShape> multi_key_shape(const Command& cmd) noexcept;

// One per-slot part of a split command.
struct SplitPart {
    int slot;
    Command command;
    std::vector<std::size_t> positions;  // key positions (0-based) of the original it carries
};

// The per-slot parts of `cmd`, or nothing when it needs no split (not a
// splittable command, malformed, or all keys in one slot).
std::optional<std::vector<SplitPart>> split_by_slot(const Command& cmd);

// A Reply parsed from RESP text by hiredis' reader.
Reply reply_from_resp(const std::string& resp);

void append_bulk_or_nil(std::string& out, const Reply& element);

// Merges the parts' replies (in part order) into the reply of the original
// command. An error reply of any part is the merged reply (the first one).
Reply merge_split_replies(const Command& original, const std::vector<SplitPart>& parts,
                          const std::vector<Reply>& replies);

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "multi_key-inl.hpp"
#endif
