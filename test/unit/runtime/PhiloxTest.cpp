// Philox4x32-10 against Random123's known-answer vectors (kat_vectors), and the properties the
// runtime relies on: element i's bits depend only on (seed, stream, i).
#include "runtime/Philox.h"

#include <gtest/gtest.h>

#include <set>

namespace nnrt {
namespace {

TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PhiloxTest, BlockLayoutIsSeedStreamAndElement) {
  // Elements 0..3 share block 0, 4..7 block 1; the counter's high half is the stream.
  EXPECT_EQ(philoxBlock(5, 9, 0), philoxBlock(5, 9, 3));
  EXPECT_NE(philoxBlock(5, 9, 3), philoxBlock(5, 9, 4));
  EXPECT_EQ(philoxBlock(0x100000002ull, 0x300000004ull, 4 * 0x500000006ull),
            philox4x32({6, 5, 4, 3}, {2, 1}));
  EXPECT_NE(philoxBlock(5, 9, 0), philoxBlock(5, 10, 0));
  EXPECT_NE(philoxBlock(5, 9, 0), philoxBlock(6, 9, 0));
}

TEST(PhiloxTest, UniformStaysInTheHalfOpenInterval) {
  EXPECT_EQ(uniformFromBits(0), 0.0f);
  EXPECT_LT(uniformFromBits(0xffffffff), 1.0f);
  EXPECT_GT(openUniformFromBits(0), 0.0);
  EXPECT_EQ(openUniformFromBits(0xffffffff), 1.0);
}

TEST(PhiloxTest, NoRepeatsInAShortRun) {
  std::set<uint32_t> seen;
  for (uint64_t block = 0; block < 1000; ++block)
    for (uint32_t word : philoxBlock(1, 0, block * 4))
      seen.insert(word);
  EXPECT_EQ(seen.size(), 4000u); // a collision among 4000 32-bit draws has probability ~0.2%
}

} // namespace
} // namespace nnrt
