// Augmentation (runtime/augment/Augment.h): each transform does exactly what its comment says for
// a fixed seed, the draws depend only on (seed, step, example), and the random ones have the
// stated distributions.
#include "runtime/augment/Augment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace nnrt {
namespace {

constexpr uint64_t kSeed = 1234;

/// An image whose every pixel is distinct, so any transform that moves pixels is visible.
std::vector<float> distinctImages(int64_t count, ImageShape shape) {
  std::vector<float> images(size_t(count * shape.size()));
  std::iota(images.begin(), images.end(), 1.0f);
  return images;
}

float pixel(const std::vector<float> &images, ImageShape s, int64_t n, int64_t c, int64_t y,
            int64_t x) {
  return images[size_t(((n * s.channels + c) * s.height + y) * s.width + x)];
}

TEST(AugmentTest, FlipMirrorsExactlyTheImagesWhoseDrawSaysSo) {
  ImageShape shape{2, 3, 4};
  const int64_t count = 16;
  std::vector<float> original = distinctImages(count, shape), images = original;
  ImageAugmentConfig config;
  config.flip = true;
  ASSERT_TRUE(augmentImages(config, kSeed, 7, images.data(), count, shape).ok());
  int flipped = 0;
  for (int64_t n = 0; n < count; ++n) {
    bool flip = drawImageAugment(config, kSeed, 7, uint64_t(n)).flip;
    flipped += flip;
    for (int64_t c = 0; c < shape.channels; ++c)
      for (int64_t y = 0; y < shape.height; ++y)
        for (int64_t x = 0; x < shape.width; ++x)
          EXPECT_EQ(pixel(images, shape, n, c, y, x),
                    pixel(original, shape, n, c, y, flip ? shape.width - 1 - x : x));
  }
  // Both outcomes occur among 16 images (a fixed seed, so this is not flaky).
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, count);
}

TEST(AugmentTest, CropShiftsTheImageAndZerosEnter) {
  ImageShape shape{1, 5, 6};
  const int64_t count = 12, padding = 2;
  std::vector<float> original = distinctImages(count, shape), images = original;
  ImageAugmentConfig config;
  config.cropPadding = padding;
  ASSERT_TRUE(augmentImages(config, kSeed, 3, images.data(), count, shape).ok());
  bool sawShift = false;
  for (int64_t n = 0; n < count; ++n) {
    ImageDraws draws = drawImageAugment(config, kSeed, 3, uint64_t(n));
    ASSERT_GE(draws.cropOffsetY, 0);
    ASSERT_LE(draws.cropOffsetY, 2 * padding);
    ASSERT_GE(draws.cropOffsetX, 0);
    ASSERT_LE(draws.cropOffsetX, 2 * padding);
    int64_t dy = draws.cropOffsetY - padding, dx = draws.cropOffsetX - padding;
    sawShift |= dy != 0 || dx != 0;
    for (int64_t y = 0; y < shape.height; ++y)
      for (int64_t x = 0; x < shape.width; ++x) {
        int64_t sy = y + dy, sx = x + dx;
        bool inside = sy >= 0 && sy < shape.height && sx >= 0 && sx < shape.width;
        EXPECT_EQ(pixel(images, shape, n, 0, y, x),
                  inside ? pixel(original, shape, n, 0, sy, sx) : 0.0f)
            << "image " << n << " at (" << y << ", " << x << ")";
      }
  }
  EXPECT_TRUE(sawShift);
}

TEST(AugmentTest, CropByHandIsTheShiftedImage) {
  // Padding 1, offset (0, 2): dst[y][x] = src[y - 1][x + 1], content moves down one row and
  // left one column, zeros enter at the top and on the right.
  //   1 2 3      0 0 0
  //   4 5 6  ->  2 3 0
  //   7 8 9      5 6 0
  ImageShape shape{1, 3, 3};
  const float src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float dst[9];
  cropImage(src, dst, shape, 1, 0, 2);
  const float expected[9] = {0, 0, 0, 2, 3, 0, 5, 6, 0};
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(dst[i], expected[i]) << i;
}

TEST(AugmentTest, BrightnessContrastMatchesTheFormulaForTheDrawnValues) {
  ImageShape shape{3, 4, 4};
  const int64_t count = 6;
  std::vector<float> original = distinctImages(count, shape), images = original;
  ImageAugmentConfig config;
  config.brightness = 0.3f;
  config.contrast = 0.4f;
  ASSERT_TRUE(augmentImages(config, kSeed, 11, images.data(), count, shape).ok());
  for (int64_t n = 0; n < count; ++n) {
    ImageDraws draws = drawImageAugment(config, kSeed, 11, uint64_t(n));
    EXPECT_GE(draws.contrast, 0.6f);
    EXPECT_LE(draws.contrast, 1.4f);
    EXPECT_GE(draws.brightness, -0.3f);
    EXPECT_LE(draws.brightness, 0.3f);
    const float *in = original.data() + n * shape.size();
    double mean = std::accumulate(in, in + shape.size(), 0.0) / double(shape.size());
    for (int64_t i = 0; i < shape.size(); ++i) {
      double expected = (in[i] - mean) * draws.contrast + mean + draws.brightness;
      // Pixel values reach ~300; float rounding of the result is a few ulps of that.
      EXPECT_NEAR(images[size_t(n * shape.size() + i)], expected, 1e-4);
    }
  }
}

TEST(AugmentTest, RotationBy90DegreesOfASquareImageIsExact) {
  ImageShape shape{2, 5, 5};
  std::vector<float> src = distinctImages(1, shape), dst(src.size());
  rotateImage(src.data(), dst.data(), shape, 90);
  // Counter-clockwise as displayed (row 0 on top): the right column becomes the top row,
  // dst[y][x] = src[x][W-1-y].
  for (int64_t c = 0; c < shape.channels; ++c)
    for (int64_t y = 0; y < 5; ++y)
      for (int64_t x = 0; x < 5; ++x)
        // cos(90°) is 6e-17 in double, so the bilinear weights are 1 and ~1e-16.
        EXPECT_NEAR(pixel(dst, shape, 0, c, y, x), pixel(src, shape, 0, c, x, 4 - y), 1e-5);
  rotateImage(src.data(), dst.data(), shape, -90);
  for (int64_t y = 0; y < 5; ++y)
    for (int64_t x = 0; x < 5; ++x)
      EXPECT_NEAR(pixel(dst, shape, 0, 0, y, x), pixel(src, shape, 0, 0, 4 - x, y), 1e-5);
}

TEST(AugmentTest, RotationByZeroIsTheIdentityAndSmallAnglesFillZeros) {
  ImageShape shape{1, 4, 6};
  std::vector<float> src = distinctImages(1, shape), dst(src.size());
  rotateImage(src.data(), dst.data(), shape, 0);
  EXPECT_EQ(dst, src);
  // An all-ones image turned by 30°: the center stays 1, a corner samples outside and gets 0.
  ImageShape square{1, 9, 9};
  std::vector<float> ones(81, 1.0f);
  dst.assign(81, -1.0f);
  rotateImage(ones.data(), dst.data(), square, 30);
  EXPECT_NEAR(dst[4 * 9 + 4], 1.0f, 1e-6);
  EXPECT_EQ(dst[0], 0.0f);
}

TEST(AugmentTest, RotationUsesTheDrawnAngleWithinTheRange) {
  ImageShape shape{1, 7, 7};
  const int64_t count = 8;
  std::vector<float> original = distinctImages(count, shape), images = original;
  ImageAugmentConfig config;
  config.rotationDegrees = 15;
  ASSERT_TRUE(augmentImages(config, kSeed, 2, images.data(), count, shape).ok());
  std::vector<float> expected(size_t(shape.size()));
  for (int64_t n = 0; n < count; ++n) {
    float degrees = drawImageAugment(config, kSeed, 2, uint64_t(n)).degrees;
    EXPECT_LE(std::fabs(degrees), 15.0f);
    rotateImage(original.data() + n * shape.size(), expected.data(), shape, degrees);
    for (int64_t i = 0; i < shape.size(); ++i)
      EXPECT_EQ(images[size_t(n * shape.size() + i)], expected[size_t(i)]);
  }
}

TEST(AugmentTest, SameSeedAndStepGiveTheSameBatchAnotherStepAnother) {
  ImageShape shape{3, 8, 8};
  const int64_t count = 4;
  ImageAugmentConfig config;
  config.flip = true;
  config.cropPadding = 2;
  config.rotationDegrees = 10;
  config.brightness = 0.1f;
  config.contrast = 0.1f;
  auto run = [&](uint64_t seed, uint64_t step) {
    std::vector<float> images = distinctImages(count, shape);
    EXPECT_TRUE(augmentImages(config, seed, step, images.data(), count, shape).ok());
    return images;
  };
  EXPECT_EQ(run(kSeed, 5), run(kSeed, 5));
  EXPECT_NE(run(kSeed, 5), run(kSeed, 6));
  EXPECT_NE(run(kSeed, 5), run(kSeed + 1, 5));

  // Enabling one more transform leaves the others' draws alone.
  ImageAugmentConfig flipOnly;
  flipOnly.flip = true;
  for (uint64_t n = 0; n < 8; ++n)
    EXPECT_EQ(drawImageAugment(flipOnly, kSeed, 5, n).flip,
              drawImageAugment(config, kSeed, 5, n).flip);

  std::vector<int64_t> tokensA(200, 7), tokensB(200, 7), tokensC(200, 7);
  TextAugmentConfig text;
  text.maskProbability = 0.3f;
  ASSERT_TRUE(maskTokens(text, kSeed, 1, tokensA.data(), 4, 50).ok());
  ASSERT_TRUE(maskTokens(text, kSeed, 1, tokensB.data(), 4, 50).ok());
  ASSERT_TRUE(maskTokens(text, kSeed, 2, tokensC.data(), 4, 50).ok());
  EXPECT_EQ(tokensA, tokensB);
  EXPECT_NE(tokensA, tokensC);
}

TEST(AugmentTest, AllOffDefaultsLeaveTheBatchAlone) {
  ImageShape shape{1, 4, 4};
  std::vector<float> original = distinctImages(3, shape), images = original;
  ASSERT_TRUE(augmentImages(ImageAugmentConfig(), kSeed, 0, images.data(), 3, shape).ok());
  EXPECT_EQ(images, original);
  std::vector<float> rows = original;
  ASSERT_TRUE(addFeatureNoise(TabularAugmentConfig(), kSeed, 0, rows.data(), 3, 16).ok());
  EXPECT_EQ(rows, original);
  std::vector<int64_t> tokens(40, 3);
  int64_t masked = -1;
  ASSERT_TRUE(maskTokens(TextAugmentConfig(), kSeed, 0, tokens.data(), 2, 20, &masked).ok());
  EXPECT_EQ(masked, 0);
  EXPECT_EQ(tokens, std::vector<int64_t>(40, 3));
}

TEST(AugmentTest, MixupTargetsSumToOneAndFeaturesAreTheLambdaMix) {
  const int64_t rows = 64, features = 5, classes = 4;
  std::vector<float> original(rows * features);
  for (size_t i = 0; i < original.size(); ++i)
    original[i] = float(std::sin(double(i)) * 3);
  std::vector<int64_t> labels(rows);
  for (int64_t i = 0; i < rows; ++i)
    labels[size_t(i)] = (i * 7) % classes;
  TabularAugmentConfig config;
  config.mixupAlpha = 0.4f;
  std::vector<float> mixed = original, soft(rows * classes, -1.0f);
  ASSERT_TRUE(mixupRows(config, kSeed, 9, mixed.data(), rows, features, labels.data(), classes,
                        soft.data())
                  .ok());
  MixupDraws draws = drawMixup(config.mixupAlpha, kSeed, 9, rows);
  std::vector<int64_t> sorted = draws.partner;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(rows);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity) << "partners form a permutation";
  int strictlyMixed = 0;
  for (int64_t i = 0; i < rows; ++i) {
    float lambda = draws.lambda[size_t(i)];
    int64_t j = draws.partner[size_t(i)];
    ASSERT_GE(lambda, 0.0f);
    ASSERT_LE(lambda, 1.0f);
    strictlyMixed += j != i && lambda > 0.01f && lambda < 0.99f;
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k) {
      float expected = (labels[size_t(i)] == k ? lambda : 0.0f) +
                       (labels[size_t(j)] == k ? 1 - lambda : 0.0f);
      EXPECT_NEAR(soft[size_t(i * classes + k)], expected, 1e-6);
      sum += soft[size_t(i * classes + k)];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
    for (int64_t f = 0; f < features; ++f)
      EXPECT_NEAR(mixed[size_t(i * features + f)],
                  lambda * original[size_t(i * features + f)] +
                      (1 - lambda) * original[size_t(j * features + f)],
                  1e-5);
  }
  EXPECT_GT(strictlyMixed, rows / 4);

  // Mixup off: one-hot targets and untouched rows.
  std::vector<float> plain = original;
  ASSERT_TRUE(mixupRows(TabularAugmentConfig(), kSeed, 9, plain.data(), rows, features,
                        labels.data(), classes, soft.data())
                  .ok());
  EXPECT_EQ(plain, original);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < classes; ++k)
      EXPECT_EQ(soft[size_t(i * classes + k)], labels[size_t(i)] == k ? 1.0f : 0.0f);
}

TEST(AugmentTest, MixupLambdaFollowsTheBetaDistribution) {
  // Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)); over 20000 draws the sample mean and
  // variance are within ~0.005 of them (standard errors ~0.003 and ~0.002).
  for (float alpha : {0.2f, 1.0f, 2.0f}) {
    MixupDraws draws = drawMixup(alpha, kSeed, 0, 20000);
    double mean = 0, square = 0;
    for (float l : draws.lambda) {
      mean += l;
      square += double(l) * l;
    }
    mean /= double(draws.lambda.size());
    double variance = square / double(draws.lambda.size()) - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.01) << "alpha " << alpha;
    EXPECT_NEAR(variance, 1.0 / (4 * (2 * alpha + 1)), 0.006) << "alpha " << alpha;
  }
}

TEST(AugmentTest, MixupRefusesALabelOutOfRange) {
  std::vector<float> rows(4, 0.0f), soft(4);
  std::vector<int64_t> labels = {0, 2};
  TabularAugmentConfig config;
  config.mixupAlpha = 1;
  nnc::Status s = mixupRows(config, kSeed, 0, rows.data(), 2, 2, labels.data(), 2, soft.data());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "mixup: label 2 of row 1 is outside [0, 2)");
}

TEST(AugmentTest, GaussianNoiseHasTheRequestedMeanAndStddev) {
  const int64_t rows = 200, features = 500;
  const float sigma = 0.25f;
  std::vector<float> values(rows * features, 1.0f);
  TabularAugmentConfig config;
  config.noiseStddev = sigma;
  ASSERT_TRUE(addFeatureNoise(config, kSeed, 4, values.data(), rows, features).ok());
  double mean = 0, square = 0;
  for (float v : values) {
    mean += v - 1.0;
    square += (v - 1.0) * (v - 1.0);
  }
  mean /= double(values.size());
  double stddev = std::sqrt(square / double(values.size()) - mean * mean);
  // 100000 samples: the mean's standard error is sigma / 316 ~ 0.0008, the stddev's ~0.0006.
  EXPECT_NEAR(mean, 0.0, 0.004);
  EXPECT_NEAR(stddev, sigma, 0.003);
}

TEST(AugmentTest, MaskingRateIsTheProbability) {
  const int64_t rows = 1000, length = 1000;
  for (float p : {0.15f, 0.5f}) {
    std::vector<int64_t> tokens(rows * length, 5);
    TextAugmentConfig config;
    config.maskProbability = p;
    config.maskToken = 99;
    int64_t masked = 0;
    ASSERT_TRUE(maskTokens(config, kSeed, 3, tokens.data(), rows, length, &masked).ok());
    int64_t counted = std::count(tokens.begin(), tokens.end(), 99);
    EXPECT_EQ(counted, masked);
    EXPECT_EQ(counted + std::count(tokens.begin(), tokens.end(), 5), rows * length);
    // 10^6 tokens: the rate's standard error is 0.00036 at p = 0.15 (0.0005 at 0.5), so 1% of p
    // is four standard errors or more.
    EXPECT_NEAR(double(masked) / double(rows * length), p, 0.01 * p);
  }
}

TEST(AugmentTest, BadSettingsAreErrors) {
  ImageShape shape{1, 2, 2};
  std::vector<float> image(4);
  ImageAugmentConfig config;
  config.contrast = -1;
  nnc::Status s = augmentImages(config, kSeed, 0, image.data(), 1, shape);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "augmentation: contrast must be a finite value >= 0, got -1");
  TextAugmentConfig text;
  text.maskProbability = 1.5f;
  std::vector<int64_t> tokens(4);
  EXPECT_FALSE(maskTokens(text, kSeed, 0, tokens.data(), 1, 4).ok());
  EXPECT_FALSE(augmentImages(ImageAugmentConfig(), kSeed, 0, image.data(), 1, {1, 0, 2}).ok());
}

} // namespace
} // namespace nnrt
