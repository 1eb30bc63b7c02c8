#pragma once
// group_positions: the positions 0..count-1 grouped by a key, for sending
// one command or pipeline per group (the keys of a split multi-key command
// by slot, a cluster batch by node). Needs only the standard library.

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

namespace dogpile::redis::details {

template <class Key>
struct PositionGroup {
    Key key;
    std::vector<std::size_t> positions;  // ascending
};

// Groups in order of first appearance. Keys are compared with ==, by linear
// search: meant for few groups (nodes of a cluster, slots of one command).
template <class KeyAt>
auto group_positions(std::size_t count, KeyAt&& key_at) {
    using Key = std::decay_t<decltype(key_at(std::size_t{0}))>;
    std::vector<PositionGroup<Key>> groups;
    for (std::size_t i = 0; i < count; ++i) {
        Key key = key_at(i);
        auto group =
            std::find_if(groups.begin(), groups.end(), [&key](const PositionGroup<Key>& g) { return g.key == key; });
        if (group == groups.end()) {
            groups.push_back(PositionGroup<Key>{std::move(key), {}});
            group = groups.end() - 1;
        }
        group->positions.push_back(i);
    }
    return groups;
}

}  // namespace dogpile::redis::details
