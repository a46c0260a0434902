// The LR range test (see LrFinder.h): the exponential schedule, the smoothed-loss stopping rule,
// the steepest-descent suggestion, and the CSV and SVG reports.
#include "runtime/augment/LrFinder.h"

#include "support/AtomicFile.h"
#include "support/Format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace nnrt {

nnc::Status checkLrFinderOptions(const LrFinderOptions &options) {
  auto fail = [](const std::string &message) {
    return nnc::Status::error("lr finder: " + message);
  };
  if (!(options.minLr > 0) || !std::isfinite(options.minLr))
    return fail("the lowest learning rate must be > 0, got " + nnc::formatNumber(options.minLr));
  if (!(options.maxLr > options.minLr) || !std::isfinite(options.maxLr))
    return fail("the highest learning rate must exceed the lowest (" +
                nnc::formatNumber(options.minLr) + "), got " + nnc::formatNumber(options.maxLr));
  if (options.numSteps < 2)
    return fail("needs at least 2 steps, got " + std::to_string(options.numSteps));
  if (!(options.smoothing >= 0 && options.smoothing < 1))
    return fail("smoothing must be in [0, 1), got " + nnc::formatNumber(options.smoothing));
  if (!(options.divergenceFactor > 1))
    return fail("the divergence factor must be > 1, got " +
                nnc::formatNumber(options.divergenceFactor));
  return nnc::Status();
}

double lrFinderRate(const LrFinderOptions &options, int64_t i) {
  if (options.numSteps < 2)
    return options.minLr;
  double t = double(i) / double(options.numSteps - 1);
  return options.minLr * std::pow(options.maxLr / options.minLr, t);
}

double LossSmoother::add(double loss) {
  average_ = beta_ * average_ + (1 - beta_) * loss;
  betaPower_ *= beta_;
  double smoothed = average_ / (1 - betaPower_);
  if (count_ == 0 || smoothed < best_)
    best_ = smoothed;
  ++count_;
  if (!std::isfinite(smoothed) || smoothed > factor_ * best_)
    diverged_ = true;
  return smoothed;
}

int64_t suggestLrIndex(const std::vector<LrFinderPoint> &curve, int64_t skip) {
  int64_t minimum = 0;
  for (int64_t i = 1; i < int64_t(curve.size()); ++i)
    if (curve[size_t(i)].smoothedLoss < curve[size_t(minimum)].smoothedLoss)
      minimum = i;
  int64_t steepest = -1;
  double steepestSlope = 0;
  for (int64_t i = std::max<int64_t>(skip, 0); i < minimum; ++i) {
    const LrFinderPoint &a = curve[size_t(i)], &b = curve[size_t(i + 1)];
    double slope = (b.smoothedLoss - a.smoothedLoss) / (std::log(b.lr) - std::log(a.lr));
    if (slope < steepestSlope) {
      steepestSlope = slope;
      steepest = i;
    }
  }
  return steepest;
}

nnc::StatusOr<LrFinderResult> findLearningRate(const LrFinderOptions &options,
                                               const std::function<float(float lr)> &step) {
  if (auto s = checkLrFinderOptions(options); !s.ok())
    return s;
  LrFinderResult result;
  LossSmoother smoother(options.smoothing, options.divergenceFactor);
  for (int64_t i = 0; i < options.numSteps; ++i) {
    double lr = lrFinderRate(options, i);
    double loss = step(float(lr));
    if (!std::isfinite(loss)) {
      result.stop = LrFinderStop::NonFinite;
      break;
    }
    double smoothed = smoother.add(loss);
    result.curve.push_back({lr, loss, smoothed});
    if (smoother.diverged()) {
      result.stop = LrFinderStop::Diverged;
      break;
    }
  }
  result.suggestedIndex = suggestLrIndex(result.curve, options.numSteps / 10);
  if (result.suggestedIndex >= 0)
    result.suggestedLr = result.curve[size_t(result.suggestedIndex)].lr;
  return result;
}

//===------------------------------------------------------------------------------------------===//
// Reports
//===------------------------------------------------------------------------------------------===//

namespace {

std::string format(const char *spec, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), spec, value);
  return buffer;
}

} // namespace

std::string formatLrFinderCsv(const LrFinderResult &result) {
  std::string csv = "lr,loss,smoothed_loss\n";
  for (const LrFinderPoint &point : result.curve)
    csv += format("%.9g", point.lr) + "," + format("%.9g", point.loss) + "," +
           format("%.9g", point.smoothedLoss) + "\n";
  return csv;
}

std::string renderLrFinderSvg(const LrFinderResult &result) {
  // The plot area inside a 640 x 400 canvas, margins left for tick labels and axis titles.
  constexpr double kWidth = 640, kHeight = 400;
  constexpr double kLeft = 70, kRight = 620, kTop = 40, kBottom = 340;

  // 1. Data ranges: x in log10(lr) widened to whole decades, y over the smoothed losses, its top
  //    clipped (as fastai's plot is) to kYClip times the lowest loss, or the first loss if higher:
  //    the exploding tail would otherwise squash the descent the suggestion is read from.
  constexpr double kYClip = 4;
  double xLo = 0, xHi = 1, yLo = 0, yHi = 1;
  if (!result.curve.empty()) {
    xLo = std::floor(std::log10(result.curve.front().lr));
    xHi = std::ceil(std::log10(result.curve.back().lr));
    yLo = yHi = result.curve.front().smoothedLoss;
    for (const LrFinderPoint &point : result.curve) {
      yLo = std::min(yLo, point.smoothedLoss);
      yHi = std::max(yHi, point.smoothedLoss);
    }
    yHi = std::min(yHi, std::max(result.curve.front().smoothedLoss, kYClip * yLo));
  }
  if (xHi <= xLo)
    xHi = xLo + 1;
  if (yHi <= yLo)
    yHi = yLo + 1;
  auto px = [&](double lr) { return kLeft + (std::log10(lr) - xLo) / (xHi - xLo) * (kRight - kLeft); };
  auto py = [&](double loss) { return kBottom - (loss - yLo) / (yHi - yLo) * (kBottom - kTop); };
  auto num = [](double v) { return format("%.2f", v); };

  // 2. Frame, axis titles, decade ticks on x and five ticks on y.
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) +
                    "\" height=\"" + num(kHeight) + "\" viewBox=\"0 0 " + num(kWidth) + " " +
                    num(kHeight) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + num(kWidth / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">"
         "Learning rate range test</text>\n";
  svg += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(kRight - kLeft) +
         "\" height=\"" + num(kBottom - kTop) + "\" fill=\"none\" stroke=\"black\"/>\n";
  for (double decade = xLo; decade <= xHi + 0.5; decade += 1) {
    double x = kLeft + (decade - xLo) / (xHi - xLo) * (kRight - kLeft);
    svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(kBottom) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(kBottom + 5) + "\" stroke=\"black\"/>\n";
    svg += "<text x=\"" + num(x) + "\" y=\"" + num(kBottom + 18) +
           "\" text-anchor=\"middle\">1e" + format("%.0f", decade) + "</text>\n";
  }
  for (int tick = 0; tick <= 4; ++tick) {
    double loss = yLo + (yHi - yLo) * tick / 4.0, y = py(loss);
    svg += "<line x1=\"" + num(kLeft - 5) + "\" y1=\"" + num(y) + "\" x2=\"" + num(kLeft) +
           "\" y2=\"" + num(y) + "\" stroke=\"black\"/>\n";
    svg += "<text x=\"" + num(kLeft - 8) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
           format("%.3g", loss) + "</text>\n";
  }
  svg += "<text x=\"" + num((kLeft + kRight) / 2) + "\" y=\"" + num(kHeight - 20) +
         "\" text-anchor=\"middle\">learning rate (log scale)</text>\n";
  svg += "<text x=\"18\" y=\"" + num((kTop + kBottom) / 2) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " + num((kTop + kBottom) / 2) +
         ")\">loss (smoothed)</text>\n";

  // 3. The curve and the suggestion, clipped to the plot area.
  svg += "<clipPath id=\"plot-area\"><rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) +
         "\" width=\"" + num(kRight - kLeft) + "\" height=\"" + num(kBottom - kTop) +
         "\"/></clipPath>\n";
  svg += "<polyline clip-path=\"url(#plot-area)\" fill=\"none\" stroke=\"steelblue\" "
         "stroke-width=\"1.5\" points=\"";
  for (size_t i = 0; i < result.curve.size(); ++i)
    svg += (i ? " " : "") + num(px(result.curve[i].lr)) + "," + num(py(result.curve[i].smoothedLoss));
  svg += "\"/>\n";
  if (result.suggestedIndex >= 0 && size_t(result.suggestedIndex) < result.curve.size()) {
    const LrFinderPoint &point = result.curve[size_t(result.suggestedIndex)];
    double x = px(point.lr), y = py(point.smoothedLoss);
    svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(kBottom) + "\" stroke=\"crimson\" stroke-dasharray=\"4 3\"/>\n";
    svg += "<circle clip-path=\"url(#plot-area)\" cx=\"" + num(x) + "\" cy=\"" + num(y) +
           "\" r=\"5\" fill=\"crimson\"/>\n";
    svg += "<text x=\"" + num(x + 8) + "\" y=\"" + num(kTop + 16) + "\" fill=\"crimson\">suggested " +
           format("%.3g", point.lr) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

nnc::Status writeLrFinderCsv(const LrFinderResult &result, const std::string &path) {
  return nnc::writeFileAtomically(path, formatLrFinderCsv(result));
}

nnc::Status writeLrFinderSvg(const LrFinderResult &result, const std::string &path) {
  return nnc::writeFileAtomically(path, renderLrFinderSvg(result));
}

} // namespace nnrt
