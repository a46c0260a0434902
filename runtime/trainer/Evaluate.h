// Evaluation with eval_step over every example of a dataset: mean loss and, when the plan has
// logits, accuracy overall and per class. The last partial batch is padded to the function's
// batch and the padding excluded from both.
#pragma once

#include "runtime/Executor.h"
#include "runtime/trainer/Binding.h"

#include <vector>

namespace nnrt::trainer {

struct EvalResult {
  double loss = 0;        // mean over the examples
  int64_t examples = 0;
  bool hasAccuracy = false;
  int64_t correct = 0, predictions = 0;  // predictions: examples x positions (text: tokens)
  std::vector<int64_t> classCorrect, classTotal;  // by true label

  double accuracy() const { return predictions ? double(correct) / double(predictions) : 0; }
};

/// Runs eval_step on `data` batch by batch, in order. Errors are the executor's.
nnc::StatusOr<EvalResult> evaluate(Executor &executor, const FitBinding &binding,
                                   const Dataset &data);

} // namespace nnrt::trainer
