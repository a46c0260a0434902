// Evaluation with eval_step over every example of a dataset: mean loss and, when the plan has
// logits, accuracy overall and per class, the confusion matrix and the most confidently wrong
// predictions (for the monitor). The last partial batch is padded to the function's batch and the
// padding excluded from all of them.
#pragma once

#include "runtime/Executor.h"
#include "runtime/monitor/Hooks.h"
#include "runtime/trainer/Binding.h"

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

} // namespace nnrt::trainer
