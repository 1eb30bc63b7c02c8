#pragma once
/// \file
/// The Backend contract as a typed GoogleTest suite: run it on your own
/// backend with a factory and one line.
/// \code
///   struct MyBackendFactory {
///       using Value = std::string;
///       using Key = std::string;
///       static dogpile::testing::BackendCapabilities capabilities() { return {}; }
///       std::shared_ptr<dogpile::Backend<Value, Key>> make();  // empty, isolated from other tests
///       Key key(std::size_t i);                                 // distinct for distinct i
///       Value value(std::size_t i);                             // distinct for distinct i
///       static std::string name() { return "MyBackend"; }           // optional: names the tests
///   };
///   DOGPILE_BACKEND_CONFORMANCE(MyBackend, MyBackendFactory);
/// \endcode
/// (The macro is INSTANTIATE_TYPED_TEST_SUITE_P(MyBackend, BackendConformance,
/// ::testing::Types<MyBackendFactory>) inside namespace dogpile::testing.)
/// Optional factory members widen the checks:
/// \code{.unparsed}
///  std::vector<Key> awkward_keys();     keys the backend must keep apart (defaults for std::string:
///                                       empty, NUL bytes, CR LF, non-UTF-8, long)
///  std::vector<Value> awkward_values(); values that must round-trip (defaults for std::string:
///                                       empty, NUL bytes, non-UTF-8, 1 MiB)
///  void corrupt(const Key&, const std::string& bytes);  stores `bytes` where the key's payload
///                                       lives; enables the corrupt-payload checks
///  std::vector<std::string> corrupt_payloads();  what corrupt() writes (default: bytes no
///                                       msgpack reader or dogpile envelope accepts)
///  Value over_limit_value();            a value set() must refuse with LimitExceeded (needed when
///                                       capabilities() says refuses_values_over_a_limit)
/// \endcode
/// bytes_of({0xff, 0x00}) and random_bytes(n, seed) (dogpile/testing/bytes.hpp) help write those.
/// Link GTest::gtest_main (or your own main) and dogpile; gtest is the only
/// extra dependency. Checks a backend does not promise (BackendCapabilities)
/// are reported as skipped, with the reason.
//
// (Over 400 lines: the contract is one suite, kept in the one header a user includes.)

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../cached_value.hpp"
#include "../errors.hpp"
#include "../mutex.hpp"
#include "../region.hpp"
#include "bytes.hpp"

/// \namespace dogpile::testing
/// The backend conformance kit: the Backend contract as a GoogleTest suite, and helpers.
namespace dogpile::testing {

/// Whether what is set can be read back (NullBackend stores nothing).
enum class Persistence { stores, stores_nothing };

/// What get() returns as metadata: what was set (to the microsecond), or
/// Metadata::store_managed() (raw payloads: the store's TTL owns expiry).
enum class MetadataKept { as_set, store_managed };

/// What get_mutex() offers: nothing (nullptr, the region's in-process lock is
/// enough) or a lock that excludes every other Mutex object of the same key.
enum class MutexOffer { none, exclusive };

/// What a backend promises, as its factory's capabilities() returns it; the checks it does not
/// promise are skipped. The defaults describe a backend that stores, keeps metadata as set and
/// offers no mutex.
struct BackendCapabilities {
    Persistence persistence = Persistence::stores;  ///< whether what is set can be read back
    MetadataKept metadata = MetadataKept::as_set;   ///< what get() returns as metadata
    MutexOffer mutex = MutexOffer::none;            ///< what get_mutex() offers
    /// Values whose encoding exceeds this are refused by set() with
    /// LimitExceeded; the factory's over_limit_value() makes one.
    bool refuses_values_over_a_limit = false;
};

namespace details {

template <class F, class = void>
struct has_awkward_keys : std::false_type {};
template <class F>
struct has_awkward_keys<F, std::void_t<decltype(std::declval<F&>().awkward_keys())>> : std::true_type {};

template <class F, class = void>
struct has_awkward_values : std::false_type {};
template <class F>
struct has_awkward_values<F, std::void_t<decltype(std::declval<F&>().awkward_values())>> : std::true_type {};

template <class F, class = void>
struct has_corrupt : std::false_type {};
template <class F>
struct has_corrupt<F, std::void_t<decltype(std::declval<F&>().corrupt(std::declval<const typename F::Key&>(),
                                                                      std::declval<const std::string&>()))>>
    : std::true_type {};

template <class F, class = void>
struct has_corrupt_payloads : std::false_type {};
template <class F>
struct has_corrupt_payloads<F, std::void_t<decltype(std::declval<F&>().corrupt_payloads())>> : std::true_type {};

template <class F, class = void>
struct has_over_limit_value : std::false_type {};
template <class F>
struct has_over_limit_value<F, std::void_t<decltype(std::declval<F&>().over_limit_value())>> : std::true_type {};

template <class F, class = void>
struct has_name : std::false_type {};
template <class F>
struct has_name<F, std::void_t<decltype(F::name())>> : std::true_type {};

template <class Factory>
std::vector<typename Factory::Key> awkward_keys(Factory& factory) {
    if constexpr (has_awkward_keys<Factory>::value) {
        return factory.awkward_keys();
    } else if constexpr (std::is_same_v<typename Factory::Key, std::string>) {
        return {"",       std::string(1, '\0'), std::string("a\0b", 3), "with space\r\n", bytes_of({0xff, 0xfe, 0xc1}),
                "{tag}k", std::string(300, 'k')};
    } else {
        return {};
    }
}

template <class Factory>
std::vector<typename Factory::Value> awkward_values(Factory& factory) {
    if constexpr (has_awkward_values<Factory>::value) {
        return factory.awkward_values();
    } else if constexpr (std::is_same_v<typename Factory::Value, std::string>) {
        return {"", std::string(1, '\0'), std::string("x\0y", 3) + bytes_of({0xff, 0xc1}), random_bytes(1 << 20, 7)};
    } else {
        return {};
    }
}

template <class Factory>
std::vector<std::string> corrupt_payloads(Factory& factory) {
    if constexpr (has_corrupt_payloads<Factory>::value) {
        return factory.corrupt_payloads();
    } else {
        return {
            std::string(),                             // empty
            bytes_of({0xc1}),                          // the byte msgpack never uses
            bytes_of({0xd9, 0x20, 0x61, 0x62}),        // str8 of 32 bytes, 2 present
            bytes_of({0xdd, 0xff, 0xff, 0xff, 0xff}),  // array32 claiming 4 G elements
        };
    }
}

// Fixes the precision every store keeps (the envelope stores microseconds).
inline Metadata sample_metadata() {
    using std::chrono::floor;
    using std::chrono::microseconds;
    const TimePoint created = floor<microseconds>(WallClock::now() - std::chrono::seconds(3));
    return Metadata::created_now(created, floor<microseconds>(std::chrono::milliseconds(123)));
}

inline bool same_metadata(const Metadata& a, const Metadata& b) {
    return a.created_at == b.created_at && a.version == b.version && a.expiry_owner == b.expiry_owner &&
           a.creation_time == b.creation_time;
}

}  // namespace details

/// Test names show the factory's name() when it has one, else its position.
struct FactoryNames {
    /// GoogleTest's name generator hook: the name of the test instance for `Factory`.
    template <class Factory>
    static std::string GetName(int index) {
        if constexpr (details::has_name<Factory>::value) {
            return Factory::name();
        } else {
            return std::to_string(index);
        }
    }
};

/// The contract suite (see this file's documentation): one test per promise of Backend,
/// instantiated for a factory by DOGPILE_BACKEND_CONFORMANCE.
template <class Factory>
class BackendConformance : public ::testing::Test {
protected:
    using Value = typename Factory::Value;                    ///< the backend's value type
    using Key = typename Factory::Key;                        ///< the backend's key type
    using Entry = CachedValue<Value>;                         ///< what the backend stores
    using BackendPtr = std::shared_ptr<Backend<Value, Key>>;  ///< what the factory makes

    BackendConformance() : caps_(Factory::capabilities()), backend_(factory_.make()) {}

    /// Whether the backend under test stores what is set.
    bool stores() const { return caps_.persistence == Persistence::stores; }

    /// `value` with sample metadata at the precision every store keeps (microseconds).
    Entry entry(Value value) const { return Entry{std::move(value), details::sample_metadata()}; }

    /// A read of what was set: the value, or nothing at all for a backend that stores nothing.
    void expect_stored(const Key& key, const Value& value, const char* what) {
        const auto got = backend_->get(key);
        if (!stores()) {
            EXPECT_FALSE(got) << what << ": a backend that stores nothing returned a value";
            return;
        }
        ASSERT_TRUE(got) << what << ": a value that was set is missing";
        EXPECT_TRUE(got->value == value) << what << ": get returned another value";
    }

    Factory factory_;           ///< the factory under test
    BackendCapabilities caps_;  ///< what the factory says the backend promises
    BackendPtr backend_;        ///< a fresh backend for each test
};

/// \cond DOGPILE_CONFORMANCE_TESTS
// The tests themselves: not API (the file's documentation lists the contract).
TYPED_TEST_SUITE_P(BackendConformance);

TYPED_TEST_P(BackendConformance, AKeyNeverSetIsAMiss) {
    EXPECT_FALSE(this->backend_->get(this->factory_.key(0)));
    const auto got = this->backend_->get_multi({this->factory_.key(0), this->factory_.key(1)});
    ASSERT_EQ(got.size(), 2u);
    EXPECT_FALSE(got[0]);
    EXPECT_FALSE(got[1]);
}

TYPED_TEST_P(BackendConformance, SetThenGetReturnsTheValueAndSetOverwrites) {
    auto& f = this->factory_;
    this->backend_->set(f.key(0), this->entry(f.value(0)));
    this->expect_stored(f.key(0), f.value(0), "first set");
    this->backend_->set(f.key(0), this->entry(f.value(1)));
    this->expect_stored(f.key(0), f.value(1), "overwrite");
}

TYPED_TEST_P(BackendConformance, MetadataRoundTrips) {
    if (!this->stores()) GTEST_SKIP() << "stores nothing";
    auto& f = this->factory_;
    const Metadata set = details::sample_metadata();
    this->backend_->set(f.key(0), {f.value(0), set});
    const auto got = this->backend_->get(f.key(0));
    ASSERT_TRUE(got);
    const Metadata expected = this->caps_.metadata == MetadataKept::as_set ? set : Metadata::store_managed();
    EXPECT_TRUE(details::same_metadata(got->metadata, expected))
        << "created_at/version/expiry_owner/creation_time differ from what was set";
    const auto multi = this->backend_->get_multi({f.key(0)});
    ASSERT_TRUE(multi.at(0));
    EXPECT_TRUE(details::same_metadata(multi[0]->metadata, expected)) << "get_multi";
}

TYPED_TEST_P(BackendConformance, EraseRemovesOnlyThatKey) {
    auto& f = this->factory_;
    this->backend_->set(f.key(0), this->entry(f.value(0)));
    this->backend_->set(f.key(1), this->entry(f.value(1)));
    this->backend_->erase(f.key(0));
    EXPECT_FALSE(this->backend_->get(f.key(0)));
    this->expect_stored(f.key(1), f.value(1), "the other key");
    EXPECT_NO_THROW(this->backend_->erase(f.key(0))) << "erasing a missing key is not an error";
}

TYPED_TEST_P(BackendConformance, GetMultiKeepsTheOrderDuplicatesAndMisses) {
    auto& f = this->factory_;
    this->backend_->set_multi({{f.key(1), this->entry(f.value(1))}, {f.key(3), this->entry(f.value(3))}});
    const auto got = this->backend_->get_multi({f.key(3), f.key(2), f.key(1), f.key(3)});
    ASSERT_EQ(got.size(), 4u);
    EXPECT_FALSE(got[1]);
    if (this->stores()) {
        ASSERT_TRUE(got[0] && got[2] && got[3]);
        EXPECT_TRUE(got[0]->value == f.value(3));
        EXPECT_TRUE(got[2]->value == f.value(1));
        EXPECT_TRUE(got[3]->value == f.value(3));
    } else {
        EXPECT_FALSE(got[0] || got[2] || got[3]);
    }
    EXPECT_TRUE(this->backend_->get_multi({}).empty());
}

TYPED_TEST_P(BackendConformance, MultiWritesAndErasesTouchExactlyTheirKeys) {
    auto& f = this->factory_;
    std::vector<std::pair<typename TestFixture::Key, typename TestFixture::Entry>> items;
    for (std::size_t i = 0; i < 8; ++i) items.emplace_back(f.key(i), this->entry(f.value(i)));
    this->backend_->set_multi(items);
    for (std::size_t i = 0; i < 8; ++i) this->expect_stored(f.key(i), f.value(i), "set_multi");
    this->backend_->erase_multi({f.key(0), f.key(5), f.key(9)});
    for (std::size_t i = 0; i < 8; ++i) {
        if (i == 0 || i == 5) {
            EXPECT_FALSE(this->backend_->get(f.key(i))) << "erase_multi left key " << i;
        } else {
            this->expect_stored(f.key(i), f.value(i), "a key erase_multi did not name");
        }
    }
    EXPECT_NO_THROW(this->backend_->set_multi({}));
    EXPECT_NO_THROW(this->backend_->erase_multi({}));
}

TYPED_TEST_P(BackendConformance, AwkwardKeysStayApart) {
    auto& f = this->factory_;
    const auto keys = details::awkward_keys(f);
    if (keys.empty()) GTEST_SKIP() << "the factory names no awkward keys for this key type";
    for (std::size_t i = 0; i < keys.size(); ++i) this->backend_->set(keys[i], this->entry(f.value(i)));
    for (std::size_t i = 0; i < keys.size(); ++i) this->expect_stored(keys[i], f.value(i), "awkward key");
    const auto got = this->backend_->get_multi(keys);
    ASSERT_EQ(got.size(), keys.size());
    for (std::size_t i = 0; i < keys.size() && this->stores(); ++i) {
        ASSERT_TRUE(got[i]) << "awkward key " << i << " missing from get_multi";
        EXPECT_TRUE(got[i]->value == f.value(i)) << "awkward key " << i << " read another key's value";
    }
    this->backend_->erase(keys.front());
    EXPECT_FALSE(this->backend_->get(keys.front()));
    for (std::size_t i = 1; i < keys.size(); ++i) this->expect_stored(keys[i], f.value(i), "after erasing another");
}

TYPED_TEST_P(BackendConformance, AwkwardValuesRoundTrip) {
    auto& f = this->factory_;
    const auto values = details::awkward_values(f);
    if (values.empty()) GTEST_SKIP() << "the factory names no awkward values for this value type";
    for (std::size_t i = 0; i < values.size(); ++i) {
        this->backend_->set(f.key(i), this->entry(values[i]));
        this->expect_stored(f.key(i), values[i], "awkward value");
    }
}

TYPED_TEST_P(BackendConformance, ValuesOverTheLimitAreRefusedAndChangeNothing) {
    if (!this->caps_.refuses_values_over_a_limit) GTEST_SKIP() << "promises no value size limit";
    if constexpr (details::has_over_limit_value<TypeParam>::value) {
        auto& f = this->factory_;
        this->backend_->set(f.key(0), this->entry(f.value(0)));
        EXPECT_THROW(this->backend_->set(f.key(0), this->entry(f.over_limit_value())), LimitExceeded);
        EXPECT_THROW(this->backend_->set_multi(
                         {{f.key(1), this->entry(f.value(1))}, {f.key(2), this->entry(f.over_limit_value())}}),
                     LimitExceeded);
        this->expect_stored(f.key(0), f.value(0), "a refused overwrite");
        EXPECT_FALSE(this->backend_->get(f.key(1))) << "part of a refused set_multi was written";
    } else {
        FAIL() << "refuses_values_over_a_limit needs the factory's over_limit_value()";
    }
}

TYPED_TEST_P(BackendConformance, ACorruptPayloadIsAMissAndIsOverwritten) {
    if constexpr (details::has_corrupt<TypeParam>::value) {
        auto& f = this->factory_;
        for (const std::string& bytes : details::corrupt_payloads(f)) {
            SCOPED_TRACE("corrupt payload of " + std::to_string(bytes.size()) + " bytes");
            this->backend_->set(f.key(0), this->entry(f.value(0)));
            this->backend_->set(f.key(2), this->entry(f.value(2)));
            f.corrupt(f.key(1), bytes);
            try {
                EXPECT_FALSE(this->backend_->get(f.key(1))) << "a corrupt payload was served";
            } catch (const DecodeError&) {
                // get() may report it: a region counts that as a backend error and a miss.
            }
            const auto got = this->backend_->get_multi({f.key(0), f.key(1), f.key(2)});
            ASSERT_EQ(got.size(), 3u);
            EXPECT_FALSE(got[1]) << "get_multi served a corrupt payload";
            ASSERT_TRUE(got[0] && got[2]) << "a corrupt entry cost its neighbours";
            EXPECT_TRUE(got[0]->value == f.value(0));
            EXPECT_TRUE(got[2]->value == f.value(2));

            Region<typename TestFixture::Value, typename TestFixture::Key> region(this->backend_);
            int calls = 0;
            const auto made = region.get_or_create(f.key(1), [&] { return ++calls, f.value(1); });
            EXPECT_TRUE(made == f.value(1));
            EXPECT_EQ(calls, 1);
            this->expect_stored(f.key(1), f.value(1), "the region's overwrite");
        }
    } else {
        GTEST_SKIP() << "the factory cannot corrupt a payload (no corrupt())";
    }
}

TYPED_TEST_P(BackendConformance, ConcurrentReadersSeeOnlyWrittenValues) {
    auto& f = this->factory_;
    constexpr std::size_t keys = 4;
    constexpr std::size_t versions = 3;
    constexpr int threads = 4;
    constexpr int rounds = 200;
    std::vector<typename TestFixture::Key> key_list;
    std::vector<std::vector<typename TestFixture::Value>> allowed(keys);
    for (std::size_t k = 0; k < keys; ++k) {
        key_list.push_back(f.key(k));
        for (std::size_t v = 0; v < versions; ++v) allowed[k].push_back(f.value(k * versions + v));
    }
    std::atomic<int> ready{0};
    std::atomic<int> wrong{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < threads) std::this_thread::yield();  // start together
            for (int r = 0; r < rounds; ++r) {
                const std::size_t k = static_cast<std::size_t>(t + r) % keys;
                const std::size_t v = static_cast<std::size_t>(r) % versions;
                try {
                    if ((r + t) % 3 == 0) {
                        this->backend_->set(key_list[k], this->entry(allowed[k][v]));
                    } else if ((r + t) % 7 == 0) {
                        this->backend_->erase(key_list[k]);
                    } else {
                        const auto got = this->backend_->get_multi(key_list);
                        if (got.size() != keys) wrong.fetch_add(1);
                        for (std::size_t i = 0; i < std::min(keys, got.size()); ++i) {
                            const auto& seen = got[i];
                            if (seen &&
                                std::find(allowed[i].begin(), allowed[i].end(), seen->value) == allowed[i].end()) {
                                wrong.fetch_add(1);
                            }
                        }
                    }
                } catch (...) {
                    wrong.fetch_add(1);
                }
            }
        });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(wrong.load(), 0) << "a read returned a value never written for its key, or an operation threw";
}

TYPED_TEST_P(BackendConformance, MutexContract) {
    auto& f = this->factory_;
    auto first = this->backend_->get_mutex(f.key(0));
    if (this->caps_.mutex == MutexOffer::none) {
        EXPECT_EQ(first, nullptr) << "capabilities say no mutex, get_mutex returned one";
        return;
    }
    ASSERT_NE(first, nullptr);
    auto second = this->backend_->get_mutex(f.key(0));
    auto other_key = this->backend_->get_mutex(f.key(1));
    ASSERT_NE(second, nullptr);
    ASSERT_NE(other_key, nullptr);
    // locked() is optional (std::nullopt: cannot tell); an answer must be right.
    const bool answers_locked = second->locked().has_value();
    if (answers_locked) {
        EXPECT_EQ(second->locked(), false) << "locked() before anybody locked";
    }
    ASSERT_TRUE(first->try_lock());
    if (answers_locked) {
        EXPECT_EQ(second->locked(), true) << "locked() does not see another object's hold";
    }
    EXPECT_FALSE(second->try_lock()) << "two holders of one key's mutex";
    EXPECT_FALSE(second->lock(std::chrono::milliseconds(0))) << "lock(0 ms) acquired a held mutex";
    EXPECT_TRUE(other_key->try_lock()) << "another key's mutex is independent";
    other_key->unlock();
    std::thread([&] { first->unlock(); }).join();  // unlock is callable from any thread
    if (answers_locked) {
        EXPECT_EQ(second->locked(), false) << "locked() after the holder released";
    }
    EXPECT_TRUE(second->try_lock()) << "released mutex could not be taken";
    second->unlock();
    EXPECT_TRUE(first->try_lock());
    first->unlock();
}

TYPED_TEST_P(BackendConformance, ARegionOnTopCreatesOnceAndServesWhatItStored) {
    auto& f = this->factory_;
    Region<typename TestFixture::Value, typename TestFixture::Key> region(this->backend_);
    int calls = 0;
    const auto creator = [&] { return ++calls, f.value(4); };
    EXPECT_TRUE(region.get_or_create(f.key(4), creator) == f.value(4));
    EXPECT_TRUE(region.get_or_create(f.key(4), creator) == f.value(4));
    EXPECT_EQ(calls, this->stores() ? 1 : 2);
    region.erase(f.key(4));
    EXPECT_FALSE(this->backend_->get(f.key(4)));
}

REGISTER_TYPED_TEST_SUITE_P(BackendConformance, AKeyNeverSetIsAMiss, SetThenGetReturnsTheValueAndSetOverwrites,
                            MetadataRoundTrips, EraseRemovesOnlyThatKey, GetMultiKeepsTheOrderDuplicatesAndMisses,
                            MultiWritesAndErasesTouchExactlyTheirKeys, AwkwardKeysStayApart, AwkwardValuesRoundTrip,
                            ValuesOverTheLimitAreRefusedAndChangeNothing, ACorruptPayloadIsAMissAndIsOverwritten,
                            ConcurrentReadersSeeOnlyWrittenValues, MutexContract,
                            ARegionOnTopCreatesOnceAndServesWhatItStored);
/// \endcond

}  // namespace dogpile::testing

/// One line per backend: the contract, instantiated for `...` (factory types).
#define DOGPILE_BACKEND_CONFORMANCE(prefix, ...)                                             \
    namespace dogpile::testing {                                                             \
    using prefix##ConformanceFactories = ::testing::Types<__VA_ARGS__>;                      \
    INSTANTIATE_TYPED_TEST_SUITE_P(prefix, BackendConformance, prefix##ConformanceFactories, \
                                   ::dogpile::testing::FactoryNames);                        \
    }                                                                                        \
    static_assert(true, "a semicolon after DOGPILE_BACKEND_CONFORMANCE(...) is welcome")
