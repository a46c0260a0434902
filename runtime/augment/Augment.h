// Host-side data augmentation applied in place to one batch before it is fed to a plan: images
// (flip, padded crop, brightness/contrast jitter, rotation), tabular rows (Gaussian noise, mixup
// with soft labels) and token sequences (random masking).
//
// Determinism: every random draw is a Philox word (runtime/Philox.h) addressed by
// (seed, step, example index in the batch, transform, draw number), so a batch's augmentation
// depends only on those numbers — not on threads, on earlier batches or on which other transforms
// are enabled — and a run resumed at step s augments exactly as an uninterrupted one.
//
// Typical use, once per training step after the batch is assembled:
//   nnrt::ImageAugmentConfig config;  // all off by default
//   config.flip = true;
//   config.cropPadding = 4;
//   if (auto s = nnrt::augmentImages(config, seed, step, batch.data(), n, {1, 28, 28});
//       !s.ok())
//     return s;
#pragma once

#include "support/Status.h"

#include <cstdint>
#include <vector>

namespace nnrt {

//===------------------------------------------------------------------------------------------===//
// Images: float NCHW batches.
//===------------------------------------------------------------------------------------------===//

/// Image transforms, applied in this order: flip, crop, rotation, brightness/contrast. Each is off
/// at its default.
struct ImageAugmentConfig {
  /// Mirror left-right with probability 0.5.
  bool flip = false;
  /// Pad every side with P zeros, then crop back to H x W at an offset drawn uniformly from
  /// [0, 2P] in each direction (so content shifts by up to P pixels and zeros enter).
  int64_t cropPadding = 0;
  /// Rotate about the image center by an angle drawn from U[-d, d] degrees (counter-clockwise as
  /// displayed, row 0 at the top), bilinear, zero fill.
  float rotationDegrees = 0;
  /// x' = (x - mean) * c + mean + b with c ~ U[1 - contrast, 1 + contrast], b ~ U[-brightness,
  /// brightness], per image; mean is over the whole image (all channels).
  float brightness = 0;
  float contrast = 0;

  bool enabled() const {
    return flip || cropPadding > 0 || rotationDegrees != 0 || brightness != 0 || contrast != 0;
  }
};

struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t size() const { return channels * height * width; }
};

/// The random choices for one image. Every field is drawn whatever the config enables (a disabled
/// transform's draw is simply not used), so enabling one transform never changes another's draws.
struct ImageDraws {
  bool flip = false;
  int64_t cropOffsetY = 0, cropOffsetX = 0; // in [0, 2 * cropPadding]
  float degrees = 0;
  float contrast = 1, brightness = 0;
};

/// The draws augmentImages uses for example `example` of the batch at `step`.
ImageDraws drawImageAugment(const ImageAugmentConfig &config, uint64_t seed, uint64_t step,
                            uint64_t example);

/// Augments each image of `batch` (N x C x H x W floats, `numImages` = N) in place with its own
/// draws. An error for a negative setting or an empty image shape.
nnc::Status augmentImages(const ImageAugmentConfig &config, uint64_t seed, uint64_t step,
                          float *batch, int64_t numImages, ImageShape shape);

// The single transforms augmentImages composes, for one C x H x W image.

/// Mirrors every row in place.
void flipImage(float *image, ImageShape shape);
/// dst[y][x] = src[y + offsetY - padding][x + offsetX - padding], 0 outside src.
void cropImage(const float *src, float *dst, ImageShape shape, int64_t padding, int64_t offsetY,
               int64_t offsetX);
/// dst = src rotated counter-clockwise by `degrees` about ((W-1)/2, (H-1)/2): each dst pixel
/// samples src bilinearly at the inversely rotated position, neighbours outside src counting as 0.
void rotateImage(const float *src, float *dst, ImageShape shape, float degrees);
/// x = (x - mean) * contrast + mean + brightness in place, mean over the whole image.
void jitterImage(float *image, ImageShape shape, float contrast, float brightness);

//===------------------------------------------------------------------------------------------===//
// Tabular: float rows (N x F) with integer class labels.
//===------------------------------------------------------------------------------------------===//

struct TabularAugmentConfig {
  /// x += noiseStddev * N(0, 1) per feature.
  float noiseStddev = 0;
  /// Mixup (Zhang et al. 2018): row i is mixed with row partner[i] of a random permutation of the
  /// batch, lambda_i ~ Beta(alpha, alpha), x_i' = lambda_i x_i + (1 - lambda_i) x_partner; its
  /// soft label is lambda_i onehot(y_i) + (1 - lambda_i) onehot(y_partner). 0 disables.
  float mixupAlpha = 0;

  bool enabled() const { return noiseStddev != 0 || mixupAlpha != 0; }
};

/// Mixup's random choices for a batch: partner is a permutation of [0, N) (a row may be its own
/// partner); lambda[i] in [0, 1].
struct MixupDraws {
  std::vector<int64_t> partner;
  std::vector<float> lambda;
};
MixupDraws drawMixup(float alpha, uint64_t seed, uint64_t step, int64_t numRows);

/// Adds Gaussian noise to `rows` (numRows x numFeatures) in place when noiseStddev > 0.
nnc::Status addFeatureNoise(const TabularAugmentConfig &config, uint64_t seed, uint64_t step,
                            float *rows, int64_t numRows, int64_t numFeatures);

/// Mixes `rows` in place (when mixupAlpha > 0) and writes `softLabels` (numRows x numClasses,
/// every row summing to 1) from `labels` (numRows class indices); with mixup off the soft labels
/// are one-hot, so a trainer can always feed soft targets. An error names a label outside
/// [0, numClasses).
nnc::Status mixupRows(const TabularAugmentConfig &config, uint64_t seed, uint64_t step,
                      float *rows, int64_t numRows, int64_t numFeatures, const int64_t *labels,
                      int64_t numClasses, float *softLabels);

//===------------------------------------------------------------------------------------------===//
// Text: int64 token ids (N x T).
//===------------------------------------------------------------------------------------------===//

struct TextAugmentConfig {
  /// Each token is replaced by maskToken with this probability.
  float maskProbability = 0;
  int64_t maskToken = 0;

  bool enabled() const { return maskProbability > 0; }
};

/// Masks tokens of `tokens` (numRows x length) in place, storing how many were replaced in
/// `numMasked` when given; an error for a probability outside [0, 1].
nnc::Status maskTokens(const TextAugmentConfig &config, uint64_t seed, uint64_t step,
                       int64_t *tokens, int64_t numRows, int64_t length,
                       int64_t *numMasked = nullptr);

} // namespace nnrt
