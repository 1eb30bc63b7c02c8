#pragma once
// Definitions of symmetric_per_node.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>

#include "symmetric_per_node.hpp"

namespace dogpile::redis::details {

namespace symmetric_steps {

DOGPILE_INLINE void add_hash_write(std::vector<KeyedCommand>& out, const SymmetricLayout& layout,
                                   const std::string& hash,
                                   const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
    const std::size_t chunk = std::max<std::size_t>(1, std::min(layout.max_fields_per_call, max_pairs_per_script_call));
    for (std::size_t begin = 0; begin < fields.size(); begin += chunk) {
        const std::size_t end = std::min(fields.size(), begin + chunk);
        Command cmd;
        if (layout.ttl_ms == "0") {
            cmd = Command{"HSET", hash};
        } else {
            cmd = Command{"EVALSHA", hset_with_expiry_script().sha1(), "1", hash, layout.ttl_ms, layout.ttl_mode};
        }
        for (std::size_t i = begin; i < end; ++i) cmd.arg(fields[i].first).arg(fields[i].second);
        out.push_back(KeyedCommand{hash, std::move(cmd)});
    }
}

DOGPILE_INLINE void run(Client& client, const std::vector<KeyedCommand>& commands, std::string_view what) {
    if (commands.empty()) return;
    throw_if_any_error(client.batch(commands, {&hset_with_expiry_script()}), what);
}

}  // namespace symmetric_steps

DOGPILE_INLINE void symmetric_write_per_node(Client& client, const SymmetricLayout& layout,
                                             const std::vector<SymmetricWriteView>& writes) {
    std::vector<KeyedCommand> mirrors;
    std::vector<KeyedCommand> entries;
    for (const auto& w : writes) {
        for (const auto& [b, payload] : w.b_payloads) {
            symmetric_steps::add_hash_write(mirrors, layout, layout.b_prefix + std::string(b), {{w.a, payload}});
        }
        symmetric_steps::add_hash_write(entries, layout, layout.a_prefix + std::string(w.a), w.b_payloads);
    }
    symmetric_steps::run(client, mirrors, "redis a2b write, mirrors (per node)");
    symmetric_steps::run(client, entries, "redis a2b write, entries (per node)");
}

DOGPILE_INLINE void symmetric_erase_per_node(Client& client, const SymmetricLayout& layout,
                                             const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::vector<KeyedCommand> entries;
    std::vector<KeyedCommand> mirrors;
    for (const auto& [a, b] : pairs) {
        const std::string a_hash = layout.a_prefix + a;
        const std::string b_hash = layout.b_prefix + b;
        entries.push_back(KeyedCommand{a_hash, Command{"HDEL", a_hash, b}});
        mirrors.push_back(KeyedCommand{b_hash, Command{"HDEL", b_hash, a}});
    }
    symmetric_steps::run(client, entries, "redis a2b erase, entries (per node)");
    symmetric_steps::run(client, mirrors, "redis a2b erase, mirrors (per node)");
}

DOGPILE_INLINE std::size_t symmetric_invalidate_per_node(Client& client, const SymmetricLayout& layout,
                                                         SymmetricSide side, std::string_view id) {
    const std::string own = (side == SymmetricSide::a ? layout.a_prefix : layout.b_prefix) + std::string(id);
    const std::string& other_prefix = side == SymmetricSide::a ? layout.b_prefix : layout.a_prefix;
    const std::vector<std::string> others = client.command(own, {"HKEYS", own}).as_strings();
    if (others.empty()) return 0;

    std::vector<KeyedCommand> in_others;
    for (const auto& other : others) {
        const std::string hash = other_prefix + other;
        in_others.push_back(KeyedCommand{hash, Command{"HDEL", hash, id}});
    }
    Command own_fields{"HDEL", own};
    own_fields.args(others);
    if (side == SymmetricSide::a) {
        // The id's hash holds the entries: all of them go (DEL, as the
        // script does), then the mirrors that named them.
        client.command(own, {"DEL", own});
        symmetric_steps::run(client, in_others, "redis a2b invalidate_a, mirrors (per node)");
    } else {
        // The id's hash holds mirrors: the entries they name go first, then
        // exactly those mirror fields.
        symmetric_steps::run(client, in_others, "redis a2b invalidate_b, entries (per node)");
        client.command(own, own_fields);
    }
    return others.size();
}

DOGPILE_INLINE void symmetric_write_per_node(Client& client, const SymmetricLayout& layout,
                                             const std::vector<SymmetricWrite>& writes) {
    std::vector<SymmetricWriteView> views;
    views.reserve(writes.size());
    for (const auto& w : writes) {
        SymmetricWriteView& view = views.emplace_back();
        view.a = w.a;
        view.b_payloads.assign(w.b_payloads.begin(), w.b_payloads.end());
    }
    symmetric_write_per_node(client, layout, views);
}

DOGPILE_INLINE void symmetric_write_per_node(Client& client, const SymmetricLayout& layout,
                                             const std::vector<KeyedBytes<A2BKey>>& writes,
                                             const std::vector<HashGroup>& by_a) {
    std::vector<SymmetricWriteView> views;
    views.reserve(by_a.size());
    for (const auto& group : by_a) {
        SymmetricWriteView& view = views.emplace_back();
        view.a = group.hash;
        view.b_payloads.reserve(group.positions.size());
        for (const std::size_t i : group.positions) view.b_payloads.emplace_back(writes[i].key.b, writes[i].bytes);
    }
    symmetric_write_per_node(client, layout, views);
}

}  // namespace dogpile::redis::details
