// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, so element i's random bits depend only on (key, counter) and not on
// which thread draws them or in what order. It drives parameter initialization and, later, dropout.
//
// How nnc uses it (the layout every producer of random numbers must share):
//   key     = {seed low 32 bits, seed high 32 bits}
//   counter = {block low, block high, stream low, stream high}, block = element index / 4
// and element i takes word i % 4 of its block. Parameter initialization uses stream = the
// parameter's index in the plan; other users (dropout) must pick streams that do not collide.
#pragma once

#include <array>
#include <cstdint>

namespace nnrt {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

/// The ten-round Philox4x32 bijection: four random 32-bit words for one counter value.
inline PhiloxCounter philox4x32(PhiloxCounter counter, PhiloxKey key) {
  // Constants from the paper (and Random123's philox.h).
  constexpr uint32_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;
  constexpr uint32_t kWeyl0 = 0x9E3779B9, kWeyl1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(kMul0) * counter[0];
    uint64_t p1 = uint64_t(kMul1) * counter[2];
    counter = {uint32_t(p1 >> 32) ^ counter[1] ^ key[0], uint32_t(p1),
               uint32_t(p0 >> 32) ^ counter[3] ^ key[1], uint32_t(p0)};
    key[0] += kWeyl0;
    key[1] += kWeyl1;
  }
  return counter;
}

/// The block of four words holding element `index` of `stream` under `seed` (layout above).
inline PhiloxCounter philoxBlock(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t block = index / 4;
  return philox4x32({uint32_t(block), uint32_t(block >> 32), uint32_t(stream),
                     uint32_t(stream >> 32)},
                    {uint32_t(seed), uint32_t(seed >> 32)});
}

/// A float in [0, 1) from the top 24 bits of a word: every value is exactly representable, so the
/// result is uniform on a 2^-24 grid and never rounds up to 1.
inline float uniformFromBits(uint32_t bits) { return float(bits >> 8) * 0x1p-24f; }

/// A double in (0, 1], for logarithms (Box-Muller) that must not see 0.
inline double openUniformFromBits(uint32_t bits) { return (double(bits >> 8) + 1.0) * 0x1p-24; }

} // namespace nnrt
