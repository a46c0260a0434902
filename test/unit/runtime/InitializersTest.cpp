// Initializers: exact values for the constant kinds, PyTorch's bounds for the uniform ones, and
// the first two moments of the random ones over many elements.
#include "TestSupport.h"

#include "runtime/Initializers.h"

#include <cmath>

namespace nnrt {
namespace {

nnc::Initializer makeInit(nnc::Initializer::Kind kind) {
  nnc::Initializer init;
  init.set_kind(kind);
  return init;
}

std::vector<float> fill(const nnc::Initializer &init, const Shape &shape, uint64_t seed = 1,
                        uint64_t stream = 0) {
  std::vector<float> values(size_t(numElements(shape)), NAN);
  nnc::Status status = initialize(init, test::makeType(nnc::F32, shape), seed, stream,
                                  values.data());
  EXPECT_TRUE(status.ok()) << status.message();
  return values;
}

struct Moments {
  double mean = 0, stddev = 0, min = INFINITY, max = -INFINITY;
};
Moments momentsOf(const std::vector<float> &values) {
  Moments m;
  for (float v : values) {
    m.mean += v;
    m.min = std::min<double>(m.min, v);
    m.max = std::max<double>(m.max, v);
  }
  m.mean /= double(values.size());
  for (float v : values)
    m.stddev += (v - m.mean) * (v - m.mean);
  m.stddev = std::sqrt(m.stddev / double(values.size()));
  return m;
}

// Statistical tolerances: over n = 2^18 samples the sample mean's standard error is
// sigma / sqrt(n) = sigma / 512; the checks allow 5 standard errors (the seed is fixed, so the
// test is deterministic — the margin guards against a generator or formula change, not chance).
constexpr size_t kSamples = 1 << 18;
constexpr double kStandardErrors = 5.0 / 512.0;

TEST(InitializersTest, ConstantKinds) {
  EXPECT_EQ(fill(makeInit(nnc::Initializer::ZEROS), {3}), std::vector<float>(3, 0.0f));
  EXPECT_EQ(fill(makeInit(nnc::Initializer::ONES), {2, 2}), std::vector<float>(4, 1.0f));
  nnc::Initializer constant = makeInit(nnc::Initializer::CONSTANT);
  constant.set_value(0.25);
  EXPECT_EQ(fill(constant, {5}), std::vector<float>(5, 0.25f));
}

TEST(InitializersTest, UniformRespectsBoundsAndMoments) {
  nnc::Initializer init = makeInit(nnc::Initializer::UNIFORM);
  init.set_low(-2);
  init.set_high(6);
  Moments m = momentsOf(fill(init, {int64_t(kSamples)}));
  double sigma = 8 / std::sqrt(12.0); // U(a, b): (b - a) / sqrt(12)
  EXPECT_GE(m.min, -2.0);
  EXPECT_LT(m.max, 6.0);
  EXPECT_NEAR(m.mean, 2.0, kStandardErrors * sigma);
  EXPECT_NEAR(m.stddev, sigma, 0.01 * sigma);
  // The extremes are reached: the whole interval is used.
  EXPECT_LT(m.min, -1.99);
  EXPECT_GT(m.max, 5.99);
}

TEST(InitializersTest, NormalMoments) {
  nnc::Initializer init = makeInit(nnc::Initializer::NORMAL);
  init.set_mean(1.5);
  init.set_stddev(0.5);
  std::vector<float> values = fill(init, {int64_t(kSamples) + 3}); // a partial last block
  Moments m = momentsOf(values);
  EXPECT_NEAR(m.mean, 1.5, kStandardErrors * 0.5);
  EXPECT_NEAR(m.stddev, 0.5, 0.01 * 0.5);
  // About 0.27% of a normal lies beyond 3 sigma.
  size_t beyond = std::count_if(values.begin(), values.end(),
                                [](float v) { return std::abs(v - 1.5) > 1.5; });
  EXPECT_NEAR(double(beyond) / double(values.size()), 0.0027, 0.0005);
  EXPECT_FALSE(std::isnan(values.back()));
}

TEST(InitializersTest, KaimingUniformIsPyTorchsDefault) {
  // nn.Linear(in=300, out=1000): weight (1000, 300), bound 1 / sqrt(300).
  std::vector<float> values = fill(makeInit(nnc::Initializer::KAIMING_UNIFORM), {1000, 300});
  Moments m = momentsOf(values);
  double bound = 1 / std::sqrt(300.0);
  EXPECT_LE(m.max, bound);
  EXPECT_GE(m.min, -bound);
  EXPECT_GT(m.max, 0.999 * bound);
  EXPECT_NEAR(m.stddev, bound / std::sqrt(3.0), 0.01 * bound);
  // An explicit fan_in and gain: bound = gain * sqrt(3 / fan_in) = 2 * sqrt(3 / 12) = 1.
  nnc::Initializer init = makeInit(nnc::Initializer::KAIMING_UNIFORM);
  init.set_fan_in(12);
  init.set_gain(2);
  m = momentsOf(fill(init, {int64_t(kSamples)}));
  EXPECT_LE(m.max, 1.0);
  EXPECT_GT(m.max, 0.999);
}

TEST(InitializersTest, FansFollowPyTorch) {
  nnc::Initializer init = makeInit(nnc::Initializer::XAVIER_UNIFORM);
  // Conv weight (O=16, C/groups=8, 3, 3): fan_in = 8 * 9, fan_out = 16 * 9.
  auto fans = fansOf(init, {16, 8, 3, 3});
  ASSERT_TRUE(fans.ok());
  EXPECT_EQ(fans->in, 72);
  EXPECT_EQ(fans->out, 144);
  init.set_fan_in(5);
  fans = fansOf(init, {16, 8, 3, 3});
  EXPECT_EQ(fans->in, 5);
  EXPECT_EQ(fans->out, 144);
  EXPECT_EQ(fansOf(init, {7}).status().message(),
            "cannot derive fan_in/fan_out from shape [7] (rank < 2); the initializer must set "
            "them");
}

TEST(InitializersTest, XavierUniformBound) {
  std::vector<float> values = fill(makeInit(nnc::Initializer::XAVIER_UNIFORM), {256, 512});
  double bound = std::sqrt(6.0 / (256 + 512));
  Moments m = momentsOf(values);
  EXPECT_LE(m.max, bound);
  EXPECT_GE(m.min, -bound);
  EXPECT_GT(m.max, 0.99 * bound);
}

TEST(InitializersTest, DependsOnSeedStreamAndIndexOnly) {
  nnc::Initializer init = makeInit(nnc::Initializer::NORMAL);
  init.set_stddev(1);
  std::vector<float> all = fill(init, {100}, 3, 7);
  // A shorter tensor gets the same leading elements: values are per element, not per draw.
  std::vector<float> prefix = fill(init, {10}, 3, 7);
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), all.begin()));
  EXPECT_NE(fill(init, {100}, 3, 8), all);
  EXPECT_NE(fill(init, {100}, 4, 7), all);
}

TEST(InitializersTest, RefusesWhatItCannotFill) {
  nnc::Initializer kaiming = makeInit(nnc::Initializer::KAIMING_UNIFORM);
  EXPECT_EQ(checkInitializer(kaiming, test::makeType(nnc::F32, {10})).message(),
            "cannot derive fan_in/fan_out from shape [10] (rank < 2); the initializer must set "
            "them");
  EXPECT_EQ(checkInitializer(kaiming, test::makeType(nnc::BF16, {10, 10})).message(),
            "initializing bf16 parameters is not supported (f32 only)");
  nnc::Initializer uniform = makeInit(nnc::Initializer::UNIFORM);
  uniform.set_low(1);
  uniform.set_high(0);
  EXPECT_EQ(checkInitializer(uniform, test::makeType(nnc::F32, {10})).message(),
            "uniform initializer with low 1 > high 0");
}

} // namespace
} // namespace nnrt
