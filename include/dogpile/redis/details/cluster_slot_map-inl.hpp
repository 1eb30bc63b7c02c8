#pragma once
// Definitions of cluster_slot_map.hpp (details/linkage.hpp: inline when header-only).

#include "cluster_slot_map.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE ClusterNodePtr SlotMap::master_of(int slot) const {
    const auto m = owner_of(slot);
    return m ? masters[*m] : nullptr;
}

DOGPILE_INLINE void SlotMap::assign(int slot, const ClusterNodePtr& master) {
    owner[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(master_index(master));
}

DOGPILE_INLINE std::size_t SlotMap::master_index(const ClusterNodePtr& node) {
    const auto it = std::find(masters.begin(), masters.end(), node);
    if (it != masters.end()) return static_cast<std::size_t>(it - masters.begin());
    masters.push_back(node);
    replicas.emplace_back();
    return masters.size() - 1;
}

DOGPILE_INLINE bool SlotMap::same_owners(const SlotMap& other) const noexcept {
    for (std::size_t slot = 0; slot < owner.size(); ++slot) {
        const ClusterNode* mine = owner[slot] < 0 ? nullptr : masters[static_cast<std::size_t>(owner[slot])].get();
        const ClusterNode* theirs =
            other.owner[slot] < 0 ? nullptr : other.masters[static_cast<std::size_t>(other.owner[slot])].get();
        if (mine != theirs) return false;
    }
    return true;
}

}  // namespace dogpile::redis::details
