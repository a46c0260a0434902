// Monitoring hooks: what the trainer reports at each step, evaluation and epoch end, and when
// something looks wrong. Sinks (progress line, JSON lines, TensorBoard, HTML report) implement
// Hook; the trainer talks to one Monitor (Monitor.h) that fans events out to them and runs the
// anomaly detector.
#pragma once

#include "support/Status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nnrt::monitor {

/// After every train_step. Steps and epochs are 1-based, as printed.
struct StepEvent {
  int64_t step = 0, epoch = 0;
  int64_t batchInEpoch = 0, stepsPerEpoch = 0;  // batchInEpoch: 1..stepsPerEpoch
  int64_t totalSteps = 0, epochs = 0;
  int64_t batchSize = 0;
  double loss = 0, lr = 0;
  std::optional<double> gradNorm;      // train_step's "grad_norm": pre-clip global norm
  std::optional<double> lossScale;     // fp16: "loss_scale"
  std::optional<double> skippedSteps;  // fp16: "skipped_steps" (overflows so far)
  bool skipped = false;                // --skip-nonfinite skipped or undid this step
  double stepSeconds = 0, samplesPerSecond = 0;
  int64_t residentBytes = 0;           // the process's resident memory, sampled
  double wallTime = 0;                 // seconds since the Unix epoch
};

/// A misclassified example: its row in the evaluated split, the label, the predicted class and
/// that prediction's softmax probability; the row's features for the report's gallery.
struct WrongPrediction {
  int64_t row = 0, label = 0, predicted = 0;
  double probability = 0;
  std::vector<float> features;  // the row's (normalized) features
  int64_t height = 0, width = 0, channels = 0;  // > 0: an image, (C, H, W) or (H, W) layout
};

/// Per-class metrics from a confusion matrix (rows: true class, columns: predicted class).
struct ClassMetrics {
  int64_t classes = 0;
  std::vector<int64_t> confusion;               // classes * classes, row-major
  std::vector<int64_t> support, predicted;      // row sums, column sums
  std::vector<double> precision, recall, f1;    // 0 where undefined (no predictions / support)
  double macroF1 = 0;
};

struct EvalEvent {
  int64_t step = 0, epoch = 0;  // epoch 0: after training (the test set)
  std::string split;            // "val" or "test"
  double loss = 0;
  int64_t examples = 0;
  std::optional<double> accuracy;
  std::optional<ClassMetrics> metrics;  // classifiers with at most Evaluate's class limit
  std::vector<WrongPrediction> worst;   // the most confident mistakes, most confident first
  double wallTime = 0;
};

struct EpochEvent {
  int64_t epoch = 0, epochs = 0, step = 0;
  double trainLoss = 0, lr = 0, seconds = 0;
  double samplesPerSecond = 0;  // this process's steps of the epoch over its wall time
  std::optional<double> valLoss, valAccuracy;
};

struct AnomalyEvent {
  // NonFiniteValue: the plan skipped an update whose loss or gradients were not finite, and
  // the message names the node where the first non-finite value appeared.
  enum Kind { NonFiniteLoss, GradNormSpike, Overfitting, Underfitting, NonFiniteValue };
  Kind kind = NonFiniteLoss;
  int64_t step = 0, epoch = 0;
  std::string message;  // one line, e.g. "overfitting since epoch 4: validation loss rising ..."
};

/// A language model's generated text (--sample-every): `prompt` from the data, then `text`,
/// `length` tokens chosen by the model (greedily, or sampled at `temperature`).
struct SampleEvent {
  int64_t step = 0, epoch = 0;
  std::string prompt, text;
  double temperature = 0;
};

const char *anomalyKindName(AnomalyEvent::Kind kind);

/// Whether a run resumed from a checkpoint taken after `resumeStep` keeps an event that an
/// earlier process wrote to a sink's file, given the event's step and whether it is the final
/// test evaluation (which comes after the last checkpoint, so the resumed run writes it again).
inline bool keptOnResume(int64_t step, bool finalTest, int64_t resumeStep) {
  return step < resumeStep || (step == resumeStep && !finalTest);
}

/// A sink. Every method may fail (a file that cannot be written); the trainer stops on an error.
class Hook {
public:
  virtual ~Hook() = default;
  virtual nnc::Status onStepEnd(const StepEvent &) { return nnc::Status(); }
  virtual nnc::Status onEvalEnd(const EvalEvent &) { return nnc::Status(); }
  virtual nnc::Status onEpochEnd(const EpochEvent &) { return nnc::Status(); }
  virtual nnc::Status onAnomaly(const AnomalyEvent &) { return nnc::Status(); }
  virtual nnc::Status onSample(const SampleEvent &) { return nnc::Status(); }
  /// The run is over (finished, stopped early, or failed): flush and close.
  virtual nnc::Status onRunEnd() { return nnc::Status(); }
};

} // namespace nnrt::monitor
