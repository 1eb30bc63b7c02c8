#pragma once
// CopyCounter<Owner>: a member that counts how often its owner is copied
// (constructed or assigned from a const&; moves are free and not counted), so
// a "no copy of V" test measures instead of assuming.
//
//   struct Profile { std::string name; dogpile::test::CopyCounter<Profile> counter; };
//   dogpile::test::CopyCounter<Profile>::copies = 0; ... EXPECT_EQ(dogpile::test::CopyCounter<Profile>::copies, 0);

#include <atomic>

namespace dogpile::test {

template <class Owner>
struct CopyCounter {
    static inline std::atomic<int> copies{0};

    CopyCounter() = default;
    CopyCounter(const CopyCounter&) noexcept { ++copies; }
    CopyCounter(CopyCounter&&) noexcept = default;
    CopyCounter& operator=(const CopyCounter&) noexcept {
        ++copies;
        return *this;
    }
    CopyCounter& operator=(CopyCounter&&) noexcept = default;
    ~CopyCounter() = default;
};

}  // namespace dogpile::test
