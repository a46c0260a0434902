// The learning-rate schedule the trainer feeds to train_step's nnc.learning_rate: a pure function
// of (step, epoch) plus the little state reduce-on-plateau keeps, so tests can check the formula
// at given steps and a checkpoint can carry the state.
//
//   LrSchedule schedule(config);
//   float lr = schedule.at(step, epoch);       // step: 0-based over the whole run
//   schedule.onValidationLoss(loss);           // once per epoch (plateau reductions)
#pragma once

#include "proto/model.pb.h"
#include "support/StatusOr.h"

#include <cstdint>
#include <limits>

namespace nnrt::trainer {

struct ScheduleConfig {
  nnc::LRSchedule::Kind kind = nnc::LRSchedule::CONSTANT;
  double lr = 1e-3;        // the peak rate, after the linear scaling rule
  int64_t warmupSteps = 0; // linear from lr/100 to lr over these steps (any kind)
  double warmupEpochs = 0; // instead of warmupSteps: epochs, made steps once the data is known
  double minLr = 0;        // cosine's floor; plateau's floor
  int64_t stepSize = 0;    // STEP: epochs between decays
  double gamma = 0.1;      // STEP and REDUCE_ON_PLATEAU: the decay factor
  int64_t patience = 0;    // REDUCE_ON_PLATEAU: bad evals tolerated before a reduction
  int64_t totalSteps = 1;  // cosine anneals over [warmupSteps, totalSteps)
};

/// The plan's TrainingSpec as a config (CLI flags override fields afterwards). `lr` is the
/// optimizer's learning rate; the spec's zero fields take the defaults above.
ScheduleConfig scheduleFromSpec(const nnc::TrainingSpec &spec);
/// Refuses configs the formulas cannot use (non-positive lr, STEP without a step size, ...),
/// naming the flag or TrainingSpec field.
nnc::Status checkSchedule(const ScheduleConfig &config);

/// What reduce-on-plateau remembers between epochs (saved in checkpoints).
struct PlateauState {
  double scale = 1;  // gamma^reductions
  double bestLoss = std::numeric_limits<double>::infinity();
  int64_t badEvals = 0;  // evals since the best one
};

class LrSchedule {
public:
  explicit LrSchedule(ScheduleConfig config) : config_(config) {}

  /// The rate for 0-based `step` of the run, in 0-based `epoch`:
  ///   CONSTANT           lr
  ///   WARMUP_COSINE      minLr + (lr - minLr) * (1 + cos(pi * p)) / 2,
  ///                      p = (step - warmup) / (totalSteps - warmup)
  ///   STEP               lr * gamma ^ floor(epoch / stepSize)
  ///   REDUCE_ON_PLATEAU  max(minLr, lr * gamma ^ reductions)
  /// and during warm-up (step < warmupSteps) that rate r becomes r/100 + (r - r/100) * step /
  /// warmupSteps, so the first step takes r/100 and step warmupSteps takes r.
  double at(int64_t step, int64_t epoch) const;

  /// Reduce-on-plateau's bookkeeping (PyTorch's ReduceLROnPlateau, mode min, threshold 0): an
  /// improvement resets the count; more than `patience` bad evals in a row multiply the rate by
  /// gamma. Returns true when it reduced. Other kinds ignore it.
  bool onValidationLoss(double loss);

  const PlateauState &state() const { return state_; }
  void setState(const PlateauState &state) { state_ = state; }
  const ScheduleConfig &config() const { return config_; }

private:
  ScheduleConfig config_;
  PlateauState state_;
};

/// The schedule as one word that checkpoints keep, "kind=warmup-cosine,lr=0x1p-10,warmup=6,..."
/// (doubles in hex, exact), without totalSteps: a resumed run may be given more epochs.
std::string describeSchedule(const ScheduleConfig &config);

/// "constant", "warmup-cosine", "step", "plateau": the names the --lr-schedule flag takes.
nnc::StatusOr<nnc::LRSchedule::Kind> parseScheduleKind(const std::string &name);
std::string scheduleKindName(nnc::LRSchedule::Kind kind);

} // namespace nnrt::trainer
