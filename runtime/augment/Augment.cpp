// Seeded batch augmentation (see Augment.h). All randomness comes from DrawStream below: one Philox
// stream per (seed, step, example, transform), read word by word.
#include "runtime/augment/Augment.h"

#include "runtime/Philox.h"
#include "support/Format.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

namespace nnrt {
namespace {

/// Which transform a stream serves; part of the Philox counter so transforms never share words.
enum class Purpose : uint32_t { Image = 1, Noise = 2, MixupShuffle = 3, MixupLambda = 4, Mask = 5 };

/// A sequence of random words for one (seed, step, example, purpose), drawn from Philox with
///   key     = {seed low 32 bits, seed high 32 bits}
///   counter = {block, example low 32 bits, step low 32 bits, 0x41554700 | purpose}
/// The top word's "AUG" tag keeps these counters apart from parameter initialization, whose
/// counters' top word (the stream's high half) is 0 (Philox.h).
class DrawStream {
public:
  DrawStream(uint64_t seed, uint64_t step, uint64_t example, Purpose purpose)
      : key_{uint32_t(seed), uint32_t(seed >> 32)},
        counter_{0, uint32_t(example), uint32_t(step), 0x41554700u | uint32_t(purpose)} {}

  uint32_t word() {
    if (used_ == 4) {
      words_ = philox4x32(counter_, key_);
      ++counter_[0];
      used_ = 0;
    }
    return words_[used_++];
  }
  /// [0, 1) on a 2^-24 grid.
  float uniform() { return uniformFromBits(word()); }
  /// (0, 1], safe for log.
  double openUniform() { return openUniformFromBits(word()); }
  /// An integer in [0, n), n <= 2^32 (multiply-shift; its bias is below 2^-32 * n).
  int64_t below(uint64_t n) { return int64_t((uint64_t(word()) * n) >> 32); }
  /// N(0, 1) by Box-Muller (the cosine half; the sine half is dropped to keep the stream simple).
  double normal() {
    double radius = std::sqrt(-2.0 * std::log(openUniform()));
    return radius * std::cos(2.0 * M_PI * uniform());
  }
  /// log of a Gamma(alpha, 1) sample: Marsaglia and Tsang (2000) for alpha >= 1, and
  /// Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha) below 1 — in log space, because for small alpha
  /// U^(1/alpha) underflows to 0.
  double logGamma(double alpha) {
    if (alpha < 1)
      return logGamma(alpha + 1) + std::log(openUniform()) / alpha;
    double d = alpha - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x = normal(), v = 1 + c * x;
      if (v <= 0)
        continue;
      v = v * v * v;
      if (std::log(openUniform()) < 0.5 * x * x + d - d * v + d * std::log(v))
        return std::log(d * v);
    }
  }
  /// Beta(alpha, alpha) as X / (X + Y), X and Y Gamma(alpha) (through their logs).
  double symmetricBeta(double alpha) {
    double logX = logGamma(alpha), logY = logGamma(alpha);
    return 1.0 / (1.0 + std::exp(logY - logX));
  }

private:
  PhiloxKey key_;
  PhiloxCounter counter_;
  PhiloxCounter words_{};
  int used_ = 4;
};

nnc::Status checkNonNegative(const char *what, double value) {
  if (!(value >= 0) || !std::isfinite(value))
    return nnc::Status::error(std::string("augmentation: ") + what +
                              " must be a finite value >= 0, got " + nnc::formatNumber(value));
  return nnc::Status();
}

} // namespace

//===------------------------------------------------------------------------------------------===//
// Images
//===------------------------------------------------------------------------------------------===//

ImageDraws drawImageAugment(const ImageAugmentConfig &config, uint64_t seed, uint64_t step,
                            uint64_t example) {
  // A fixed order of six draws; disabled transforms still consume theirs.
  DrawStream stream(seed, step, example, Purpose::Image);
  ImageDraws draws;
  draws.flip = stream.uniform() < 0.5f;
  uint64_t offsets = uint64_t(2 * std::max<int64_t>(config.cropPadding, 0) + 1);
  draws.cropOffsetY = stream.below(offsets);
  draws.cropOffsetX = stream.below(offsets);
  draws.degrees = config.rotationDegrees * (2 * stream.uniform() - 1);
  draws.contrast = 1 + config.contrast * (2 * stream.uniform() - 1);
  draws.brightness = config.brightness * (2 * stream.uniform() - 1);
  return draws;
}

void flipImage(float *image, ImageShape shape) {
  for (int64_t row = 0; row < shape.channels * shape.height; ++row) {
    float *line = image + row * shape.width;
    std::reverse(line, line + shape.width);
  }
}

void cropImage(const float *src, float *dst, ImageShape shape, int64_t padding, int64_t offsetY,
               int64_t offsetX) {
  const int64_t h = shape.height, w = shape.width;
  for (int64_t c = 0; c < shape.channels; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        int64_t sy = y + offsetY - padding, sx = x + offsetX - padding;
        bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        dst[(c * h + y) * w + x] = inside ? src[(c * h + sy) * w + sx] : 0.0f;
      }
}

void rotateImage(const float *src, float *dst, ImageShape shape, float degrees) {
  const int64_t h = shape.height, w = shape.width;
  const double radians = double(degrees) * M_PI / 180.0;
  const double cosA = std::cos(radians), sinA = std::sin(radians);
  const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
  for (int64_t c = 0; c < shape.channels; ++c) {
    const float *plane = src + c * h * w;
    auto at = [&](int64_t y, int64_t x) -> double {
      return y >= 0 && y < h && x >= 0 && x < w ? plane[y * w + x] : 0.0;
    };
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        // With row 0 at the top, a counter-clockwise turn maps (dx, dy) to
        // (dx cos + dy sin, -dx sin + dy cos); invert it to find where dst (x, y) comes from.
        double dx = x - cx, dy = y - cy;
        double sx = cx + dx * cosA - dy * sinA, sy = cy + dx * sinA + dy * cosA;
        double fx = std::floor(sx), fy = std::floor(sy);
        double tx = sx - fx, ty = sy - fy;
        int64_t x0 = int64_t(fx), y0 = int64_t(fy);
        double value = (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x0 + 1)) +
                       ty * ((1 - tx) * at(y0 + 1, x0) + tx * at(y0 + 1, x0 + 1));
        dst[(c * h + y) * w + x] = float(value);
      }
  }
}

void jitterImage(float *image, ImageShape shape, float contrast, float brightness) {
  const int64_t size = shape.size();
  double sum = 0;
  for (int64_t i = 0; i < size; ++i)
    sum += image[i];
  const double mean = size ? sum / double(size) : 0.0;
  for (int64_t i = 0; i < size; ++i)
    image[i] = float((image[i] - mean) * contrast + mean + brightness);
}

nnc::Status augmentImages(const ImageAugmentConfig &config, uint64_t seed, uint64_t step,
                          float *batch, int64_t numImages, ImageShape shape) {
  if (auto s = checkNonNegative("crop padding", double(config.cropPadding)); !s.ok())
    return s;
  for (auto [what, value] : {std::pair{"rotation degrees", config.rotationDegrees},
                             std::pair{"brightness", config.brightness},
                             std::pair{"contrast", config.contrast}})
    if (auto s = checkNonNegative(what, value); !s.ok())
      return s;
  if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0 || numImages < 0)
    return nnc::Status::error("augmentation: expected images of positive C x H x W, got " +
                              std::to_string(shape.channels) + "x" + std::to_string(shape.height) +
                              "x" + std::to_string(shape.width));
  if (!config.enabled())
    return nnc::Status();
  std::vector<float> scratch(size_t(shape.size()));
  for (int64_t n = 0; n < numImages; ++n) {
    float *image = batch + n * shape.size();
    ImageDraws draws = drawImageAugment(config, seed, step, uint64_t(n));
    if (config.flip && draws.flip)
      flipImage(image, shape);
    if (config.cropPadding > 0) {
      cropImage(image, scratch.data(), shape, config.cropPadding, draws.cropOffsetY,
                draws.cropOffsetX);
      std::memcpy(image, scratch.data(), scratch.size() * sizeof(float));
    }
    if (config.rotationDegrees != 0) {
      rotateImage(image, scratch.data(), shape, draws.degrees);
      std::memcpy(image, scratch.data(), scratch.size() * sizeof(float));
    }
    if (config.contrast != 0 || config.brightness != 0)
      jitterImage(image, shape, draws.contrast, draws.brightness);
  }
  return nnc::Status();
}

//===------------------------------------------------------------------------------------------===//
// Tabular
//===------------------------------------------------------------------------------------------===//

MixupDraws drawMixup(float alpha, uint64_t seed, uint64_t step, int64_t numRows) {
  MixupDraws draws;
  draws.partner.resize(size_t(std::max<int64_t>(numRows, 0)));
  for (int64_t i = 0; i < numRows; ++i)
    draws.partner[size_t(i)] = i;
  // Fisher-Yates from one batch-level stream (example 0 of the shuffle purpose).
  DrawStream shuffle(seed, step, 0, Purpose::MixupShuffle);
  for (int64_t i = numRows - 1; i > 0; --i)
    std::swap(draws.partner[size_t(i)], draws.partner[size_t(shuffle.below(uint64_t(i + 1)))]);
  draws.lambda.resize(draws.partner.size());
  for (int64_t i = 0; i < numRows; ++i)
    draws.lambda[size_t(i)] =
        float(DrawStream(seed, step, uint64_t(i), Purpose::MixupLambda).symmetricBeta(alpha));
  return draws;
}

nnc::Status addFeatureNoise(const TabularAugmentConfig &config, uint64_t seed, uint64_t step,
                            float *rows, int64_t numRows, int64_t numFeatures) {
  if (auto s = checkNonNegative("noise stddev", config.noiseStddev); !s.ok())
    return s;
  if (config.noiseStddev == 0)
    return nnc::Status();
  for (int64_t i = 0; i < numRows; ++i) {
    DrawStream stream(seed, step, uint64_t(i), Purpose::Noise);
    for (int64_t f = 0; f < numFeatures; ++f)
      rows[i * numFeatures + f] += float(config.noiseStddev * stream.normal());
  }
  return nnc::Status();
}

nnc::Status mixupRows(const TabularAugmentConfig &config, uint64_t seed, uint64_t step,
                      float *rows, int64_t numRows, int64_t numFeatures, const int64_t *labels,
                      int64_t numClasses, float *softLabels) {
  if (auto s = checkNonNegative("mixup alpha", config.mixupAlpha); !s.ok())
    return s;
  for (int64_t i = 0; i < numRows; ++i)
    if (labels[i] < 0 || labels[i] >= numClasses)
      return nnc::Status::error("mixup: label " + std::to_string(labels[i]) + " of row " +
                                std::to_string(i) + " is outside [0, " +
                                std::to_string(numClasses) + ")");
  std::fill(softLabels, softLabels + numRows * numClasses, 0.0f);
  if (config.mixupAlpha == 0) {
    for (int64_t i = 0; i < numRows; ++i)
      softLabels[i * numClasses + labels[i]] = 1.0f;
    return nnc::Status();
  }
  MixupDraws draws = drawMixup(config.mixupAlpha, seed, step, numRows);
  // Partners read the unmixed rows.
  std::vector<float> original(rows, rows + numRows * numFeatures);
  for (int64_t i = 0; i < numRows; ++i) {
    const float lambda = draws.lambda[size_t(i)];
    const int64_t j = draws.partner[size_t(i)];
    for (int64_t f = 0; f < numFeatures; ++f)
      rows[i * numFeatures + f] =
          lambda * original[size_t(i * numFeatures + f)] +
          (1 - lambda) * original[size_t(j * numFeatures + f)];
    // Added, not assigned: a row may share its label with its partner.
    softLabels[i * numClasses + labels[i]] += lambda;
    softLabels[i * numClasses + labels[j]] += 1 - lambda;
  }
  return nnc::Status();
}

//===------------------------------------------------------------------------------------------===//
// Text
//===------------------------------------------------------------------------------------------===//

nnc::Status maskTokens(const TextAugmentConfig &config, uint64_t seed, uint64_t step,
                       int64_t *tokens, int64_t numRows, int64_t length, int64_t *numMasked) {
  if (!(config.maskProbability >= 0 && config.maskProbability <= 1))
    return nnc::Status::error("augmentation: mask probability must be in [0, 1], got " +
                              nnc::formatNumber(config.maskProbability));
  int64_t masked = 0;
  if (config.maskProbability > 0)
    for (int64_t i = 0; i < numRows; ++i) {
      DrawStream stream(seed, step, uint64_t(i), Purpose::Mask);
      for (int64_t t = 0; t < length; ++t)
        if (stream.uniform() < config.maskProbability) {
          tokens[i * length + t] = config.maskToken;
          ++masked;
        }
    }
  if (numMasked)
    *numMasked = masked;
  return nnc::Status();
}

} // namespace nnrt
