#pragma once
// What the two flag codecs (values-only FlagsCodec, BitpackedCodec) share: a
// key template that must be flat, its decode limits, and the walk that pairs
// a Flags map with the template's keys in order.

#include <string>
#include <string_view>
#include <utility>

#include "../../errors.hpp"
#include "../dict.hpp"
#include "../limits.hpp"
#include "key_path.hpp"

namespace dogpile::codec::details {

class FlatKeyTemplate {
public:
    // Throws ConfigurationError when `key_template` nests; `codec` names the
    // codec in that message ("FlagsCodec").
    FlatKeyTemplate(KeyTemplate key_template, DecodeLimits limits, std::string_view codec)
        : template_(std::move(key_template)), limits_(limits) {
        require_flat(template_, codec);
    }

    static void require_flat(const KeyTemplate& key_template, std::string_view codec) {
        if (!key_template.is_flat()) {
            throw ConfigurationError(std::string(codec) + " needs a flat key template, got " +
                                     key_template.to_string());
        }
    }

    const KeyTemplate& key_template() const noexcept { return template_; }
    const DecodeLimits& limits() const noexcept { return limits_; }
    std::size_t size() const noexcept { return template_.size(); }

    // Calls visit(flag) for each flag in template order. Throws EncodeError,
    // naming the offending key, when the keys of `flags` are not the template's.
    template <class Visit>
    void for_each_flag(const Flags& flags, const char* codec, Visit&& visit) const {
        if (flags.size() != template_.size()) throw_key_mismatch(codec, flags, template_, nullptr);
        auto entry = flags.begin();
        for (const auto& key : template_) {
            if (entry->first != key.name) throw_key_mismatch(codec, flags, template_, nullptr);
            visit(entry->second);
            ++entry;
        }
    }

private:
    KeyTemplate template_;
    DecodeLimits limits_;
};

}  // namespace dogpile::codec::details
