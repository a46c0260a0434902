// fp16 dynamic loss scaling, as the runtime sees it: a plan compiled for fp16 returns the scale
// and the count of skipped (overflowing) steps from train_step, or apply_step with gradient
// accumulation ("loss_scale", "skipped_steps";
// the compiler keeps both as state in the parameter table). After each step the loops read them
// and stop once the scale falls below the TrainingSpec's floor, where fp16 cannot train.
#pragma once

#include "proto/plan.pb.h"
#include "support/StatusOr.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nnrt {

class Executor;

struct LossScaleWatch {
  nnc::TensorSlice scale, skipped;  // train_step's outputs
  std::optional<nnc::TensorSlice> nonfinite;  // "nonfinite_gradient": which gradient overflowed
  std::vector<std::string> gradients;         // its names, in that output's order
  double floor = 1.0;               // precision.min_loss_scale, 1 when unset
};

struct LossScaleReading {
  float scale = 0, skipped = 0;
  std::string overflowed;  // the parameter whose gradient was the first non-finite this step
};

/// The watch for `plan`'s train_step, if it scales its loss.
std::optional<LossScaleWatch> findLossScale(const nnc::Plan &plan);

/// Reads the scale after train step `step` (0-based); an error naming the step, the scale and
/// the floor when it fell below the floor.
nnc::StatusOr<LossScaleReading> checkLossScale(Executor &executor, const LossScaleWatch &watch,
                                                int64_t step);

} // namespace nnrt
