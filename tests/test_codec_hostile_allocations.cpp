// Hostile msgpack costs what its bytes prove, never what its headers claim.
//
// README, "Security model": "msgpack headers claiming gigabytes are rejected
// before anything is allocated"; codec/limits.hpp: "the memory a decode can use
// stays proportional to the payload size". The codec tests check that hostile
// payloads are DecodeErrors; this binary checks what rejecting them costs, by
// counting every heap allocation made while one decode runs:
//
//   * glibc, no sanitizer: malloc, calloc and realloc are replaced by wrappers
//     around glibc's own (__libc_malloc, ...). That sees operator new (libstdc++
//     allocates with malloc) and msgpack-c's zone, which calls malloc directly:
//     a replaced operator new alone would miss the very allocation a header
//     promise makes msgpack-c perform.
//   * ASan, TSan, MSan: the sanitizer owns malloc; its allocation hook counts.
//   * anywhere else: nothing can be counted, the tests skip.
//
// The replacement is process-wide, hence a binary of its own.
//
// The budget for one rejected decode: a fixed part (the DecodeError: message
// strings, the exception object; the validator's stack of open-container
// counters, at most max_depth deep) plus a part for the elements the payload
// really holds before the lie is found (a decoder may build what it has read:
// a 56-byte Value per nil, doubled by vector growth). Every hostile header here
// claims at least 64 Ki elements or bytes, and nested claims multiply, so any
// allocation that follows a claim instead of the bytes overshoots it.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/flag_set.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/testing/bytes.hpp>

// --- the allocation counter ----------------------------------------------------

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_calls{0};
std::atomic<std::size_t> g_bytes{0};
std::atomic<std::size_t> g_largest{0};

void record_allocation(std::size_t size) noexcept {
    if (!g_counting.load(std::memory_order_relaxed)) return;
    g_calls.fetch_add(1, std::memory_order_relaxed);
    g_bytes.fetch_add(size, std::memory_order_relaxed);
    std::size_t largest = g_largest.load(std::memory_order_relaxed);
    while (largest < size && !g_largest.compare_exchange_weak(largest, size, std::memory_order_relaxed)) {
    }
}

}  // namespace

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define DOGPILE_TEST_SANITIZER_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DOGPILE_TEST_SANITIZER_ALLOCATOR 1
#endif

#if defined(DOGPILE_TEST_SANITIZER_ALLOCATOR)

// compiler-rt's <sanitizer/allocator_interface.h>, declared here because gcc
// does not install that header.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, std::size_t),
                                                         void (*free_hook)(const volatile void*));

namespace {
void on_sanitizer_malloc(const volatile void*, std::size_t size) { record_allocation(size); }
void on_sanitizer_free(const volatile void*) {}
const bool g_counter_installed = __sanitizer_install_malloc_and_free_hooks(on_sanitizer_malloc, on_sanitizer_free) != 0;
}  // namespace

#elif defined(__GLIBC__)

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);

// Same declarations as <stdlib.h> (glibc marks them __THROW: noexcept in C++).
void* malloc(std::size_t size) noexcept {
    record_allocation(size);
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
    record_allocation(size != 0 && count > SIZE_MAX / size ? SIZE_MAX : count * size);
    return __libc_calloc(count, size);
}
void* realloc(void* pointer, std::size_t size) noexcept {
    record_allocation(size);
    return __libc_realloc(pointer, size);
}
}

namespace {
const bool g_counter_installed = true;
}  // namespace

#else

namespace {
const bool g_counter_installed = false;
}  // namespace

#endif

namespace {

using dogpile::DecodeError;
using dogpile::Metadata;
using dogpile::codec::BitpackedCodec;
using dogpile::codec::DecodeLimits;
using dogpile::codec::DictValuesCodec;
using dogpile::codec::EnvelopeCodec;
using dogpile::codec::BitpackedFlagSetCodec;
using dogpile::codec::FlagsCodec;
using dogpile::codec::FlagSet;
using dogpile::codec::FlagSetCodec;
using dogpile::codec::FlagTemplate;
using dogpile::codec::KeyTemplate;
using dogpile::codec::MsgpackCodec;
using dogpile::testing::bytes_of;

constexpr std::size_t fixed_budget = 8192;
constexpr std::size_t budget_per_element = 128;

struct Allocations {
    std::size_t calls = 0;
    std::size_t bytes = 0;
    std::size_t largest = 0;
};

// Counts the allocations `run` makes (on any thread: the decoders use none).
template <class Run>
Allocations count_allocations(Run&& run) {
    g_calls = 0;
    g_bytes = 0;
    g_largest = 0;
    g_counting = true;
    try {
        run();
    } catch (...) {
        g_counting = false;
        throw;
    }
    g_counting = false;
    return {g_calls.load(), g_bytes.load(), g_largest.load()};
}

std::string repeat(const std::string& piece, std::size_t times) {
    std::string out;
    out.reserve(piece.size() * times);
    for (std::size_t i = 0; i < times; ++i) out += piece;
    return out;
}

// The first bytes in hex, for failure messages (deep payloads are long).
std::string describe(const std::string& payload) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < payload.size() && i < 24; ++i) {
        const auto byte = static_cast<unsigned char>(payload[i]);
        out += digits[byte >> 4];
        out += digits[byte & 0x0f];
    }
    if (payload.size() > 24) out += "...";
    return out + " (" + std::to_string(payload.size()) + " bytes)";
}

// --- hostile payloads ------------------------------------------------------------

struct Hostile {
    std::string name;
    std::string value;         // one msgpack object, wherever a codec reads a value
    std::size_t elements = 0;  // elements really present, which a decoder may read before the lie shows

    std::size_t budget() const { return fixed_budget + budget_per_element * elements; }
};

std::vector<Hostile> hostile_values() {
    std::vector<Hostile> headers = {
        {"array32 claiming 2^32-1 elements", bytes_of({0xdd, 0xff, 0xff, 0xff, 0xff})},
        {"array32 claiming max_array_length (4 Mi) elements", bytes_of({0xdd, 0x00, 0x40, 0x00, 0x00})},
        {"array16 claiming 65535 elements", bytes_of({0xdc, 0xff, 0xff})},
        {"map32 claiming 2^32-1 pairs", bytes_of({0xdf, 0xff, 0xff, 0xff, 0xff})},
        {"map32 claiming max_map_length (4 Mi) pairs", bytes_of({0xdf, 0x00, 0x40, 0x00, 0x00})},
        {"map16 claiming 65535 pairs", bytes_of({0xde, 0xff, 0xff})},
        {"str32 claiming 4 GiB", bytes_of({0xdb, 0xff, 0xff, 0xff, 0xff})},
        {"str32 claiming max_string_length (16 MiB)", bytes_of({0xdb, 0x01, 0x00, 0x00, 0x00})},
        {"str16 claiming 64 KiB", bytes_of({0xda, 0xff, 0xff})},
        {"bin32 claiming 4 GiB", bytes_of({0xc6, 0xff, 0xff, 0xff, 0xff})},
        {"bin32 claiming max_bin_length (16 MiB)", bytes_of({0xc6, 0x01, 0x00, 0x00, 0x00})},
        {"bin16 claiming 64 KiB", bytes_of({0xc5, 0xff, 0xff})},
        {"ext32 claiming 4 GiB", bytes_of({0xc9, 0xff, 0xff, 0xff, 0xff, 0x01})},
        {"ext16 claiming 64 KiB", bytes_of({0xc8, 0xff, 0xff, 0x01})},
    };
    std::vector<Hostile> out = headers;
    // The same headers with bytes after them: fewer than any claim, so only the
    // claim-against-the-bytes-left check can reject them early.
    for (const Hostile& h : headers) {
        out.push_back({h.name + ", 64 nils after it", h.value + std::string(64, '\xc0'), 0});
    }
    const std::string array32_4mi = bytes_of({0xdd, 0x00, 0x40, 0x00, 0x00});
    out.push_back({"array32 claims (4 Mi) nested 8 deep", repeat(array32_4mi, 8)});
    out.push_back({"an array whose third element claims 4 Mi elements", bytes_of({0x93, 0xc0, 0xc0}) + array32_4mi, 2});
    out.push_back({"a map whose second value claims 4 GiB",
                   bytes_of({0x82, 0xa1, 'a', 0xc0, 0xa1, 'b', 0xdb, 0xff, 0xff, 0xff, 0xff}), 2});
    // Each claim is below the bytes left, so no single header is an obvious lie,
    // but they cannot all be true: what they claim together, nested, is many
    // times the payload.
    out.push_back({"fixarrays nested 60 deep, each claiming 15 elements, 14 nils at the bottom",
                   repeat(bytes_of({0x9f}), 60) + std::string(14, '\xc0'), 14});
    out.push_back({"array16s nested 60 deep, each claiming 1024 elements, 1024 nils at the bottom",
                   repeat(bytes_of({0xdc, 0x04, 0x00}), 60) + std::string(1024, '\xc0'), 1024});
    out.push_back({"arrays nested 100000 deep", repeat(bytes_of({0x91}), 100000) + '\xc0'});
    out.push_back({"maps nested 100000 deep", repeat(bytes_of({0x81, 0xa1, 'k'}), 100000) + '\xc0'});
    return out;
}

// --- the decoders under test --------------------------------------------------------

// A codec and where in its payload a hostile value goes.
struct Target {
    std::string name;
    std::function<std::string(const std::string&)> embed;  // hostile value -> whole payload
    std::function<void(const std::string&)> decode;        // throws DecodeError on rejection
};

template <class Codec>
std::function<void(const std::string&)> decoder(Codec codec) {
    return [codec](const std::string& payload) { (void)codec.decode(payload); };
}

std::string as_is(const std::string& value) { return value; }

// What the limits do not stop, the bytes-left check must: lengths unlimited.
DecodeLimits lengths_unlimited() {
    DecodeLimits limits;
    limits.max_array_length = limits.max_map_length = SIZE_MAX;
    limits.max_string_length = limits.max_bin_length = limits.max_ext_length = SIZE_MAX;
    return limits;
}

KeyTemplate numbered_flags(std::size_t count) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < count; ++i) names.push_back("flag" + std::to_string(1000 + i));
    return KeyTemplate::flat(names);
}

using Strings = std::vector<std::string>;
using Map = std::map<std::string, std::vector<int>>;

std::vector<Target> msgpack_targets() {
    return {
        {"MsgpackCodec<std::vector<std::string>>", as_is, decoder(MsgpackCodec<Strings>{})},
        {"MsgpackCodec<std::map<std::string, std::vector<int>>>", as_is, decoder(MsgpackCodec<Map>{})},
        {"MsgpackCodec<std::string>", as_is, decoder(MsgpackCodec<std::string>{})},
        {"MsgpackCodec<std::vector<std::string>>, lengths unlimited", as_is,
         decoder(MsgpackCodec<Strings>{lengths_unlimited()})},
    };
}

std::vector<Target> values_targets() {
    const KeyTemplate flat{"a", "b"};
    const KeyTemplate nested{"id", {"perm", {"read", "write"}}};
    const auto first_of_two = [](const std::string& v) { return bytes_of({0x92}) + v + bytes_of({0xc0}); };
    const auto in_a_list = [](const std::string& v) { return bytes_of({0x92, 0x91}) + v + bytes_of({0xc0}); };
    const auto nested_leaf = [](const std::string& v) { return bytes_of({0x92, 0xc0, 0x92}) + v + bytes_of({0xc0}); };
    return {
        {"DictValuesCodec [a, b], value of a", first_of_two, decoder(DictValuesCodec{flat})},
        {"DictValuesCodec [a, b], in a list under a", in_a_list, decoder(DictValuesCodec{flat})},
        {"DictValuesCodec [id, perm: [read, write]], value of perm.read", nested_leaf,
         decoder(DictValuesCodec{nested})},
        {"DictValuesCodec [a, b], lengths unlimited, in a list under a", in_a_list,
         decoder(DictValuesCodec{flat, lengths_unlimited()})},
        {"DictValuesCodec [a], the whole payload", as_is, decoder(DictValuesCodec{KeyTemplate{"a"}})},
    };
}

std::vector<Target> flags_targets() {
    const auto first_of_25 = [](const std::string& v) {
        return bytes_of({0xdc, 0x00, 0x19}) + v + std::string(24, '\xc2');  // then 24 falses
    };
    return {
        {"FlagsCodec (25 flags), the whole payload", as_is, decoder(FlagsCodec{numbered_flags(25)})},
        {"FlagsCodec (25 flags), the first flag", first_of_25, decoder(FlagsCodec{numbered_flags(25)})},
        {"FlagsCodec (25 flags), lengths unlimited", as_is,
         decoder(FlagsCodec{numbered_flags(25), lengths_unlimited()})},
        {"FlagSetCodec (25 flags), the whole payload", as_is, decoder(FlagSetCodec{numbered_flags(25)})},
        {"FlagSetCodec (25 flags), the first flag", first_of_25, decoder(FlagSetCodec{numbered_flags(25)})},
        {"FlagSetCodec (25 flags), lengths unlimited", as_is,
         decoder(FlagSetCodec{numbered_flags(25), lengths_unlimited()})},
    };
}

std::vector<Target> bitpacked_targets() {
    return {
        {"BitpackedCodec (25 flags: an int)", as_is, decoder(BitpackedCodec{numbered_flags(25)})},
        {"BitpackedCodec (100 flags: a bin)", as_is, decoder(BitpackedCodec{numbered_flags(100)})},
        {"BitpackedCodec (100 flags), lengths unlimited", as_is,
         decoder(BitpackedCodec{numbered_flags(100), lengths_unlimited()})},
        {"BitpackedFlagSetCodec (25 flags: an int)", as_is, decoder(BitpackedFlagSetCodec{numbered_flags(25)})},
        {"BitpackedFlagSetCodec (100 flags: a bin)", as_is, decoder(BitpackedFlagSetCodec{numbered_flags(100)})},
        {"BitpackedFlagSetCodec (100 flags), lengths unlimited", as_is,
         decoder(BitpackedFlagSetCodec{numbered_flags(100), lengths_unlimited()})},
    };
}

// Every other target's payload behind a valid envelope header.
std::vector<Target> envelope_targets() {
    const std::string header = [] {
        std::string out;
        dogpile::codec::envelope::append_header(out, Metadata::store_managed());
        return out;
    }();
    const auto behind_header = [header](const std::function<std::string(const std::string&)>& embed) {
        return [header, embed](const std::string& v) { return header + embed(v); };
    };
    std::vector<Target> out;
    const KeyTemplate flat{"a", "b"};
    out.push_back({"EnvelopeCodec<MsgpackCodec<std::vector<std::string>>>", behind_header(as_is),
                   decoder(EnvelopeCodec<MsgpackCodec<Strings>>{})});
    out.push_back({"EnvelopeCodec<MsgpackCodec<std::map<...>>>", behind_header(as_is),
                   decoder(EnvelopeCodec<MsgpackCodec<Map>>{})});
    out.push_back({"EnvelopeCodec<DictValuesCodec> [a, b], in a list under a", behind_header([](const std::string& v) {
                       return bytes_of({0x92, 0x91}) + v + bytes_of({0xc0});
                   }),
                   decoder(EnvelopeCodec<DictValuesCodec>{DictValuesCodec{flat}})});
    out.push_back({"EnvelopeCodec<FlagsCodec> (25 flags)", behind_header(as_is),
                   decoder(EnvelopeCodec<FlagsCodec>{FlagsCodec{numbered_flags(25)}})});
    out.push_back({"EnvelopeCodec<BitpackedCodec> (100 flags)", behind_header(as_is),
                   decoder(EnvelopeCodec<BitpackedCodec>{BitpackedCodec{numbered_flags(100)}})});
    return out;
}

struct Outcome {
    Allocations allocations;
    bool rejected = false;
    std::string other;  // what it did instead of throwing DecodeError
};

Outcome decode_counting(const Target& target, const std::string& payload) {
    Outcome outcome;
    std::string other;
    outcome.allocations = count_allocations([&] {
        try {
            target.decode(payload);
        } catch (const DecodeError&) {
            outcome.rejected = true;
        } catch (const std::exception& e) {
            other = e.what();
        }
    });
    outcome.other = outcome.rejected ? "" : other.empty() ? "decoded it" : "threw " + other;
    return outcome;
}

void expect_rejected_within_budget(const std::vector<Target>& targets) {
    if (!g_counter_installed) GTEST_SKIP() << "no way to count allocations on this platform";
    std::size_t checked = 0;
    for (const Target& target : targets) {
        for (const Hostile& hostile : hostile_values()) {
            const std::string payload = target.embed(hostile.value);
            const Outcome outcome = decode_counting(target, payload);
            const std::string where = target.name + ", " + hostile.name + ": " + describe(payload);
            EXPECT_TRUE(outcome.rejected) << where << " " << outcome.other;
            EXPECT_LE(outcome.allocations.bytes, hostile.budget())
                << where << " allocated " << outcome.allocations.bytes << " bytes in " << outcome.allocations.calls
                << " allocation(s), the largest " << outcome.allocations.largest << " bytes";
            ++checked;
        }
    }
    EXPECT_GT(checked, 0u);
}

// --- the counter itself ------------------------------------------------------------

// Keeps the compiler from eliding an allocation it can see is unused.
void* volatile g_sink = nullptr;

TEST(HostileAllocationCounter, SeesOperatorNewAndMalloc) {
    if (!g_counter_installed) GTEST_SKIP() << "no way to count allocations on this platform";
    const Allocations by_new = count_allocations([] {
        auto block = std::make_unique<char[]>(100000);
        g_sink = block.get();
    });
    EXPECT_GE(by_new.bytes, 100000u);
    const Allocations by_malloc = count_allocations([] {
        void* block = std::malloc(200000);
        g_sink = block;
        std::free(block);
    });
    EXPECT_GE(by_malloc.bytes, 200000u);
    EXPECT_EQ(count_allocations([] {}).bytes, 0u);
}

// The failure the tests below look for, made on purpose: msgpack-c, given a
// header without dogpile's validator in front, allocates for the promise.
TEST(HostileAllocationCounter, CatchesMsgpackCAllocatingForAClaim) {
    if (!g_counter_installed) GTEST_SKIP() << "no way to count allocations on this platform";
    const std::string claim = bytes_of({0xdd, 0x00, 0x40, 0x00, 0x00});  // array32 of 4 Mi elements, none present
    bool threw = false;
    const Allocations naive = count_allocations([&] {
        try {
            std::size_t offset = 0;
            const msgpack::object_handle handle = msgpack::unpack(claim.data(), claim.size(), offset);
            g_sink = handle.zone().get();
        } catch (const msgpack::unpack_error&) {
            threw = true;
        }
    });
    EXPECT_TRUE(threw);
    EXPECT_GE(naive.largest, (std::size_t{4} << 20) * sizeof(msgpack::object));
    EXPECT_GT(naive.bytes, fixed_budget);
}

// --- one test per decoder family ------------------------------------------------------

TEST(HostileMsgpackAllocations, MsgpackCodec) { expect_rejected_within_budget(msgpack_targets()); }

TEST(HostileMsgpackAllocations, DictValuesCodec) { expect_rejected_within_budget(values_targets()); }

TEST(HostileMsgpackAllocations, FlagsCodec) { expect_rejected_within_budget(flags_targets()); }

TEST(HostileMsgpackAllocations, BitpackedCodec) { expect_rejected_within_budget(bitpacked_targets()); }

TEST(HostileMsgpackAllocations, EnvelopeCodec) { expect_rejected_within_budget(envelope_targets()); }

// The point of FlagSet: a successful decode of up to 64 flags touches no
// allocator (the Flags codecs build a 25-node map for the same bytes).
TEST(FlagSetDecodeAllocations, TwentyFiveFlagsDecodeWithoutAllocating) {
    if (!g_counter_installed) GTEST_SKIP() << "no way to count allocations on this platform";
    const FlagTemplate& names = FlagTemplate::of(numbered_flags(25));
    FlagSet flags(names);
    for (std::size_t i = 0; i < names.size(); i += 3) flags.set(i);
    const FlagSetCodec values{names};
    const BitpackedFlagSetCodec bits{names};
    // Every header form the values-only decoder accepts, and the bit-packed int.
    const std::string values_bytes = values.encode(flags);
    const std::string body = values_bytes.substr(3);
    const std::vector<std::pair<std::string, const char*>> payloads = {
        {values_bytes, "values-only, array16 header"},
        {bytes_of({0xdd, 0x00, 0x00, 0x00, 0x19}) + body, "values-only, array32 header"},
    };
    for (const auto& [payload_bytes, what] : payloads) {
        const std::string& payload = payload_bytes;  // a lambda cannot capture a structured binding in C++17
        FlagSet decoded;
        const Allocations made = count_allocations([&] { decoded = values.decode(payload); });
        EXPECT_EQ(decoded, flags) << what;
        EXPECT_EQ(made.calls, 0u) << what << ": " << made.bytes << " bytes";
    }
    const std::string bits_bytes = bits.encode(flags);
    FlagSet decoded;
    const Allocations made = count_allocations([&] { decoded = bits.decode(bits_bytes); });
    EXPECT_EQ(decoded, flags);
    EXPECT_EQ(made.calls, 0u) << "bit-packed: " << made.bytes << " bytes";
    // The counter does see the Flags codec's map, so a zero above means something.
    const FlagsCodec map_codec{numbered_flags(25)};
    dogpile::codec::Flags map;
    EXPECT_GE(count_allocations([&] { map = map_codec.decode(values_bytes); }).calls, 25u);
}

// Copying a FlagSet of <= 64 flags allocates nothing either; more flags, once.
TEST(FlagSetDecodeAllocations, CopiesAllocateOnlyAbove64Flags) {
    if (!g_counter_installed) GTEST_SKIP() << "no way to count allocations on this platform";
    const FlagSet small(FlagTemplate::of(numbered_flags(64)));
    const FlagSet large(FlagTemplate::of(numbered_flags(65)));
    FlagSet copy;
    EXPECT_EQ(count_allocations([&] { copy = small; }).calls, 0u);
    EXPECT_EQ(copy, small);
    EXPECT_EQ(count_allocations([&] {
                  FlagSet again(large);
                  g_sink = &again;
              }).calls,
              1u);
    EXPECT_EQ(count_allocations([&] {
                  FlagSet stolen(std::move(copy));
                  g_sink = &stolen;
              }).calls,
              0u);
}

// The envelope's own header: its one length is a byte, and a truncated or
// oversized field block is rejected before the inner codec runs.
TEST(HostileMsgpackAllocations, EnvelopeHeader) {
    const Target envelope{"EnvelopeCodec<MsgpackCodec<std::vector<std::string>>>", as_is,
                          decoder(EnvelopeCodec<MsgpackCodec<Strings>>{})};
    if (!g_counter_installed) GTEST_SKIP() << "no way to count allocations on this platform";
    const std::string field_block_255 = bytes_of({0xc1, 0x01, 0xff}) + std::string(20, '\0');
    const std::string unknown_format =
        bytes_of({0xc1, 0x7f, 0x15}) + std::string(21, '\0') + bytes_of({0xdd, 0x00, 0x40, 0x00, 0x00});
    for (const std::string& payload : {field_block_255, unknown_format}) {
        const Outcome outcome = decode_counting(envelope, payload);
        EXPECT_TRUE(outcome.rejected) << describe(payload) << " " << outcome.other;
        EXPECT_LE(outcome.allocations.bytes, fixed_budget) << describe(payload);
    }
}

}  // namespace
