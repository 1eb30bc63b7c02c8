// Encoding and decoding the 25-flag permission dict with each codec. The
// generic msgpack map (what one writes without a key template) is the baseline.
// BM_Codec_* measure one codec each; BM_Compare_Codec* run them all in
// alternating blocks and report ratios to the baseline (support/compare.hpp).
// BM_Compare_FlagSetDecode puts the FlagSet decoders next to the floor: raw
// msgpack::unpack of the same values-only bytes, and a hand-written loop.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>

#include "support/compare.hpp"
#include "support/permissions.hpp"

namespace {

using dogpile::bench::make_flag_set;
using dogpile::bench::make_flags;
using dogpile::bench::permission_flag_template;
using dogpile::bench::permission_template;
using dogpile::codec::Flags;

// A few different dicts, so no codec wins by branch-predicting one value.
constexpr std::size_t sample_count = 64;

template <class Value, class Convert>
std::vector<Value> samples(Convert convert) {
    std::vector<Value> out;
    for (std::uint64_t seed = 0; seed < sample_count; ++seed) out.push_back(convert(make_flags(seed)));
    return out;
}

const std::vector<Flags>& flag_samples() {
    static const auto all = samples<Flags>([](Flags f) { return f; });
    return all;
}

const std::vector<dogpile::codec::FlagSet>& flag_set_samples() {
    static const auto all = [] {
        std::vector<dogpile::codec::FlagSet> out;
        for (std::uint64_t seed = 0; seed < sample_count; ++seed) out.push_back(make_flag_set(seed));
        return out;
    }();
    return all;
}

const std::vector<dogpile::codec::Dict>& dict_samples() {
    static const auto all = samples<dogpile::codec::Dict>(dogpile::bench::to_dict);
    return all;
}

// `ops` encodes, cycling through the samples from `first`.
template <class Codec, class Value>
void encode_some(const Codec& codec, const std::vector<Value>& values, std::size_t ops, std::size_t first = 0) {
    for (std::size_t i = first; i < first + ops; ++i) {
        std::string bytes = codec.encode(values[i % sample_count]);
        benchmark::DoNotOptimize(bytes);
    }
}

template <class Codec, class Value>
std::vector<std::string> encode_all(const Codec& codec, const std::vector<Value>& values) {
    std::vector<std::string> payloads;
    for (const auto& value : values) payloads.push_back(codec.encode(value));
    return payloads;
}

template <class Codec>
void decode_some(const Codec& codec, const std::vector<std::string>& payloads, std::size_t ops, std::size_t first = 0) {
    for (std::size_t i = first; i < first + ops; ++i) {
        auto value = codec.decode(payloads[i % sample_count]);
        benchmark::DoNotOptimize(value);
    }
}

template <class Codec, class Value>
void encode(benchmark::State& state, const Codec& codec, const std::vector<Value>& values) {
    std::size_t next = 0;
    for (auto _ : state) encode_some(codec, values, 1, next++);
    state.SetItemsProcessed(state.iterations());
}

template <class Codec, class Value>
void decode(benchmark::State& state, const Codec& codec, const std::vector<Value>& values) {
    const std::vector<std::string> payloads = encode_all(codec, values);
    std::size_t next = 0;
    for (auto _ : state) decode_some(codec, payloads, 1, next++);
    state.SetItemsProcessed(state.iterations());
    state.counters["bytes"] = static_cast<double>(payloads.front().size());
}

const dogpile::codec::MsgpackCodec<Flags> msgpack_map;
const dogpile::codec::FlagsCodec values_only{permission_template()};
const dogpile::codec::BitpackedCodec bitpacked{permission_template()};
const dogpile::codec::DictValuesCodec dict_values{permission_template()};
const dogpile::codec::FlagSetCodec flag_set_values{permission_flag_template()};
const dogpile::codec::BitpackedFlagSetCodec flag_set_bitpacked{permission_flag_template()};

void BM_Codec_MsgpackMap_Encode(benchmark::State& s) { encode(s, msgpack_map, flag_samples()); }
void BM_Codec_MsgpackMap_Decode(benchmark::State& s) { decode(s, msgpack_map, flag_samples()); }
void BM_Codec_ValuesOnly_Encode(benchmark::State& s) { encode(s, values_only, flag_samples()); }
void BM_Codec_ValuesOnly_Decode(benchmark::State& s) { decode(s, values_only, flag_samples()); }
void BM_Codec_Bitpacked_Encode(benchmark::State& s) { encode(s, bitpacked, flag_samples()); }
void BM_Codec_Bitpacked_Decode(benchmark::State& s) { decode(s, bitpacked, flag_samples()); }
void BM_Codec_DictValues_Encode(benchmark::State& s) { encode(s, dict_values, dict_samples()); }
void BM_Codec_DictValues_Decode(benchmark::State& s) { decode(s, dict_values, dict_samples()); }
void BM_Codec_FlagSetValues_Encode(benchmark::State& s) { encode(s, flag_set_values, flag_set_samples()); }
void BM_Codec_FlagSetValues_Decode(benchmark::State& s) { decode(s, flag_set_values, flag_set_samples()); }
void BM_Codec_FlagSetBitpacked_Encode(benchmark::State& s) { encode(s, flag_set_bitpacked, flag_set_samples()); }
void BM_Codec_FlagSetBitpacked_Decode(benchmark::State& s) { decode(s, flag_set_bitpacked, flag_set_samples()); }

BENCHMARK(BM_Codec_MsgpackMap_Encode);
BENCHMARK(BM_Codec_MsgpackMap_Decode);
BENCHMARK(BM_Codec_ValuesOnly_Encode);
BENCHMARK(BM_Codec_ValuesOnly_Decode);
BENCHMARK(BM_Codec_Bitpacked_Encode);
BENCHMARK(BM_Codec_Bitpacked_Decode);
BENCHMARK(BM_Codec_DictValues_Encode);
BENCHMARK(BM_Codec_DictValues_Decode);
BENCHMARK(BM_Codec_FlagSetValues_Encode);
BENCHMARK(BM_Codec_FlagSetValues_Decode);
BENCHMARK(BM_Codec_FlagSetBitpacked_Encode);
BENCHMARK(BM_Codec_FlagSetBitpacked_Decode);

void BM_Compare_CodecEncode(benchmark::State& state) {
    auto encodes = [](const auto& codec, const auto& values) {
        return [&codec, &values](std::size_t, std::size_t ops) { encode_some(codec, values, ops); };
    };
    dogpile::bench::Comparison comparison(1,
                                          {{"msgpack_map", 1, encodes(msgpack_map, flag_samples())},
                                           {"values_only", 1, encodes(values_only, flag_samples())},
                                           {"bitpacked", 1, encodes(bitpacked, flag_samples())},
                                           {"dict_values", 1, encodes(dict_values, dict_samples())},
                                           {"flag_set_values", 1, encodes(flag_set_values, flag_set_samples())},
                                           {"flag_set_bitpacked", 1, encodes(flag_set_bitpacked, flag_set_samples())}});
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);
}

void BM_Compare_CodecDecode(benchmark::State& state) {
    static const auto map_payloads = encode_all(msgpack_map, flag_samples());
    static const auto values_payloads = encode_all(values_only, flag_samples());
    static const auto bit_payloads = encode_all(bitpacked, flag_samples());
    static const auto dict_payloads = encode_all(dict_values, dict_samples());
    static const auto flag_set_bit_payloads = encode_all(flag_set_bitpacked, flag_set_samples());
    auto decodes = [](const auto& codec, const std::vector<std::string>& payloads) {
        return [&codec, &payloads](std::size_t, std::size_t ops) { decode_some(codec, payloads, ops); };
    };
    dogpile::bench::Comparison comparison(
        1, {{"msgpack_map", 1, decodes(msgpack_map, map_payloads)},
            {"values_only", 1, decodes(values_only, values_payloads)},
            {"bitpacked", 1, decodes(bitpacked, bit_payloads)},
            {"dict_values", 1, decodes(dict_values, dict_payloads)},
            {"flag_set_values", 1, decodes(flag_set_values, values_payloads)},
            {"flag_set_bitpacked", 1, decodes(flag_set_bitpacked, flag_set_bit_payloads)}});
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);
}

BENCHMARK(BM_Compare_CodecEncode)->UseManualTime();
BENCHMARK(BM_Compare_CodecDecode)->UseManualTime();

// The floor for a values-only decode: msgpack-c parsing the same 28 bytes
// into its object tree (a zone, no dict), with nothing checked or built.
void unpack_some(const std::vector<std::string>& payloads, std::size_t ops) {
    for (std::size_t i = 0; i < ops; ++i) {
        const std::string& payload = payloads[i % sample_count];
        msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
        benchmark::DoNotOptimize(handle.get().via.array.size);
    }
}

// What one would write by hand for exactly this payload (fixed array16 header,
// 25 boolean bytes) into a bit mask: no limits, no messages, no FlagSet.
void hand_loop_some(const std::vector<std::string>& payloads, std::size_t ops) {
    for (std::size_t i = 0; i < ops; ++i) {
        const std::string& payload = payloads[i % sample_count];
        const auto* bytes = reinterpret_cast<const unsigned char*>(payload.data());
        std::uint64_t bits = 0;
        bool valid = payload.size() == 28 && bytes[0] == 0xdc && bytes[1] == 0 && bytes[2] == 25;
        for (std::size_t f = 0; f < 25 && valid; ++f) {
            const unsigned char b = bytes[3 + f];
            valid = (b & 0xfe) == 0xc2;
            bits |= std::uint64_t{b & 1u} << f;
        }
        benchmark::DoNotOptimize(bits);
        benchmark::DoNotOptimize(valid);
    }
}

void BM_Compare_FlagSetDecode(benchmark::State& state) {
    static const auto values_payloads = encode_all(values_only, flag_samples());
    static const auto bit_payloads = encode_all(flag_set_bitpacked, flag_set_samples());
    auto decodes = [](const auto& codec, const std::vector<std::string>& payloads) {
        return [&codec, &payloads](std::size_t, std::size_t ops) { decode_some(codec, payloads, ops); };
    };
    dogpile::bench::Comparison comparison(
        1, {{"msgpack_unpack", 1, [](std::size_t, std::size_t ops) { unpack_some(values_payloads, ops); }},
            {"hand_loop", 1, [](std::size_t, std::size_t ops) { hand_loop_some(values_payloads, ops); }},
            {"flags_values", 1, decodes(values_only, values_payloads)},
            {"flag_set_values", 1, decodes(flag_set_values, values_payloads)},
            {"flag_set_bitpacked", 1, decodes(flag_set_bitpacked, bit_payloads)}});
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);              // <name>_vs_msgpack_unpack
    comparison.report_ratio(state, 3, 1);  // flag_set_values_vs_hand_loop
    comparison.report_ratio(state, 4, 1);  // flag_set_bitpacked_vs_hand_loop
}

BENCHMARK(BM_Compare_FlagSetDecode)->UseManualTime();

}  // namespace
