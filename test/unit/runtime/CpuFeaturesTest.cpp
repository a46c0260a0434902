// The CPU feature table: names resolve, baseline x86-64 features are always present, and the
// refusal messages read as documented.
#include "runtime/CpuFeatures.h"

#include <gtest/gtest.h>

namespace nnrt {
namespace {

TEST(CpuFeaturesTest, BaselineFeaturesArePresent) {
  for (const char *name : {"64bit", "x87", "sse", "sse2", "+sse2", "cx8", "fxsr"})
    EXPECT_EQ(hostSupports(name), FeatureSupport::Present) << name;
}

TEST(CpuFeaturesTest, EveryKnownNameResolves) {
  for (std::string_view name : knownCpuFeatures())
    EXPECT_NE(hostSupports(name), FeatureSupport::Unknown) << name;
  EXPECT_EQ(hostSupports("avx1024"), FeatureSupport::Unknown);
}

TEST(CpuFeaturesTest, ImpliedFeaturesAgree) {
  // AVX-512 implies AVX2 implies AVX on every real CPU; the table must not contradict that.
  if (hostSupports("avx512f") == FeatureSupport::Present) {
    EXPECT_EQ(hostSupports("avx2"), FeatureSupport::Present);
  }
  if (hostSupports("avx2") == FeatureSupport::Present) {
    EXPECT_EQ(hostSupports("avx"), FeatureSupport::Present);
  }
  EXPECT_EQ(hostSupports("evex512"), hostSupports("avx512f"));
  EXPECT_EQ(hostSupports("crc32"), hostSupports("sse4.2"));
}

TEST(CpuFeaturesTest, DisabledFeaturesNeedNothing) {
  EXPECT_TRUE(checkCpuFeatures({"-frobnicate", "-avx512f", "sse2"}, "x86-64").ok());
  EXPECT_TRUE(checkCpuFeatures({}, "").ok());
}

TEST(CpuFeaturesTest, MessagesNameTheFeatureAndTarget) {
  EXPECT_EQ(checkCpuFeatures({"sse2", "frobnicate"}, "znver4").message(),
            "plan needs CPU feature 'frobnicate' which this nnrun cannot check (compiled for "
            "znver4)");
  EXPECT_EQ(checkCpuFeatures({"+frobnicate"}, "").message(),
            "plan needs CPU feature 'frobnicate' which this nnrun cannot check");
}

} // namespace
} // namespace nnrt
