// Evaluation with eval_step over every example of a dataset: mean loss and, when the plan has
// logits, accuracy overall and per class, the confusion matrix and the most confidently wrong
// predictions (for the monitor). The last partial batch is padded to the function's batch and the
// padding excluded from all of them.
#pragma once

#include "runtime/Executor.h"
#include "runtime/monitor/Hooks.h"
#include "runtime/trainer/Batches.h"
#include "runtime/trainer/Binding.h"

#include <optional>
#include <vector>

namespace nnrt::trainer {

struct EvalResult {
  double loss = 0;        // mean over the examples
  int64_t examples = 0;
  bool hasAccuracy = false;
  int64_t correct = 0, predictions = 0;  // predictions: examples x positions (text: tokens)
  int64_t nonFinite = 0;  // predictions whose logits hold NaN or inf: counted as wrong
  std::vector<int64_t> classCorrect, classTotal;  // by true label
  std::vector<int64_t> confusion;  // classes x classes (true, predicted); empty above kMaxConfusionClasses
  std::vector<monitor::WrongPrediction> worst;  // one label per example: the kWorst most
                                                // confident mistakes, most confident first

  double accuracy() const { return predictions ? double(correct) / double(predictions) : 0; }
};

constexpr int64_t kMaxConfusionClasses = 64;  // a language model's vocabulary is not "classes"
constexpr size_t kWorst = 12;

/// Runs eval_step on `data` batch by batch, in order. Errors are the executor's.
nnc::StatusOr<EvalResult> evaluate(Executor &executor, const FitBinding &binding,
                                   const Dataset &data);

/// One eval_step call as evaluate() drives it: a plan's own, or a pipeline's through its stages
/// (PipelineFit), where only the last stage has a loss and logits and the others return 0 and
/// none; evaluate then sums the results over the pipeline (PipelineFit::shareResult).
class EvalStep {
public:
  virtual ~EvalStep() = default;
  virtual int64_t rows() const = 0;  // the batch eval_step takes
  /// Runs eval_step on `batch` (labels as the data holds them); its mean loss.
  virtual nnc::StatusOr<float> run(const Batch &batch) = 0;
  /// The logits of the batch just run; null where this rank has none.
  virtual nnc::StatusOr<std::optional<HostTensor>> logits() = 0;
  /// Called once at the end: makes `result` the whole evaluation's on every rank.
  virtual nnc::Status shareResult(EvalResult &result) { return nnc::Status(); }
};

nnc::StatusOr<EvalResult> evaluate(EvalStep &step, const FitBinding &binding,
                                   const Dataset &data);

} // namespace nnrt::trainer
