// The training loop. Binding, in order:
//   1. find train_step, its nnc.learning_rate input (one f32) and its loss (output 0, one f32);
//   2. the two other inputs are features and labels: predict's input names decide, else the
//      files' types (see TrainLoop.h);
//   3. each file is N whole batches of its input, the same N for both.
// Training then writes batch i mod N, its labels and the learning rate, runs the step and reads
// the loss, every step.
#include "runtime/TrainLoop.h"

#include "runtime/Executor.h"
#include "runtime/collective/Communicator.h"
#include "runtime/trainer/StopSignals.h"

#include <algorithm>
#include <cstring>

namespace nnrt {

using nnc::Status;

namespace {

std::string describe(const nnc::TensorSlice &tensor) {
  return "'" + tensor.name() + "' " + formatShape(shapeOf(tensor.type())) + " " +
         formatDType(tensor.type().dtype());
}

bool isOneFloat(const nnc::TensorSlice &tensor) {
  return tensor.type().dtype() == nnc::F32 && numElements(shapeOf(tensor.type())) == 1;
}

/// `file` has `input`'s dtype and rank and the same dimensions after the first.
bool fits(const HostTensor &file, const nnc::TensorSlice &input) {
  Shape shape = shapeOf(input.type());
  return file.dtype == input.type().dtype() && file.shape.size() == shape.size() &&
         !shape.empty() && std::equal(shape.begin() + 1, shape.end(), file.shape.begin() + 1);
}

/// "<path>: expected [N*4,8] f32 (batches of train_step input 'x' [4,8] f32 stacked along axis
/// 0), got [10,3] f32".
Status misfit(const std::string &path, const HostTensor &file, const nnc::TensorSlice &input) {
  Shape shape = shapeOf(input.type());
  std::string stacked = formatShape(shape);
  if (!shape.empty())
    stacked.insert(1, "N*");
  return Status::error(path + ": expected " + stacked + " " + formatDType(input.type().dtype()) +
                       " (batches of train_step input " + describe(input) +
                       " stacked along axis 0), got " + file.describe());
}

/// How many whole batches of `input` `file` holds (it fits `input`), or an error naming `path`.
nnc::StatusOr<int64_t> countBatches(const std::string &path, const HostTensor &file,
                                    const nnc::TensorSlice &input) {
  int64_t batch = input.type().shape(0), rows = file.shape[0];
  if (rows == 0)
    return Status::error(path + ": holds no batch (0 rows)");
  if (rows % batch != 0)
    return Status::error(path + ": " + std::to_string(rows) +
                         " rows are not a whole number of batches of " + std::to_string(batch) +
                         " (train_step input " + describe(input) + ")");
  return rows / batch;
}

/// "non-finite value at step 3: first in node 'root' (forward)": find_nonfinite run on the
/// micro-batches of update `step`, fed as train() fed them, until one shows where it started.
nnc::StatusOr<std::string> explainSkip(Executor &executor, const TrainBinding &binding,
                                       const TrainData &data, const TrainOptions &options,
                                       int64_t step) {
  std::string message = "non-finite value at step " + std::to_string(step) + ": ";
  int64_t micro = binding.apply ? binding.apply->steps : 1;
  int64_t rank = options.group ? options.group->rank() : 0;
  int64_t ranks = options.group ? options.group->size() : 1;
  HostTensor features(binding.features.type().dtype(), shapeOf(binding.features.type()));
  HostTensor labels(binding.labels.type().dtype(), shapeOf(binding.labels.type()));
  HostTensor number(nnc::F32, {}), key(nnc::I64, {});
  int64_t rankKey =
      static_cast<int64_t>(options.seed + static_cast<uint64_t>(rank) * 0x9E3779B97F4A7C15ull);
  std::memcpy(key.data.data(), &rankKey, sizeof rankKey);
  std::optional<RankedOrigin> origin;  // step: the micro-batch within the update
  for (int64_t j = 0; binding.probe && j < micro; ++j) {
    int64_t index = step * micro + j;
    int64_t batch = (index * ranks + rank) % binding.batches;
    std::memcpy(features.data.data(), data.features.data.data() + batch * features.data.size(),
                features.data.size());
    std::memcpy(labels.data.data(), data.labels.data.data() + batch * labels.data.size(),
                labels.data.size());
    float n = static_cast<float>(index + 1);
    std::memcpy(number.data.data(), &n, sizeof n);
    auto input = [&](const std::string &name) -> const HostTensor * {
      if (name == binding.features.name())
        return &features;
      if (name == binding.labels.name())
        return &labels;
      if (name == kStepInput)
        return &number;
      return name == kRngKeyInput ? &key : nullptr;
    };
    nnc::StatusOr<std::optional<NonfiniteOrigin>> found =
        locateNonfinite(executor, *binding.probe, input);
    if (!found.ok())
      return found.status();
    if (*found) {
      origin = RankedOrigin{**found, j, int(rank)};
      break;
    }
  }
  if (binding.probe) {  // every rank looked at its own rows: agree on the earliest
    nnc::StatusOr<std::optional<RankedOrigin>> earliest =
        earliestOverRanks(options.group, *binding.probe, origin);
    if (!earliest.ok())
      return earliest.status();
    origin = *earliest;
  }
  if (!origin)
    return message + "every value of the forward and backward pass was finite (the gradient "
                     "norm or the accumulated gradients overflowed)";
  return message + "first in " + origin->origin.describe() +
         (micro > 1 ? " (micro-batch " + std::to_string(origin->step + 1) + ")" : "") +
         (ranks > 1 ? " on rank " + std::to_string(origin->rank) : "");
}

} // namespace

nnc::StatusOr<TrainBinding> bindTrainStep(const nnc::Plan &plan, const std::string &planPath,
                                          const TrainData &data) {
  const nnc::Function *step = nullptr, *predict = nullptr, *apply = nullptr;
  for (const nnc::Function &function : plan.functions()) {
    if (function.name() == "train_step" || function.name() == "accumulate_step")
      step = &function;
    if (function.name() == "apply_step")
      apply = &function;
    if (function.name() == "predict")
      predict = &function;
  }
  auto planError = [&](const std::string &problem) {
    return Status::error(planPath + ": " + problem);
  };
  if (!step)
    return planError("the plan has no function 'train_step'");
  TrainBinding binding;
  binding.stepFunction = step->name();
  const std::string function = "function '" + step->name() + "'";

  // 0. With gradient accumulation, the update's own inputs.
  if (step->name() == "accumulate_step") {
    if (!apply)
      return planError("the plan has an accumulate_step but no apply_step");
    ApplyBinding update;
    update.steps = std::max<int64_t>(plan.training().accumulation_steps(), 1);
    bool hasRate = false;
    for (const nnc::TensorSlice &input : apply->inputs()) {
      if (!isOneFloat(input))
        return planError("function 'apply_step' input " + describe(input) + " should be one f32");
      if (input.name() == kLearningRateInput) {
        update.learningRate = input;
        hasRate = true;
      } else if (input.name() == kStepInput) {
        update.stepNumber = input;
      } else {
        return planError("function 'apply_step' has an unexpected input " + describe(input));
      }
    }
    if (!hasRate)
      return planError("function 'apply_step' has no input '" +
                       std::string(kLearningRateInput) + "'");
    binding.apply = update;
  }

  // 1. The learning rate and the loss.
  std::vector<const nnc::TensorSlice *> candidates;
  bool hasLearningRate = false;
  for (const nnc::TensorSlice &input : step->inputs()) {
    if (input.name() == kStepInput) {
      if (!isOneFloat(input))
        return planError(function + " input " + describe(input) +
                         " should be one f32 (the step number)");
      binding.stepNumber = input;
      continue;
    }
    if (input.name() == kRngKeyInput) {
      if (input.type().dtype() != nnc::I64 || numElements(shapeOf(input.type())) != 1)
        return planError(function + " input " + describe(input) +
                         " should be one i64 (the random seed)");
      binding.rngKey = input;
      continue;
    }
    if (input.name() != kLearningRateInput) {
      candidates.push_back(&input);
      continue;
    }
    if (!isOneFloat(input))
      return planError(function + " input " + describe(input) +
                       " should be one f32 (the learning rate)");
    binding.learningRate = input;
    hasLearningRate = true;
  }
  if (!hasLearningRate && !binding.apply)
    return planError(function + " has no input '" + std::string(kLearningRateInput) + "'");
  if (step->outputs_size() == 0)
    return planError(function + " has no outputs (the loss comes first)");
  if (!isOneFloat(step->outputs(0)))
    return planError(function + " output " + describe(step->outputs(0)) +
                     " should be one f32 (the loss)");
  binding.loss = step->outputs(0);

  // 2. Features and labels.
  if (candidates.size() != 2) {
    std::string names;
    for (const nnc::TensorSlice *input : candidates)
      names += (names.empty() ? "" : ", ") + describe(*input);
    return planError(function + " has " + std::to_string(candidates.size()) +
                     " inputs besides " + kLearningRateInput + ", " + kStepInput + " and " +
                     kRngKeyInput + " (" +
                     (names.empty() ? "none" : names) + "); --train feeds two, features and labels");
  }
  for (const nnc::TensorSlice *input : candidates)
    if (input->type().shape_size() == 0 || input->type().shape(0) <= 0)
      return planError(function + " input " + describe(*input) +
                       " has no batch dimension");
  const nnc::TensorSlice &first = *candidates[0], &second = *candidates[1];
  int featuresIndex = -1;
  if (predict) {
    auto namedInPredict = [&](const nnc::TensorSlice &input) {
      for (const nnc::TensorSlice &p : predict->inputs())
        if (p.name() == input.name())
          return true;
      return false;
    };
    if (namedInPredict(first) != namedInPredict(second))
      featuresIndex = namedInPredict(first) ? 0 : 1;
  }
  const HostTensor &x = data.features, &y = data.labels;
  if (featuresIndex < 0) {
    bool firstIsFeatures = fits(x, first) && fits(y, second);
    bool secondIsFeatures = fits(x, second) && fits(y, first);
    if (firstIsFeatures && secondIsFeatures)
      return planError("cannot tell which train_step input takes the features: " +
                       describe(first) + " and " + describe(second) +
                       " both fit both files, and no predict input is named like one of them");
    if (firstIsFeatures || secondIsFeatures) {
      featuresIndex = firstIsFeatures ? 0 : 1;
    } else if (!fits(x, first) && !fits(x, second)) {
      return Status::error(data.featuresPath + ": " + x.describe() +
                           " is neither train_step input stacked along axis 0 (" +
                           describe(first) + ", " + describe(second) + ")");
    } else if (fits(x, first) != fits(x, second)) {
      // The features can only be the input they fit; the labels then misfit the other one.
      featuresIndex = fits(x, first) ? 0 : 1;
    } else {
      return Status::error(data.labelsPath + ": " + y.describe() +
                           " is neither train_step input stacked along axis 0 (" +
                           describe(first) + ", " + describe(second) + ")");
    }
  }
  binding.features = *candidates[featuresIndex];
  binding.labels = *candidates[1 - featuresIndex];

  // 3. Whole batches, as many of each.
  if (!fits(x, binding.features))
    return misfit(data.featuresPath, x, binding.features);
  if (!fits(y, binding.labels))
    return misfit(data.labelsPath, y, binding.labels);
  nnc::StatusOr<int64_t> featureBatches = countBatches(data.featuresPath, x, binding.features);
  if (!featureBatches.ok())
    return featureBatches.status();
  nnc::StatusOr<int64_t> labelBatches = countBatches(data.labelsPath, y, binding.labels);
  if (!labelBatches.ok())
    return labelBatches.status();
  if (*featureBatches != *labelBatches)
    return Status::error(data.labelsPath + ": holds " + std::to_string(*labelBatches) +
                         " batches of train_step input " + describe(binding.labels) + " but " +
                         data.featuresPath + " holds " + std::to_string(*featureBatches));
  binding.batches = *featureBatches;
  binding.lossScale = findLossScale(plan);
  binding.updateSkipped = findUpdateGuard(plan);
  binding.probe = findNonfiniteProbe(plan);
  return binding;
}

Status train(Executor &executor, const TrainBinding &binding, const TrainData &data,
             const TrainOptions &options,
             const std::function<void(int64_t step, float loss)> &onStep) {
  HostTensor features(binding.features.type().dtype(), shapeOf(binding.features.type()));
  HostTensor labels(binding.labels.type().dtype(), shapeOf(binding.labels.type()));
  // A binding made for other data would read past the files' ends.
  auto holds = [&](const HostTensor &file, const HostTensor &batch) {
    return file.data.size() == static_cast<size_t>(binding.batches) * batch.data.size();
  };
  if (binding.batches < 1 || !holds(data.features, features) || !holds(data.labels, labels))
    return Status::error("the training data does not match its train_step binding");
  auto take = [](const HostTensor &file, int64_t index, HostTensor &batch) {
    if (!batch.data.empty())
      std::memcpy(batch.data.data(), file.data.data() + index * batch.data.size(),
                  batch.data.size());
  };
  auto scalar = [](const nnc::TensorSlice &slice, nnc::DType dtype, const void *value) {
    HostTensor tensor(dtype, shapeOf(slice.type()));
    std::memcpy(tensor.data.data(), value, tensor.data.size());
    return tensor;
  };
  auto write = [&](const std::string &function, const nnc::TensorSlice &slice,
                   const HostTensor &value) {
    if (Status s = executor.write(slice, value); !s.ok())
      return Status::error("function '" + function + "', input '" + slice.name() + "': " +
                           s.message());
    return Status();
  };
  const std::string &stepFunction = binding.stepFunction;
  int64_t micro = binding.apply ? binding.apply->steps : 1;  // micro-batches per update
  int64_t rank = options.group ? options.group->rank() : 0;
  int64_t ranks = options.group ? options.group->size() : 1;
  // Golden-ratio spacing keeps the ranks' dropout streams apart.
  int64_t key =
      static_cast<int64_t>(options.seed + static_cast<uint64_t>(rank) * 0x9E3779B97F4A7C15ull);
  for (int64_t i = 0; i < options.steps; ++i) {
    float lossSum = 0;
    for (int64_t j = 0; j < micro; ++j) {
      int64_t index = i * micro + j;  // the micro-batch's number: its data and dropout mask
      int64_t batch = (index * ranks + rank) % binding.batches;  // BatchOrder::Sequential
      take(data.features, batch, features);
      take(data.labels, batch, labels);
      float number = static_cast<float>(index + 1);
      Status s = write(stepFunction, binding.features, features);
      if (s.ok())
        s = write(stepFunction, binding.labels, labels);
      if (s.ok() && !binding.apply)
        s = write(stepFunction, binding.learningRate,
                  scalar(binding.learningRate, nnc::F32, &options.learningRate));
      if (s.ok() && binding.stepNumber)
        s = write(stepFunction, *binding.stepNumber, scalar(*binding.stepNumber, nnc::F32, &number));
      if (s.ok() && binding.rngKey)
        s = write(stepFunction, *binding.rngKey, scalar(*binding.rngKey, nnc::I64, &key));
      if (s.ok())
        s = executor.run(stepFunction);
      if (!s.ok())
        return s;
      nnc::StatusOr<HostTensor> loss = executor.read(binding.loss);
      if (!loss.ok())
        return Status::error("function '" + stepFunction + "', output '" + binding.loss.name() +
                             "': " + loss.status().message());
      lossSum += loss->toFloats()[0];
    }
    if (binding.apply) {
      const ApplyBinding &apply = *binding.apply;
      float number = static_cast<float>(i + 1);
      Status s = write("apply_step", apply.learningRate,
                       scalar(apply.learningRate, nnc::F32, &options.learningRate));
      if (s.ok() && apply.stepNumber)
        s = write("apply_step", *apply.stepNumber, scalar(*apply.stepNumber, nnc::F32, &number));
      if (s.ok())
        s = executor.run("apply_step");
      if (!s.ok())
        return s;
    }
    float loss = lossSum / static_cast<float>(micro);
    bool stop = false;
    if (Status s = trainer::reduceLossAndStop(options.group, "the loss of step " +
                                                                 std::to_string(i), loss, stop);
        !s.ok())
      return s;
    onStep(i, loss);
    if (binding.updateSkipped) {
      nnc::StatusOr<bool> skipped = updateWasSkipped(executor, *binding.updateSkipped);
      if (!skipped.ok())
        return skipped.status();
      if (*skipped) {
        nnc::StatusOr<std::string> message = explainSkip(executor, binding, data, options, i);
        if (!message.ok())
          return message.status();
        if (!options.skipNonFinite)
          return Status::error(*message + " (--skip-nonfinite skips such steps)");
        if (options.onSkipped)
          options.onSkipped(i, *message);
      }
    }
    if (binding.lossScale) {
      nnc::StatusOr<LossScaleReading> reading = checkLossScale(executor, *binding.lossScale, i);
      if (!reading.ok())
        return reading.status();
      if (options.onLossScale)
        options.onLossScale(i, *reading);
    }
    if (stop)
      return Status::error("interrupted after step " + std::to_string(i + 1) + " of " +
                           std::to_string(options.steps) + " (--train keeps no checkpoint)");
  }
  return Status();
}

} // namespace nnrt
