// Seeded permutations for the data order: epoch e of a run with seed s visits the examples in
// permutation(n, s, e), the same on every machine (SplitMix64 + Fisher-Yates, no std::shuffle,
// whose algorithm the standard leaves open). A checkpoint therefore only needs (seed, epoch,
// position) to resume the order mid-epoch.
#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

namespace nnrt::trainer {

/// The stream that picks the validation split; epochs use streams 0, 1, 2, ...
inline constexpr uint64_t kValidationSplitStream = ~0ull;

inline uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = seed ^ (stream * 0xD1B54A32D192ED03ull);
  splitMix64(state);
  for (int64_t i = n - 1; i > 0; --i) {
    // Lemire's multiply-shift: a uniform index in [0, i] (bias below 2^-32 for any n we load).
    uint64_t j = uint64_t((unsigned __int128)splitMix64(state) * uint64_t(i + 1) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

} // namespace nnrt::trainer
