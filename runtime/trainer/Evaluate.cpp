// evaluate. eval_step returns the mean loss of a whole batch, padding included; to take the
// padding out exactly, the last batch (count real rows, padded with copies of its first row r) is
// run twice:
//   1. a batch of r alone (all rows r): its mean is r's own loss l_r;
//   2. the padded batch: mean L, so the real rows sum to L * B - (B - count) * l_r.
// This holds for any loss that is a mean of per-example terms (cross-entropy with or without label
// smoothing, per-token LM losses, MSE), and costs one extra call per evaluation.
#include "runtime/trainer/Evaluate.h"

#include "runtime/monitor/ClassMetrics.h"
#include "runtime/trainer/Batches.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace nnrt::trainer {

namespace {

nnc::StatusOr<float> runEval(Executor &executor, const EvalBinding &eval, const Batch &batch) {
  HostTensor labels = batch.labels;
  if (eval.labels.type().dtype() == nnc::F32 && labels.dtype == nnc::I64) {
    // Soft-target plans evaluate on one-hot rows of the class ids.
    nnc::StatusOr<HostTensor> rows = oneHot(labels, eval.labels.type().shape(1));
    if (!rows.ok())
      return rows.status();
    labels = std::move(*rows);
  }
  for (auto [slice, value] : {std::pair{&eval.features, &batch.features},
                              std::pair{&eval.labels, static_cast<const HostTensor *>(&labels)}})
    if (nnc::Status s = executor.write(*slice, *value); !s.ok())
      return nnc::Status::error("function 'eval_step', input '" + slice->name() +
                                "': " + s.message());
  if (nnc::Status s = executor.run("eval_step"); !s.ok())
    return s;
  nnc::StatusOr<HostTensor> loss = executor.read(eval.loss);
  if (!loss.ok())
    return loss.status();
  return loss->toFloats()[0];
}

/// Adds the argmax predictions of the first `count` rows (dataset rows firstRow...) to `result`:
/// accuracy, the confusion matrix and, with one label per example, the most confident mistakes.
void countCorrect(const HostTensor &logits, const HostTensor &labels, int64_t count,
                  int64_t classes, int64_t firstRow, EvalResult &result) {
  std::vector<float> z = logits.toFloats();
  const auto *y = reinterpret_cast<const int64_t *>(labels.data.data());
  int64_t perRow = labels.numElements() / labels.shape[0];  // positions per example
  bool confusion = !result.confusion.empty();
  for (int64_t i = 0; i < count * perRow; ++i) {
    const float *row = z.data() + i * classes;
    // NaN compares false both ways, so an argmax over it is arbitrary: never a right answer.
    bool finite = std::all_of(row, row + classes, [](float v) { return std::isfinite(v); });
    result.nonFinite += !finite;
    int64_t best = std::max_element(row, row + classes) - row;
    bool right = finite && best == y[i];
    result.correct += right;
    result.predictions += 1;
    result.classCorrect[y[i]] += right;
    result.classTotal[y[i]] += 1;
    if (confusion)
      monitor::countPrediction(result.confusion, classes, y[i], best);
    if (right || !finite || perRow != 1)
      continue;
    // The softmax probability of the (wrong) argmax: 1 / sum_j exp(z_j - z_max).
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j)
      sum += std::exp(double(row[j]) - double(row[best]));
    monitor::WrongPrediction w;
    w.row = firstRow + i, w.label = y[i], w.predicted = best, w.probability = 1 / sum;
    auto &worst = result.worst;
    auto at = std::find_if(worst.begin(), worst.end(), [&](const monitor::WrongPrediction &o) {
      return o.probability < w.probability;
    });
    if (size_t(at - worst.begin()) < kWorst) {
      worst.insert(at, w);
      if (worst.size() > kWorst)
        worst.pop_back();
    }
  }
}

/// The worst predictions' features, and their image layout when the examples look like images:
/// (C, H, W) with 1 or 3 channels, (H, W), or a flattened square IDX image.
void attachFeatures(const Dataset &data, std::vector<monitor::WrongPrediction> &worst) {
  Shape example(data.features.shape.begin() + 1, data.features.shape.end());
  int64_t c = 0, h = 0, w = 0;
  if (example.size() == 3 && (example[0] == 1 || example[0] == 3))
    c = example[0], h = example[1], w = example[2];
  else if (example.size() == 2)
    c = 1, h = example[0], w = example[1];
  else if (example.size() == 1 && data.featuresFile.find("idx") != std::string::npos) {
    int64_t side = std::lround(std::sqrt(double(example[0])));
    if (side * side == example[0] && side >= 8)
      c = 1, h = side, w = side;
  }
  for (monitor::WrongPrediction &p : worst) {
    Dataset row = data.gather({p.row});
    p.features = row.features.toFloats();
    p.channels = c, p.height = h, p.width = w;
  }
}

/// A plan's own eval_step.
class PlanEvalStep final : public EvalStep {
public:
  PlanEvalStep(Executor &executor, const FitBinding &binding)
      : executor_(executor), binding_(binding) {}
  int64_t rows() const override { return binding_.batch; }
  nnc::StatusOr<float> run(const Batch &batch) override {
    return runEval(executor_, *binding_.eval, batch);
  }
  nnc::StatusOr<std::optional<HostTensor>> logits() override {
    nnc::StatusOr<HostTensor> logits = executor_.read(*binding_.eval->logits);
    if (!logits.ok())
      return logits.status();
    return std::optional<HostTensor>(std::move(*logits));
  }

private:
  Executor &executor_;
  const FitBinding &binding_;
};

} // namespace

nnc::StatusOr<EvalResult> evaluate(Executor &executor, const FitBinding &binding,
                                   const Dataset &data) {
  if (!binding.eval)
    return nnc::Status::error("the plan has no function 'eval_step'");
  PlanEvalStep step(executor, binding);
  return evaluate(step, binding, data);
}

nnc::StatusOr<EvalResult> evaluate(EvalStep &step, const FitBinding &binding,
                                   const Dataset &data) {
  EvalResult result;
  if (!binding.eval)
    return nnc::Status::error("the plan has no function 'eval_step'");
  const EvalBinding &eval = *binding.eval;
  int64_t classes = binding.model.numClasses, size = step.rows();
  result.hasAccuracy = eval.logits.has_value();
  result.classCorrect.assign(std::max<int64_t>(classes, 0), 0);
  result.classTotal.assign(std::max<int64_t>(classes, 0), 0);
  if (result.hasAccuracy && classes > 1 && classes <= kMaxConfusionClasses)
    result.confusion.assign(classes * classes, 0);
  std::vector<int64_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  double lossSum = 0;
  int64_t batches = (data.size() + size - 1) / size;
  Prefetcher prefetcher(data, order, size, 0, batches);
  for (int64_t b = 0; b < batches; ++b) {
    Batch batch = prefetcher.next();
    double padLoss = 0;
    if (batch.count < size) {  // step 1 of the walkthrough above
      std::vector<int64_t> first(size, b * size);
      nnc::StatusOr<float> alone = step.run(makeBatch(data, first, 0, size));
      if (!alone.ok())
        return alone.status();
      padLoss = *alone;
    }
    nnc::StatusOr<float> loss = step.run(batch);
    if (!loss.ok())
      return loss.status();
    lossSum += double(*loss) * size - double(size - batch.count) * padLoss;
    if (eval.logits) {
      nnc::StatusOr<std::optional<HostTensor>> logits = step.logits();
      if (!logits.ok())
        return logits.status();
      if (*logits)
        countCorrect(**logits, batch.labels, batch.count, classes, b * size, result);
    }
  }
  result.examples = data.size();
  result.loss = data.size() ? lossSum / double(data.size()) : 0;
  if (nnc::Status s = step.shareResult(result); !s.ok())
    return s;
  attachFeatures(data, result.worst);
  return result;
}

} // namespace nnrt::trainer
