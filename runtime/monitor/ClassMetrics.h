// Per-class precision, recall and F1 and the confusion matrix: pure functions over label and
// prediction lists, so the numbers the report shows can be checked by hand.
#pragma once

#include "runtime/monitor/Hooks.h"

namespace nnrt::monitor {

/// Adds one (true label, predicted class) pair to a classes x classes confusion matrix.
inline void countPrediction(std::vector<int64_t> &confusion, int64_t classes, int64_t label,
                            int64_t predicted) {
  ++confusion[label * classes + predicted];
}

/// The confusion matrix of `labels` against `predictions` (each in [0, classes)).
std::vector<int64_t> confusionMatrix(const std::vector<int64_t> &labels,
                                     const std::vector<int64_t> &predictions, int64_t classes);

/// Precision tp / (tp + fp), recall tp / (tp + fn) and F1 (their harmonic mean) per class, and
/// the macro-averaged F1. A ratio with a zero denominator is 0 (scikit-learn's zero_division=0).
ClassMetrics classMetrics(std::vector<int64_t> confusion, int64_t classes);

} // namespace nnrt::monitor
