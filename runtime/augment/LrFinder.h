// The learning-rate range test (Leslie Smith, "Cyclical Learning Rates", 2017; fastai's lr_find):
// train with a learning rate rising exponentially from minLr to maxLr, stop once the loss
// explodes, and suggest the rate where the smoothed loss falls fastest. The caller owns the model:
// it supplies one training step as a callback (and restores the weights afterwards — the finder
// trains them).
//
//   nnrt::LrFinderOptions options;
//   options.numSteps = batchesPerEpoch;
//   auto result = nnrt::findLearningRate(options, [&](float lr) { return trainStep(lr); });
//   if (!result.ok()) return result.status();
//   writeLrFinderCsv(*result, "lr_find.csv"); writeLrFinderSvg(*result, "lr_find.svg");
//   if (result->suggestedIndex >= 0) print(result->suggestedLr);
#pragma once

#include "support/StatusOr.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nnrt {

struct LrFinderOptions {
  double minLr = 1e-7;
  double maxLr = 10;
  /// The most steps run; the schedule spans them (one epoch's batches is the usual choice).
  int64_t numSteps = 100;
  /// The exponential moving average's beta.
  double smoothing = 0.98;
  /// Stop once the smoothed loss exceeds this multiple of the best smoothed loss so far.
  double divergenceFactor = 4;
};

/// Ok if minLr > 0, maxLr > minLr, numSteps >= 2, smoothing in [0, 1), divergenceFactor > 1.
nnc::Status checkLrFinderOptions(const LrFinderOptions &options);

/// The rate of step i: lr_i = minLr * (maxLr / minLr)^(i / (numSteps - 1)), so lr_0 = minLr and
/// lr_{numSteps-1} = maxLr with a constant ratio between neighbours.
double lrFinderRate(const LrFinderOptions &options, int64_t i);

/// The stopping rule, fed one loss per step:
///   1. avg_i = beta * avg_{i-1} + (1 - beta) * loss_i, avg_{-1} = 0;
///   2. smoothed_i = avg_i / (1 - beta^(i+1))  (bias correction: the first is loss_0 itself);
///   3. diverged once smoothed_i is not finite or exceeds factor * min(smoothed_0..i).
class LossSmoother {
public:
  explicit LossSmoother(double beta = 0.98, double divergenceFactor = 4)
      : beta_(beta), factor_(divergenceFactor) {}
  /// Adds a loss and returns the smoothed loss.
  double add(double loss);
  bool diverged() const { return diverged_; }
  double best() const { return best_; }

private:
  double beta_, factor_;
  double average_ = 0, betaPower_ = 1, best_ = 0;
  int64_t count_ = 0;
  bool diverged_ = false;
};

struct LrFinderPoint {
  double lr = 0, loss = 0, smoothedLoss = 0;
};

enum class LrFinderStop {
  Completed, // all numSteps ran
  Diverged,  // the smoothed loss exceeded divergenceFactor * best (that step is in the curve)
  NonFinite, // a loss was NaN or infinite (that step is not in the curve)
};

struct LrFinderResult {
  std::vector<LrFinderPoint> curve; // one point per step run, finite losses only
  LrFinderStop stop = LrFinderStop::Completed;
  /// The suggestion (see suggestLrIndex): an index into curve and its lr; -1 and 0 when there is
  /// none (the smoothed loss never fell).
  int64_t suggestedIndex = -1;
  double suggestedLr = 0;
};

/// fastai's "steep" suggestion: with m the index of the minimum smoothed loss, the i in
/// [skip, m) with the most negative slope (s_{i+1} - s_i) / (ln lr_{i+1} - ln lr_i) of the
/// smoothed loss s against log lr. Searching only left of the minimum keeps the suggestion below
/// the rates where the loss turns up; skipping the first points (findLearningRate skips
/// numSteps / 10, as fastai does) ignores the average's first values, which follow every loss
/// closely and so carry its noise. -1 when no such slope is negative (the loss never fell).
///
/// The average lags the raw loss by about beta / (1 - beta) = 49 steps, which moves the
/// steepest point of a gradual fall to higher rates; the fewer steps per decade, the more.
int64_t suggestLrIndex(const std::vector<LrFinderPoint> &curve, int64_t skip = 0);

/// Runs the range test: for i = 0, 1, ... numSteps-1 calls step(lr_i), smooths its loss and stops
/// early per LossSmoother; then fills the suggestion. An error only for bad options.
nnc::StatusOr<LrFinderResult> findLearningRate(const LrFinderOptions &options,
                                               const std::function<float(float lr)> &step);

/// "lr,loss,smoothed_loss" and one line per point (%.9g).
std::string formatLrFinderCsv(const LrFinderResult &result);
/// A self-contained SVG: smoothed loss against lr on a log axis (decade ticks), axis labels, the
/// curve as one <polyline> with a point per curve entry, and a marker at the suggested lr.
std::string renderLrFinderSvg(const LrFinderResult &result);

/// Write the CSV or SVG atomically (a temporary file beside `path`, fsync, rename), so a reader
/// never sees half a file; errors read "<path>: cannot write: <reason>".
nnc::Status writeLrFinderCsv(const LrFinderResult &result, const std::string &path);
nnc::Status writeLrFinderSvg(const LrFinderResult &result, const std::string &path);

} // namespace nnrt
