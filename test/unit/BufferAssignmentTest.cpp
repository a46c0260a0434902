// Buffer assignment: live buffers never share bytes, dead ones are reused, the peak is exact.
#include "compiler/plan/BufferAssignment.h"

#include <gtest/gtest.h>

#include <random>

using nnc::assignBuffers;
using nnc::BufferRequest;

namespace {

bool liveTogether(const BufferRequest &a, const BufferRequest &b) {
  return a.start <= b.end && b.start <= a.end;
}

TEST(BufferAssignmentTest, ReusesDeadBuffer) {
  // a -> b -> c: a is dead when c is made, so c takes a's bytes; b overlaps both.
  std::vector<BufferRequest> requests = {{1024, 0, 1}, {1024, 1, 2}, {1024, 2, 3}};
  auto result = assignBuffers(requests);
  EXPECT_EQ(result.offsets[0], result.offsets[2]);
  EXPECT_NE(result.offsets[0], result.offsets[1]);
  EXPECT_EQ(result.peakBytes, 2048);
}

TEST(BufferAssignmentTest, PeakIsLargestLiveSetWhenSizesNest) {
  // Persistent 100 bytes, then two 64-byte temporaries that never meet: 100 -> 128 aligned.
  std::vector<BufferRequest> requests = {{100, 0, 10}, {64, 1, 2}, {64, 3, 4}};
  auto result = assignBuffers(requests, /*alignment=*/64);
  EXPECT_EQ(result.offsets[0], 0);
  EXPECT_EQ(result.offsets[1], 128);
  EXPECT_EQ(result.offsets[2], 128);
  EXPECT_EQ(result.peakBytes, 192);
}

TEST(BufferAssignmentTest, OffsetsAreAligned) {
  std::vector<BufferRequest> requests = {{3, 0, 5}, {5, 0, 5}, {7, 0, 5}};
  auto result = assignBuffers(requests, /*alignment=*/64);
  for (int64_t offset : result.offsets)
    EXPECT_EQ(offset % 64, 0);
}

TEST(BufferAssignmentTest, LiveBuffersNeverOverlapRandomized) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BufferRequest> requests;
    int count = 1 + rng() % 40;
    for (int i = 0; i < count; ++i) {
      int64_t start = rng() % 50;
      requests.push_back({1 + static_cast<int64_t>(rng() % 5000), start,
                          start + static_cast<int64_t>(rng() % 10)});
    }
    auto result = assignBuffers(requests);
    int64_t peak = 0, liveMax = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      peak = std::max(peak, result.offsets[i] + requests[i].size);
      for (size_t j = i + 1; j < requests.size(); ++j) {
        if (!liveTogether(requests[i], requests[j]))
          continue;
        bool disjoint = result.offsets[i] + requests[i].size <= result.offsets[j] ||
                        result.offsets[j] + requests[j].size <= result.offsets[i];
        ASSERT_TRUE(disjoint) << "trial " << trial << ": buffers " << i << " and " << j;
      }
    }
    EXPECT_EQ(result.peakBytes, peak);
    // Never worse than giving every buffer its own (aligned) bytes.
    for (const BufferRequest &r : requests)
      liveMax += (r.size + 63) / 64 * 64;
    EXPECT_LE(result.peakBytes, liveMax);
  }
}

} // namespace
