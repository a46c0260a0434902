// The step runner (see StepRunner.h). Binding reads the plan's step functions once; running
// writes every input before every micro-batch, since the compiler may reuse an input's slice once
// it is dead, so nothing survives from one step to the next but the parameters and their state.
#include "runtime/trainer/StepRunner.h"

#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/collective/Communicator.h"
#include "runtime/trainer/StopSignals.h"

#include <algorithm>
#include <cstring>

namespace nnrt::trainer {

using nnc::Status;

namespace {

std::string describe(const nnc::TensorSlice &tensor) {
  return "'" + tensor.name() + "' " + formatShape(shapeOf(tensor.type())) + " " +
         formatDType(tensor.type().dtype());
}

bool isScalar(const nnc::TensorSlice &tensor, nnc::DType dtype) {
  return tensor.type().dtype() == dtype && numElements(shapeOf(tensor.type())) == 1;
}

/// A tensor of `slice`'s type holding the one value at `value` (of the slice's dtype).
HostTensor scalarFor(const nnc::TensorSlice &slice, const void *value) {
  HostTensor tensor(slice.type().dtype(), shapeOf(slice.type()));
  std::memcpy(tensor.data.data(), value, tensor.data.size());
  return tensor;
}

/// apply_step's inputs: the learning rate and, optionally, the update's number.
nnc::StatusOr<ApplyBinding> bindApply(const nnc::Plan &plan, const nnc::Function &apply,
                                      const std::string &planPath) {
  ApplyBinding update;
  update.steps = std::max<int64_t>(plan.training().accumulation_steps(), 1);
  bool hasRate = false;
  for (const nnc::TensorSlice &input : apply.inputs()) {
    if (!isScalar(input, nnc::F32))
      return Status::error(planPath + ": function 'apply_step' input " + describe(input) +
                           " should be one f32");
    if (input.name() == kLearningRateInput) {
      update.learningRate = input;
      hasRate = true;
    } else if (input.name() == kStepInput) {
      update.stepNumber = input;
    } else {
      return Status::error(planPath + ": function 'apply_step' has an unexpected input " +
                           describe(input));
    }
  }
  if (!hasRate)
    return Status::error(planPath + ": function 'apply_step' has no input '" +
                         std::string(kLearningRateInput) + "'");
  return update;
}

/// The "grad_norm" output of the function that computes it: the update's.
std::optional<nnc::TensorSlice> findGradNorm(const nnc::Function &update) {
  for (const nnc::TensorSlice &output : update.outputs())
    if (output.name() == "grad_norm" && isScalar(output, nnc::F32))
      return output;
  return std::nullopt;
}

/// The step's per-step scalars into `binding`, its other inputs into `dataInputs`.
Status bindScalars(const nnc::Function &step, const std::string &planPath, StepBinding &binding,
                   std::vector<nnc::TensorSlice> &dataInputs) {
  const std::string where = planPath + ": function '" + step.name() + "' input ";
  bool hasRate = false;
  for (const nnc::TensorSlice &input : step.inputs()) {
    const std::string &name = input.name();
    if (name == kStepInput) {
      if (!isScalar(input, nnc::F32))
        return Status::error(where + describe(input) + " should be one f32 (the step number)");
      binding.stepNumber = input;
    } else if (name == kRngKeyInput) {
      if (!isScalar(input, nnc::I64))
        return Status::error(where + describe(input) + " should be one i64 (the random seed)");
      binding.rngKey = input;
    } else if (name == kLearningRateInput) {
      if (!isScalar(input, nnc::F32))
        return Status::error(where + describe(input) + " should be one f32 (the learning rate)");
      binding.learningRate = input;
      hasRate = true;
    } else {
      dataInputs.push_back(input);
    }
  }
  if (!hasRate && !binding.apply)
    return Status::error(planPath + ": function '" + step.name() + "' has no input '" +
                         std::string(kLearningRateInput) + "'");
  return Status();
}

} // namespace

uint64_t rankRngKey(uint64_t seed, int rank) {
  return seed + static_cast<uint64_t>(rank) * 0x9E3779B97F4A7C15ull;
}

nnc::StatusOr<StepBinding> bindStep(const nnc::Plan &plan, const std::string &planPath,
                                    std::vector<nnc::TensorSlice> &dataInputs) {
  const nnc::Function *step = findFunction(plan, "train_step");
  const nnc::Function *apply = findFunction(plan, "apply_step");
  StepBinding binding;
  if (!step) {
    step = findFunction(plan, "accumulate_step");
    if (!step)
      return Status::error(planPath + ": the plan has no function 'train_step'");
    if (!apply)
      return Status::error(planPath + ": the plan has an accumulate_step but no apply_step");
    nnc::StatusOr<ApplyBinding> update = bindApply(plan, *apply, planPath);
    if (!update.ok())
      return update.status();
    binding.apply = *update;
  }
  binding.function = step->name();
  if (Status s = bindScalars(*step, planPath, binding, dataInputs); !s.ok())
    return s;
  const std::string function = "function '" + step->name() + "'";
  if (step->outputs_size() == 0)
    return Status::error(planPath + ": " + function + " has no outputs (the loss comes first)");
  if (!isScalar(step->outputs(0), nnc::F32))
    return Status::error(planPath + ": " + function + " output " + describe(step->outputs(0)) +
                         " should be one f32 (the loss)");
  binding.loss = step->outputs(0);
  binding.gradNorm = findGradNorm(binding.apply ? *apply : *step);
  binding.lossScale = findLossScale(plan);
  binding.updateSkipped = findUpdateGuard(plan);
  binding.probe = findNonfiniteProbe(plan);
  return binding;
}

namespace {
/// Tensor parallelism: the T ranks of one replica see the same batches and dropout masks. A
/// group that spans the tensor ranks (the whole job of a plan without pipeline stages, where
/// rank d*T + t holds part t of replica d) has T ranks per replica; the executor's data group
/// (a pipeline stage's replicas) has one.
int tensorRanksIn(const Executor &executor, const Communicator *group) {
  if (group == executor.communicator())
    return 1;
  return std::max<int>(1, int(executor.plan().training().tensor_parallel()));
}
} // namespace

StepRunner::StepRunner(Executor &executor, uint64_t seed, Communicator *group)
    : executor_(executor), group_(group),
      rank_(group ? group->rank() / tensorRanksIn(executor, group) : 0),
      ranks_(group ? std::max(1, group->size() / tensorRanksIn(executor, group)) : 1),
      rngKey_(rankRngKey(seed, rank_)) {}

bool StepRunner::writesFiles() const {
  return (!group_ || group_->rank() == 0) && executor_.tensorPart() == 0;
}

Status StepRunner::write(std::string_view function, const nnc::TensorSlice &slice,
                         const HostTensor &value) {
  if (Status s = executor_.write(slice, value); !s.ok())
    return Status::error("function '" + std::string(function) + "', input '" + slice.name() +
                         "': " + s.message());
  return Status();
}

nnc::StatusOr<HostTensor> StepRunner::read(std::string_view function,
                                           const nnc::TensorSlice &slice) {
  nnc::StatusOr<HostTensor> value = executor_.read(slice);
  if (!value.ok())
    return Status::error("function '" + std::string(function) + "', output '" + slice.name() +
                         "': " + value.status().message());
  return value;
}

Status StepRunner::writeStepScalars(std::string_view function,
                                    const std::optional<nnc::TensorSlice> &stepNumber,
                                    const std::optional<nnc::TensorSlice> &rngKey,
                                    int64_t number) {
  float value = static_cast<float>(number);
  if (stepNumber)
    if (Status s = write(function, *stepNumber, scalarFor(*stepNumber, &value)); !s.ok())
      return s;
  if (rngKey)
    return write(function, *rngKey, scalarFor(*rngKey, &rngKey_));
  return Status();
}

nnc::StatusOr<float> StepRunner::runMicroBatch(const StepBinding &binding,
                                               const MicroBatch &batch, float learningRate) {
  const std::string &function = binding.function;
  Status s = write(function, binding.features, *batch.features);
  if (s.ok())
    s = write(function, binding.labels, *batch.labels);
  if (s.ok() && !binding.apply)  // with accumulation the update takes the rate
    s = write(function, binding.learningRate, scalarFor(binding.learningRate, &learningRate));
  if (s.ok())
    s = writeStepScalars(function, binding.stepNumber, binding.rngKey, batch.number);
  if (s.ok())
    s = executor_.run(function);
  if (!s.ok())
    return s;
  nnc::StatusOr<HostTensor> loss = read(function, binding.loss);
  if (!loss.ok())
    return loss.status();
  return loss->toFloats()[0];
}

Status StepRunner::apply(const ApplyBinding &binding, float learningRate, int64_t update) {
  Status s = write("apply_step", binding.learningRate,
                   scalarFor(binding.learningRate, &learningRate));
  if (s.ok())
    s = writeStepScalars("apply_step", binding.stepNumber, std::nullopt, update);
  if (s.ok())
    s = executor_.run("apply_step");
  return s;
}

Status StepRunner::reduceLoss(const std::string &what, float &loss, bool &stop) {
  return reduceLossAndStop(group_, what, loss, stop);
}

nnc::StatusOr<bool> StepRunner::updateSkipped(const StepBinding &binding) {
  if (!binding.updateSkipped)
    return false;
  return updateWasSkipped(executor_, *binding.updateSkipped);
}

nnc::StatusOr<std::optional<RankedOrigin>>
StepRunner::locateNonfinite(const StepBinding &binding, const std::vector<MicroBatch> &fed) {
  if (!binding.probe)
    return std::optional<RankedOrigin>();
  std::optional<RankedOrigin> origin;
  HostTensor number(nnc::F32, {}), key(nnc::I64, {});
  std::memcpy(key.data.data(), &rngKey_, sizeof rngKey_);  // as runMicroBatch keyed dropout
  for (const MicroBatch &batch : fed) {
    float value = static_cast<float>(batch.number);
    std::memcpy(number.data.data(), &value, sizeof value);
    auto input = [&](const std::string &name) -> const HostTensor * {
      if (name == binding.features.name())
        return batch.features;
      if (name == binding.labels.name())
        return batch.labels;
      if (name == kStepInput)
        return &number;
      return name == kRngKeyInput ? &key : nullptr;
    };
    nnc::StatusOr<std::optional<NonfiniteOrigin>> found =
        nnrt::locateNonfinite(executor_, *binding.probe, input);
    if (!found.ok())
      return found.status();
    if (*found) {
      origin = RankedOrigin{**found, batch.number, rank_};
      break;
    }
  }
  // Every rank looked at its own rows: agree on the earliest.
  return earliestOverRanks(group_, *binding.probe, origin);
}

} // namespace nnrt::trainer
