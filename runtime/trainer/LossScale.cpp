// The loss-scale watch (see LossScale.h).
#include "runtime/trainer/LossScale.h"

#include "runtime/Executor.h"

#include <cstdio>

namespace nnrt {

std::optional<LossScaleWatch> findLossScale(const nnc::Plan &plan) {
  for (const nnc::Function &function : plan.functions()) {
    if (function.name() != "train_step" && function.name() != "apply_step")
      continue;
    std::optional<nnc::TensorSlice> scale, skipped, nonfinite;
    for (const nnc::TensorSlice &output : function.outputs()) {
      if (output.name() == "loss_scale")
        scale = output;
      if (output.name() == "skipped_steps")
        skipped = output;
      if (output.name() == "nonfinite_gradient")
        nonfinite = output;
    }
    if (!scale || !skipped)
      return std::nullopt;
    double floor = plan.training().precision().min_loss_scale();
    return LossScaleWatch{*scale, *skipped, nonfinite,
                          {function.checked_gradients().begin(),
                           function.checked_gradients().end()},
                          floor > 0 ? floor : 1.0};
  }
  return std::nullopt;
}

nnc::StatusOr<LossScaleReading> checkLossScale(Executor &executor, const LossScaleWatch &watch,
                                                int64_t step) {
  LossScaleReading reading;
  for (auto [slice, value] : {std::pair{&watch.scale, &reading.scale},
                              std::pair{&watch.skipped, &reading.skipped}}) {
    nnc::StatusOr<HostTensor> tensor = executor.read(*slice);
    if (!tensor.ok())
      return nnc::Status::error("function 'train_step', output '" + slice->name() +
                                "': " + tensor.status().message());
    *value = tensor->toFloats()[0];
  }
  if (watch.nonfinite) {
    nnc::StatusOr<HostTensor> index = executor.read(*watch.nonfinite);
    if (!index.ok())
      return nnc::Status::error("function 'train_step', output '" + watch.nonfinite->name() +
                                "': " + index.status().message());
    auto k = static_cast<size_t>(index->toFloats()[0]);
    if (k > 0)
      reading.overflowed = k <= watch.gradients.size() && !watch.gradients[k - 1].empty()
                               ? watch.gradients[k - 1]
                               : "gradient #" + std::to_string(k);
  }
  if (reading.scale < watch.floor) {
    char message[256];
    std::snprintf(message, sizeof message,
                  "step %lld: the fp16 loss scale fell to %g, below its floor %g: the gradients "
                  "overflow fp16 at every scale (%g steps skipped); train with precision BF16",
                  static_cast<long long>(step), reading.scale, watch.floor, reading.skipped);
    return nnc::Status::error(message);
  }
  return reading;
}

} // namespace nnrt
