#pragma once
// FlagSet: the permission flags of the workload (8-64 booleans) as a value
// whose copy is two words and no allocation, and FlagTemplate: the sorted,
// interned list of flag names it refers to.
//
//   const FlagTemplate& names = FlagTemplate::of({"read", "write", "admin"});  // once, at startup
//   FlagSet perms(names, {{"read", true}});
//   perms["read"];               // true; std::out_of_range for a name not in the template
//   perms.set("admin");
//   for (auto [name, value] : perms) ...   // sorted-name order: admin, read, write
//   Flags map = perms.to_flags();          // the std::map form the Flags codecs take
//
// Why not Flags (std::map<std::string, bool>): every cache hit copies the
// value, and copying a 25-entry map is 25 heap nodes (~600 ns). The names are
// the same for every value of a cache, so they live once in a FlagTemplate and
// a FlagSet holds a pointer to it plus the bits.
//
// Templates live for the whole program: FlagTemplate::of() interns them in a
// process-wide registry keyed by the sorted names, so equal name lists are one
// object, a FlagSet holds a plain pointer (no reference count to bounce between
// cores on every copy), and calling of() again with the same names costs no
// memory. Make templates from a fixed set of name lists (typically one per
// cache), not from untrusted input: the registry never shrinks.
//
// Thread safety: FlagTemplate::of() is thread-safe and a FlagTemplate is
// immutable. A FlagSet is a plain value: concurrent reads are fine, a write
// needs the same exclusion as writing an int.
//
// Storage: up to 64 flags inline in one word (copy = two words, no
// allocation); more flags take exactly one heap allocation of ceil(n/64)
// words (a copy allocates once, a move steals it). Bits beyond size() are
// always zero, so equality and hashing compare words.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../errors.hpp"
#include "dict.hpp"

namespace dogpile::codec {

class FlagSet;

namespace details {
struct FlagSetAccess;
}

/// The sorted, interned names of a FlagSet's flags: FlagTemplate::of() returns one object per name
/// list, alive for the whole program (build them from fixed name lists, not untrusted input: the
/// registry never shrinks). Immutable; of() is thread-safe.
class FlagTemplate {
public:
    /// Sorts the names (bytewise, like KeyTemplate); ConfigurationError when a
    /// name appears twice. Returns the one template with these names.
    static const FlagTemplate& of(std::vector<std::string> names) {
        std::sort(names.begin(), names.end());
        const auto duplicate = std::adjacent_find(names.begin(), names.end());
        if (duplicate != names.end()) {
            throw ConfigurationError("dogpile::codec::FlagTemplate: flag \"" + *duplicate + "\" is listed twice");
        }
        if (names.empty()) return empty();
        return intern(std::move(names));
    }

    /// The same, from a list of literals.
    static const FlagTemplate& of(std::initializer_list<std::string_view> names) {
        return of(std::vector<std::string>(names.begin(), names.end()));
    }

    /// ConfigurationError when `flat` nests: flags are flat.
    static const FlagTemplate& of(const KeyTemplate& flat) {
        if (!flat.is_flat()) {
            throw ConfigurationError("dogpile::codec::FlagTemplate needs a flat key template, got " + flat.to_string());
        }
        std::vector<std::string> names;
        names.reserve(flat.size());
        for (const auto& key : flat) names.push_back(key.name);
        return of(std::move(names));
    }

    /// No flags. Not in the registry: a default-constructed FlagSet must not throw.
    static const FlagTemplate& empty() noexcept {
        static const FlagTemplate none;
        return none;
    }

    std::size_t size() const noexcept { return names_.size(); }  ///< number of flags

    /// Sorted order; std::out_of_range past size().
    const std::string& name(std::size_t index) const {
        if (index >= names_.size()) {
            throw std::out_of_range("dogpile::codec::FlagTemplate: index " + std::to_string(index) + " of " +
                                    std::to_string(names_.size()) + " flags");
        }
        return names_[index];
    }

    /// The position of `name` in sorted order, or std::nullopt when it is not a flag.
    std::optional<std::size_t> index_of(std::string_view name) const noexcept {
        const auto it =
            std::lower_bound(names_.begin(), names_.end(), name,
                             [](const std::string& held, std::string_view wanted) { return held < wanted; });
        if (it == names_.end() || *it != name) return std::nullopt;
        return static_cast<std::size_t>(it - names_.begin());
    }

    /// The names, sorted bytewise.
    const std::vector<std::string>& names() const noexcept { return names_; }

    /// The flat KeyTemplate of the same names (what the Flags codecs take).
    const KeyTemplate& key_template() const noexcept { return key_template_; }

    /// ceil(size() / 64): the words a FlagSet of this template holds.
    std::size_t word_count() const noexcept { return word_count_; }

    /// "[admin, read, write]", for error messages.
    std::string to_string() const { return key_template_.to_string(); }

    FlagTemplate(const FlagTemplate&) = delete;
    FlagTemplate& operator=(const FlagTemplate&) = delete;

private:
    FlagTemplate() noexcept = default;
    explicit FlagTemplate(std::vector<std::string> sorted_names)
        : names_(std::move(sorted_names)),
          key_template_(KeyTemplate::flat(names_)),
          word_count_((names_.size() + 63) / 64) {}

    struct ByNames {
        using is_transparent = void;
        static const std::vector<std::string>& names_of(const std::unique_ptr<const FlagTemplate>& t) {
            return t->names_;
        }
        static const std::vector<std::string>& names_of(const std::vector<std::string>& names) { return names; }
        template <class A, class B>
        bool operator()(const A& a, const B& b) const {
            return names_of(a) < names_of(b);
        }
    };

    struct Registry {
        std::mutex mutex;
        std::set<std::unique_ptr<const FlagTemplate>, ByNames> templates;
    };

    // Never destroyed: a FlagSet in a static object may outlive every other static.
    static Registry& registry() {
        static Registry* const instance = new Registry;
        return *instance;
    }

    static const FlagTemplate& intern(std::vector<std::string> sorted_names) {
        Registry& shared = registry();
        const std::lock_guard<std::mutex> lock(shared.mutex);
        const auto found = shared.templates.find(sorted_names);
        if (found != shared.templates.end()) return **found;
        std::unique_ptr<const FlagTemplate> made(new FlagTemplate(std::move(sorted_names)));
        return **shared.templates.insert(std::move(made)).first;
    }

    std::vector<std::string> names_;
    KeyTemplate key_template_;
    std::size_t word_count_ = 0;
};

/// Boolean flags named by a FlagTemplate, as a value whose copy is two words and no allocation up
/// to 64 flags (one allocation above). A plain value: concurrent reads are fine, a write needs the
/// same exclusion as writing an int.
class FlagSet {
public:
    /// One flag during iteration: `for (auto [name, value] : flags)` or `flag.name`.
    struct Flag {
        const std::string& name;  ///< the flag's name, owned by the template
        bool value;               ///< whether the flag is set
    };

    /// Walks the flags in sorted-name order, yielding Flag values.
    class const_iterator {
    public:
        using iterator_category = std::input_iterator_tag;  ///< an input iterator: yields by value
        using value_type = Flag;                            ///< what it yields
        using difference_type = std::ptrdiff_t;             ///< the distance type
        using reference = Flag;                             ///< a Flag by value
        using pointer = void;                               ///< no operator->

        const_iterator() noexcept = default;
        /// The current flag: its name and value.
        Flag operator*() const { return Flag{set_->template_->names()[index_], set_->test_unchecked(index_)}; }
        /// To the next flag.
        const_iterator& operator++() noexcept {
            ++index_;
            return *this;
        }
        /// To the next flag; returns the iterator as it was.
        const_iterator operator++(int) noexcept {
            const_iterator before = *this;
            ++index_;
            return before;
        }
        /// Same set, same position.
        friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
            return a.index_ == b.index_ && a.set_ == b.set_;
        }
        /// Not operator==.
        friend bool operator!=(const const_iterator& a, const const_iterator& b) noexcept { return !(a == b); }

    private:
        friend class FlagSet;
        const_iterator(const FlagSet* set, std::size_t index) noexcept : set_(set), index_(index) {}

        const FlagSet* set_ = nullptr;
        std::size_t index_ = 0;
    };
    using iterator = const_iterator;  ///< flags cannot be assigned through it

    /// No flags (FlagTemplate::empty()).
    FlagSet() noexcept : template_(&FlagTemplate::empty()) {}

    /// Every flag false.
    explicit FlagSet(const FlagTemplate& names) : template_(&names) {
        if (on_heap()) storage_.heap = allocate_zeroed(names.word_count());
    }

    /// The listed flags set as given, the others false; std::out_of_range naming
    /// an unknown name.
    FlagSet(const FlagTemplate& names, std::initializer_list<std::pair<std::string_view, bool>> values)
        : FlagSet(names) {
        for (const auto& [name, value] : values) set(name, value);
    }

    /// `flags` must have exactly the template's keys, else std::invalid_argument
    /// naming the first key that is not in the template or, failing that, missing.
    static FlagSet from_flags(const FlagTemplate& names, const Flags& flags) {
        FlagSet out(names);
        auto entry = flags.begin();
        for (std::size_t i = 0; i < names.size(); ++i, ++entry) {
            if (entry == flags.end() || entry->first != names.names()[i]) {
                // A key sorting before the expected name is one the template lacks.
                if (entry != flags.end() && entry->first < names.names()[i]) throw_not_in_template(names, entry->first);
                throw std::invalid_argument("dogpile::codec::FlagSet: flag \"" + names.names()[i] +
                                            "\" is missing (the template " + names.to_string() + " requires it)");
            }
            out.set_unchecked(i, entry->second);
        }
        if (entry != flags.end()) throw_not_in_template(names, entry->first);
        return out;
    }

    /// Bit i is flag i in sorted order. The template has at most 64 flags and
    /// no bit beyond them is set, else std::invalid_argument.
    static FlagSet from_bits(const FlagTemplate& names, std::uint64_t bits) {
        if (names.size() > 64) {
            throw std::invalid_argument("dogpile::codec::FlagSet::from_bits: the template has " +
                                        std::to_string(names.size()) + " flags, more than 64");
        }
        FlagSet out(names);
        if ((bits & ~out.valid_bits(0)) != 0) throw_bits_beyond(names);
        out.storage_.bits = bits;
        return out;
    }

    /// The std::map form the Flags codecs take.
    Flags to_flags() const {
        Flags flags;
        for (const auto [name, value] : *this) flags.emplace_hint(flags.end(), name, value);
        return flags;
    }

    /// The template naming the flags.
    const FlagTemplate& flag_template() const noexcept { return *template_; }
    std::size_t size() const noexcept { return template_->size(); }  ///< number of flags
    bool empty() const noexcept { return size() == 0; }              ///< no flags at all

    /// The flag `name`; std::out_of_range for a name not in the template.
    bool operator[](std::string_view name) const { return test_unchecked(index_or_throw(name)); }

    /// The flag `name`, or std::nullopt for a name not in the template.
    std::optional<bool> find(std::string_view name) const noexcept {
        const auto index = template_->index_of(name);
        if (!index) return std::nullopt;
        return test_unchecked(*index);
    }

    /// Flag `index` in sorted order; std::out_of_range past size().
    bool test(std::size_t index) const { return test_unchecked(checked(index)); }

    /// Sets flag `name`; std::out_of_range for a name not in the template.
    void set(std::string_view name, bool value = true) { set_unchecked(index_or_throw(name), value); }
    /// Sets flag `index` in sorted order; std::out_of_range past size().
    void set(std::size_t index, bool value = true) { set_unchecked(checked(index), value); }

    /// Flags that are true.
    std::size_t count() const noexcept {
        std::size_t total = 0;
        for (std::size_t w = 0; w < word_count(); ++w) total += popcount(words()[w]);
        return total;
    }

    /// The bits as words of 64 flags: flag i is bit i % 64 of word i / 64.
    std::size_t word_count() const noexcept { return template_->word_count(); }
    /// Word `index` (flags 64*index .. 64*index+63); std::out_of_range past word_count().
    std::uint64_t word(std::size_t index) const {
        if (index >= word_count()) {
            throw std::out_of_range("dogpile::codec::FlagSet: word " + std::to_string(index) + " of " +
                                    std::to_string(word_count()));
        }
        return words()[index];
    }
    /// Replaces flags 64*index .. 64*index+63; std::invalid_argument when a bit
    /// beyond size() is set, std::out_of_range for a word past word_count().
    void set_word(std::size_t index, std::uint64_t bits) {
        if (index >= word_count()) {
            throw std::out_of_range("dogpile::codec::FlagSet: word " + std::to_string(index) + " of " +
                                    std::to_string(word_count()));
        }
        if ((bits & ~valid_bits(index)) != 0) throw_bits_beyond(*template_);
        words()[index] = bits;
    }

    /// The first flag, in sorted-name order.
    const_iterator begin() const noexcept { return {this, 0}; }
    const_iterator end() const noexcept { return {this, size()}; }  ///< past the last flag

    // --- value semantics ---

    /// Up to 64 flags: copies the two words.
    FlagSet(const FlagSet& other) : template_(other.template_), storage_(other.storage_) {
        if (on_heap()) storage_.heap = copy_of(other.storage_.heap, word_count());
    }

    /// Steals the words; `other` is left empty (no flags).
    FlagSet(FlagSet&& other) noexcept : template_(other.template_), storage_(other.storage_) {
        if (on_heap()) other.become_empty();
    }

    /// Copies names and values (reusing the heap block when the sizes match).
    FlagSet& operator=(const FlagSet& other) {
        if (this == &other) return *this;
        if (!other.on_heap()) {
            release();
            template_ = other.template_;
            storage_ = other.storage_;
        } else if (on_heap() && word_count() == other.word_count()) {
            std::copy(other.storage_.heap, other.storage_.heap + word_count(), storage_.heap);  // reuse the block
            template_ = other.template_;
        } else {
            std::uint64_t* copy = copy_of(other.storage_.heap, other.word_count());
            release();
            template_ = other.template_;
            storage_.heap = copy;
        }
        return *this;
    }

    /// Steals the words; `other` is left empty (no flags).
    FlagSet& operator=(FlagSet&& other) noexcept {
        if (this == &other) return *this;
        release();
        template_ = other.template_;
        storage_ = other.storage_;
        if (on_heap()) other.become_empty();
        return *this;
    }

    ~FlagSet() { release(); }

    /// Swaps two sets without allocating.
    friend void swap(FlagSet& a, FlagSet& b) noexcept {
        std::swap(a.template_, b.template_);
        std::swap(a.storage_, b.storage_);
    }

    /// Same names (one template, or equal name lists) and the same values.
    friend bool operator==(const FlagSet& a, const FlagSet& b) noexcept {
        if (a.template_ != b.template_ && a.template_->names() != b.template_->names()) return false;
        return std::equal(a.words(), a.words() + a.word_count(), b.words());
    }
    /// Not operator==.
    friend bool operator!=(const FlagSet& a, const FlagSet& b) noexcept { return !(a == b); }

    /// {"admin": false, "read": true}, for test failure messages and logs.
    friend std::ostream& operator<<(std::ostream& out, const FlagSet& flags) {
        out << '{';
        const char* separator = "";
        for (const auto [name, value] : flags) {
            out << separator << '"' << name << "\": " << (value ? "true" : "false");
            separator = ", ";
        }
        return out << '}';
    }

private:
    friend struct details::FlagSetAccess;

    bool on_heap() const noexcept { return template_->word_count() > 1; }
    const std::uint64_t* words() const noexcept { return on_heap() ? storage_.heap : &storage_.bits; }
    std::uint64_t* words() noexcept { return on_heap() ? storage_.heap : &storage_.bits; }

    bool test_unchecked(std::size_t index) const noexcept { return ((words()[index / 64] >> (index % 64)) & 1u) != 0; }
    void set_unchecked(std::size_t index, bool value) noexcept {
        std::uint64_t& word = words()[index / 64];
        const std::uint64_t bit = std::uint64_t{1} << (index % 64);
        word = value ? word | bit : word & ~bit;
    }

    // The bits of word `index` that hold flags.
    std::uint64_t valid_bits(std::size_t index) const noexcept {
        const std::size_t first = index * 64;
        if (first >= size()) return 0;
        const std::size_t held = size() - first;
        return held >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << held) - 1;
    }

    std::size_t checked(std::size_t index) const {
        if (index >= size()) {
            throw std::out_of_range("dogpile::codec::FlagSet: index " + std::to_string(index) + " of " +
                                    std::to_string(size()) + " flags");
        }
        return index;
    }

    std::size_t index_or_throw(std::string_view name) const {
        const auto index = template_->index_of(name);
        if (!index) {
            throw std::out_of_range("dogpile::codec::FlagSet: no flag \"" + std::string(name) + "\" in " +
                                    template_->to_string());
        }
        return *index;
    }

    [[noreturn]] static void throw_not_in_template(const FlagTemplate& names, const std::string& key) {
        throw std::invalid_argument("dogpile::codec::FlagSet: flag \"" + key + "\" is not in the template " +
                                    names.to_string());
    }
    [[noreturn]] static void throw_bits_beyond(const FlagTemplate& names) {
        throw std::invalid_argument("dogpile::codec::FlagSet: bits set beyond the template's " +
                                    std::to_string(names.size()) + " flags");
    }

    static std::uint64_t* allocate_zeroed(std::size_t words) { return new std::uint64_t[words](); }
    static std::uint64_t* copy_of(const std::uint64_t* source, std::size_t words) {
        std::uint64_t* copy = new std::uint64_t[words];
        std::copy(source, source + words, copy);
        return copy;
    }

    void release() noexcept {
        if (on_heap()) delete[] storage_.heap;
    }
    void become_empty() noexcept {
        template_ = &FlagTemplate::empty();
        storage_.bits = 0;
    }

    static std::size_t popcount(std::uint64_t word) noexcept {
        std::size_t total = 0;
        for (; word != 0; word &= word - 1) ++total;
        return total;
    }

    // Copied as a whole (a union copy copies its bytes), whichever member is live.
    union Storage {
        std::uint64_t bits;   // up to 64 flags
        std::uint64_t* heap;  // more: word_count() words
    };

    const FlagTemplate* template_;
    Storage storage_{0};
};

namespace details {

// For the codecs' decode loops: the words of a FlagSet without bounds checks.
struct FlagSetAccess {
    static std::uint64_t* words(FlagSet& flags) noexcept { return flags.words(); }
    static const std::uint64_t* words(const FlagSet& flags) noexcept { return flags.words(); }
};

}  // namespace details

}  // namespace dogpile::codec

namespace std {
/// Hashes the words, so FlagSet can key an unordered container.
template <>
struct hash<dogpile::codec::FlagSet> {
    /// Equal sets hash equal.
    std::size_t operator()(const dogpile::codec::FlagSet& flags) const noexcept {
        // Equal sets have equal names, hence the same size: no need to hash the names.
        std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ flags.size();
        for (std::size_t w = 0; w < flags.word_count(); ++w) {
            h ^= flags.word(w) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        }
        return static_cast<std::size_t>(h);
    }
};
}  // namespace std
