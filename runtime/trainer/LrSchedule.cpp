// Learning-rate schedules (see LrSchedule.h for the formulas).
#include "runtime/trainer/LrSchedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace nnrt::trainer {

ScheduleConfig scheduleFromSpec(const nnc::TrainingSpec &spec) {
  ScheduleConfig config;
  if (spec.optimizer().learning_rate() > 0)
    config.lr = spec.optimizer().learning_rate();
  const nnc::LRSchedule &s = spec.lr_schedule();
  config.kind = s.kind();
  config.warmupSteps = s.warmup_steps();
  config.warmupEpochs = s.warmup_epochs();
  config.minLr = s.min_lr();
  config.stepSize = s.step_size();
  if (s.gamma() > 0)
    config.gamma = s.gamma();
  config.patience = s.patience();
  return config;
}

std::string describeSchedule(const ScheduleConfig &c) {
  char text[256];
  std::snprintf(text, sizeof text,
                "kind=%s,lr=%a,warmup=%lld,min_lr=%a,step_size=%lld,gamma=%a,patience=%lld",
                scheduleKindName(c.kind).c_str(), c.lr, static_cast<long long>(c.warmupSteps), c.minLr,
                static_cast<long long>(c.stepSize), c.gamma, static_cast<long long>(c.patience));
  return text;
}

nnc::Status checkSchedule(const ScheduleConfig &config) {
  using nnc::Status;
  if (!(config.lr > 0) || !std::isfinite(config.lr))
    return Status::error("--lr: the learning rate must be positive, got " +
                         std::to_string(config.lr));
  if (config.warmupSteps < 0)
    return Status::error("--warmup-steps: must be >= 0");
  if (!(config.warmupEpochs >= 0) || !std::isfinite(config.warmupEpochs))
    return Status::error("--warmup-epochs: must be >= 0, got " +
                         std::to_string(config.warmupEpochs));
  if (config.minLr < 0 || config.minLr > config.lr) {
    char text[200];
    std::snprintf(text, sizeof text,
                  "--min-lr: the floor %g must lie in [0, %g] (the learning rate): lower "
                  "--min-lr or raise --lr",
                  config.minLr, config.lr);
    return Status::error(text);
  }
  if (!(config.gamma > 0 && config.gamma <= 1))
    return Status::error("--lr-gamma: must be in (0, 1], got " + std::to_string(config.gamma));
  if (config.kind == nnc::LRSchedule::STEP && config.stepSize < 1)
    return Status::error("--lr-step-size: the step schedule needs a step size of at least one "
                         "epoch (lr_schedule.step_size)");
  if (config.patience < 0)
    return Status::error("--lr-patience: must be >= 0");
  return Status();
}

double LrSchedule::at(int64_t step, int64_t epoch) const {
  const ScheduleConfig &c = config_;
  double rate = c.lr;
  switch (c.kind) {
  case nnc::LRSchedule::WARMUP_COSINE: {
    int64_t span = std::max<int64_t>(1, c.totalSteps - c.warmupSteps);
    double p = std::clamp(double(step - c.warmupSteps) / double(span), 0.0, 1.0);
    rate = c.minLr + (c.lr - c.minLr) * 0.5 * (1 + std::cos(M_PI * p));
    break;
  }
  case nnc::LRSchedule::STEP:
    rate = c.lr * std::pow(c.gamma, double(epoch / std::max<int64_t>(1, c.stepSize)));
    break;
  case nnc::LRSchedule::REDUCE_ON_PLATEAU:
    rate = std::max(c.minLr, c.lr * state_.scale);
    break;
  default:
    break;
  }
  if (step < c.warmupSteps) {
    double start = rate / 100;
    rate = start + (rate - start) * double(step) / double(c.warmupSteps);
  }
  return rate;
}

bool LrSchedule::onValidationLoss(double loss) {
  if (config_.kind != nnc::LRSchedule::REDUCE_ON_PLATEAU)
    return false;
  if (loss < state_.bestLoss) {
    state_.bestLoss = loss;
    state_.badEvals = 0;
    return false;
  }
  if (++state_.badEvals <= config_.patience)
    return false;
  state_.scale *= config_.gamma;
  state_.badEvals = 0;
  return true;
}

nnc::StatusOr<nnc::LRSchedule::Kind> parseScheduleKind(const std::string &name) {
  for (nnc::LRSchedule::Kind kind :
       {nnc::LRSchedule::CONSTANT, nnc::LRSchedule::WARMUP_COSINE, nnc::LRSchedule::STEP,
        nnc::LRSchedule::REDUCE_ON_PLATEAU})
    if (scheduleKindName(kind) == name)
      return kind;
  return nnc::Status::error("--lr-schedule: unknown schedule '" + name +
                            "' (available: constant, warmup-cosine, step, plateau)");
}

std::string scheduleKindName(nnc::LRSchedule::Kind kind) {
  switch (kind) {
  case nnc::LRSchedule::WARMUP_COSINE:
    return "warmup-cosine";
  case nnc::LRSchedule::STEP:
    return "step";
  case nnc::LRSchedule::REDUCE_ON_PLATEAU:
    return "plateau";
  default:
    return "constant";
  }
}

} // namespace nnrt::trainer
