// Tensor parallelism's parameter parts: which elements a rank holds, and that writing every part
// back into its place rebuilds the whole tensor.
#include "runtime/Shards.h"

#include <gtest/gtest.h>

#include <numeric>

namespace nnrt {
namespace {

std::vector<float> part(const Shape &shape, const ShardSpec &spec, int64_t rank,
                        std::vector<float> whole) {
  std::vector<float> result(whole.size() / size_t(spec.shards));
  copyPart(shape, spec, rank, sizeof(float), reinterpret_cast<char *>(whole.data()),
           reinterpret_cast<char *>(result.data()), false);
  return result;
}

std::vector<float> iota(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

TEST(ShardsTest, RowsOfAColumnParallelWeight) {
  // (4, 2) split along axis 0 over 2 ranks: rank 1 holds rows 2 and 3.
  EXPECT_EQ(part({4, 2}, {0, 2, 1}, 1, iota(8)), (std::vector<float>{4, 5, 6, 7}));
}

TEST(ShardsTest, ColumnsOfARowParallelWeight) {
  // (2, 4) split along axis 1: rank 0 holds columns 0 and 1 of each row.
  EXPECT_EQ(part({2, 4}, {1, 2, 1}, 0, iota(8)), (std::vector<float>{0, 1, 4, 5}));
}

TEST(ShardsTest, GroupsKeepWholeHeadsOfQKV) {
  // (6) as q, k, v of 2 each, over 2 ranks: rank 1 holds the second element of each group.
  EXPECT_EQ(part({6}, {0, 2, 3}, 1, iota(6)), (std::vector<float>{1, 3, 5}));
}

TEST(ShardsTest, PartsRebuildTheWhole) {
  Shape shape = {3, 12};
  ShardSpec spec = {1, 2, 3};
  std::vector<float> rebuilt(36, 0.0f);
  for (int64_t rank = 0; rank < 2; ++rank) {
    std::vector<float> p = part(shape, spec, rank, iota(36));
    copyPart(shape, spec, rank, sizeof(float), reinterpret_cast<char *>(rebuilt.data()),
             reinterpret_cast<char *>(p.data()), true);
  }
  EXPECT_EQ(rebuilt, iota(36));
}

TEST(ShardsTest, RefusesGroupsItDoesNotDivide) {
  EXPECT_FALSE(partBytes(nnc::F32, {6, 4}, {0, 4, 3}).ok()); // 2 rows per group, 4 ranks
  EXPECT_FALSE(partBytes(nnc::F32, {5, 4}, {0, 2, 3}).ok()); // 5 rows, 3 groups
  EXPECT_EQ(*partBytes(nnc::F32, {3, 4}, {1, 2, 1}), 24);
}

TEST(ShardsTest, PadsTheLastPartOfAnAxisItDoesNotDivide) {
  // A vocabulary of 5 rows of 2 over 3 ranks: 2 rows each, the last rank 1 row and 1 of zeros.
  EXPECT_EQ(*partBytes(nnc::F32, {5, 2}, {0, 3, 1}), 16);
  std::vector<float> last(4, -1.0f), whole = iota(10);
  copyPart({5, 2}, {0, 3, 1}, 2, sizeof(float), reinterpret_cast<char *>(whole.data()),
           reinterpret_cast<char *>(last.data()), false);
  EXPECT_EQ(last, (std::vector<float>{8, 9, 0, 0}));
  // Written back, the padding goes nowhere: every part rebuilds the whole.
  std::vector<float> rebuilt(10, 0.0f);
  for (int64_t rank = 0; rank < 3; ++rank) {
    std::vector<float> p(4);
    copyPart({5, 2}, {0, 3, 1}, rank, sizeof(float), reinterpret_cast<char *>(whole.data()),
             reinterpret_cast<char *>(p.data()), false);
    copyPart({5, 2}, {0, 3, 1}, rank, sizeof(float), reinterpret_cast<char *>(rebuilt.data()),
             reinterpret_cast<char *>(p.data()), true);
  }
  EXPECT_EQ(rebuilt, whole);
}

} // namespace
} // namespace nnrt
