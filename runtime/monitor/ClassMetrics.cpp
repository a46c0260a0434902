// classMetrics: column and row sums of the confusion matrix give each class's predictions and
// support; the diagonal is its true positives.
#include "runtime/monitor/ClassMetrics.h"

namespace nnrt::monitor {

std::vector<int64_t> confusionMatrix(const std::vector<int64_t> &labels,
                                     const std::vector<int64_t> &predictions, int64_t classes) {
  std::vector<int64_t> confusion(classes * classes, 0);
  for (size_t i = 0; i < labels.size() && i < predictions.size(); ++i)
    countPrediction(confusion, classes, labels[i], predictions[i]);
  return confusion;
}

ClassMetrics classMetrics(std::vector<int64_t> confusion, int64_t classes) {
  ClassMetrics m;
  m.classes = classes;
  m.confusion = std::move(confusion);
  m.support.assign(classes, 0);
  m.predicted.assign(classes, 0);
  for (int64_t t = 0; t < classes; ++t)
    for (int64_t p = 0; p < classes; ++p) {
      m.support[t] += m.confusion[t * classes + p];
      m.predicted[p] += m.confusion[t * classes + p];
    }
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  for (int64_t c = 0; c < classes; ++c) {
    double tp = double(m.confusion[c * classes + c]);
    m.precision.push_back(ratio(tp, double(m.predicted[c])));
    m.recall.push_back(ratio(tp, double(m.support[c])));
    m.f1.push_back(ratio(2 * m.precision[c] * m.recall[c], m.precision[c] + m.recall[c]));
    m.macroF1 += m.f1[c] / double(classes);
  }
  return m;
}

} // namespace nnrt::monitor
