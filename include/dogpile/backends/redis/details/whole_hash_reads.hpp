#pragma once
// WholeHashReads: when a get_multi asks for most fields of a small hash, one
// HGETALL costs the server far less than HMGET. Redis keeps a hash of up to
// hash-max-listpack-entries fields (128 by default) as a flat list, and HMGET
// searches that list once per field: 100 fields of a 100-field hash took
// 53 us of server time against 11 us for HGETALL (Redis 7.0, this project's
// VM). A bigger hash is a hash table, where HMGET is cheap and HGETALL would
// return more than asked.
//
// The size of a hash is learnt without a round trip: a large HMGET carries an
// HLEN in the same pipeline, and an HGETALL reply is the size itself. The
// sizes live in a small direct-mapped table (a hash that collides or grew
// since costs speed, never correctness: HGETALL returns a superset that is
// filtered to the fields asked for). A server that refuses HLEN or HGETALL
// (an ACL without them) switches the strategy off for the store's lifetime.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace dogpile::redis {

struct WholeHashReadOptions {
    // A get_multi reads a hash whole only when it asks for at least this many
    // of its fields...
    std::size_t min_fields = 32;
    // ...and the hash had at most this many fields when last seen, and at most
    // twice as many as asked for. Match the server's hash-max-listpack-entries.
    std::size_t max_hash_fields = 128;
};

namespace details {

class WholeHashReads {
public:
    explicit WholeHashReads(WholeHashReadOptions options) noexcept : options_(options) {}
    WholeHashReads(const WholeHashReads&) = delete;
    WholeHashReads& operator=(const WholeHashReads&) = delete;

    enum class Plan { fields, fields_and_size, whole_hash };

    // `max_reply_fields` bounds the values one reply may carry (the store's
    // max_fields_per_read).
    Plan plan(std::string_view hash, std::size_t fields_asked, std::size_t max_reply_fields) const noexcept {
        if (fields_asked < options_.min_fields || refused_.load(std::memory_order_relaxed)) return Plan::fields;
        const std::optional<std::size_t> size = known_size(hash);
        if (size && *size <= options_.max_hash_fields && *size <= 2 * fields_asked && *size <= max_reply_fields) {
            return Plan::whole_hash;
        }
        return Plan::fields_and_size;
    }

    void learn_size(std::string_view hash, std::size_t fields) noexcept {
        const std::uint64_t h = std::hash<std::string_view>{}(hash);
        const std::uint64_t count = fields < max_count ? fields : max_count;
        slots_[h % slot_count].store((tag_of(h) << count_bits) | (count + 1), std::memory_order_relaxed);
    }

    // The server refused HLEN or HGETALL: read fields only from now on.
    void refuse() noexcept { refused_.store(true, std::memory_order_relaxed); }
    bool refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

    std::optional<std::size_t> known_size(std::string_view hash) const noexcept {
        const std::uint64_t h = std::hash<std::string_view>{}(hash);
        const std::uint64_t slot = slots_[h % slot_count].load(std::memory_order_relaxed);
        if (slot == 0 || slot >> count_bits != tag_of(h)) return std::nullopt;
        return static_cast<std::size_t>((slot & count_mask) - 1);
    }

private:
    // A slot is (upper 48 bits of the hash's hash) << 16 | (size + 1); 0 is empty.
    static constexpr std::size_t slot_count = 1024;
    static constexpr unsigned count_bits = 16;
    static constexpr std::uint64_t count_mask = (std::uint64_t{1} << count_bits) - 1;
    static constexpr std::uint64_t max_count = count_mask - 1;
    static std::uint64_t tag_of(std::uint64_t h) noexcept { return h >> count_bits; }

    WholeHashReadOptions options_;
    std::atomic<bool> refused_{false};
    std::array<std::atomic<std::uint64_t>, slot_count> slots_{};
};

// The fields asked of one hash, to match an HGETALL reply against: an
// open-addressed table of indices (sorting them instead cost more string
// compares than the rest of the read). A field asked more than once chains
// its indices, so every position gets the value.
class AskedFields {
public:
    // `field_at(i)` is the i-th field asked, i < count; the views must outlive this.
    template <class FieldAt>
    AskedFields(std::size_t count, const FieldAt& field_at) : fields_(count), next_(count, none) {
        std::size_t capacity = 8;
        while (capacity < 2 * count) capacity *= 2;
        slots_.assign(capacity, none);
        for (std::size_t i = 0; i < count; ++i) {
            fields_[i] = field_at(i);
            std::uint32_t& head = slots_[slot_of(fields_[i])];
            if (head != none) next_[i] = head;
            head = static_cast<std::uint32_t>(i);
        }
    }

    // Calls fn(i) for every i whose field is `field`.
    template <class Fn>
    void for_each_match(std::string_view field, const Fn& fn) const {
        for (std::uint32_t i = slots_[slot_of(field)]; i != none; i = next_[i]) fn(std::size_t{i});
    }

private:
    static constexpr std::uint32_t none = ~std::uint32_t{0};

    std::size_t slot_of(std::string_view field) const noexcept {
        const std::size_t mask = slots_.size() - 1;
        const std::size_t hash = std::hash<std::string_view>{}(field);
        std::size_t slot = hash & mask;
        while (slots_[slot] != none && fields_[slots_[slot]] != field) slot = (slot + 1) & mask;
        return slot;
    }

    std::vector<std::string_view> fields_;
    std::vector<std::uint32_t> next_;   // the next index asking the same field
    std::vector<std::uint32_t> slots_;  // first index of each field, by hash
};

}  // namespace details
}  // namespace dogpile::redis
