// The training loop. Binding, in order:
//   1. the plan's step, its per-step scalars and its loss (bindStep);
//   2. the two other inputs are features and labels: predict's input names decide, else the
//      files' types (see TrainLoop.h);
//   3. each file is N whole batches of its input, the same N for both.
// Training then takes batch i mod N (of rank r: the r-th of each step's R) and its labels, and
// hands them to the step runner, which feeds them with the learning rate and runs the step.
#include "runtime/trainer/TrainLoop.h"

#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/collective/Communicator.h"

#include <algorithm>
#include <cstring>

namespace nnrt {

using nnc::Status;
using trainer::MicroBatch;
using trainer::StepBinding;
using trainer::StepRunner;

namespace {

std::string describe(const nnc::TensorSlice &tensor) {
  return "'" + tensor.name() + "' " + formatShape(shapeOf(tensor.type())) + " " +
         formatDType(tensor.type().dtype());
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

/// Exactly two data inputs, each with a batch dimension.
Status checkDataInputs(const std::vector<nnc::TensorSlice> &inputs, const std::string &where) {
  if (inputs.size() != 2) {
    std::string names;
    for (const nnc::TensorSlice &input : inputs)
      names += (names.empty() ? "" : ", ") + describe(input);
    return Status::error(where + " has " + std::to_string(inputs.size()) + " inputs besides " +
                         kLearningRateInput + ", " + kStepInput + " and " + kRngKeyInput + " (" +
                         (names.empty() ? "none" : names) +
                         "); --train feeds two, features and labels");
  }
  for (const nnc::TensorSlice &input : inputs)
    if (input.type().shape_size() == 0 || input.type().shape(0) <= 0)
      return Status::error(where + " input " + describe(input) + " has no batch dimension");
  return Status();
}

/// 0 or 1: which of the two data inputs is predict's, when exactly one is; else -1.
int featuresByPredict(const nnc::Plan &plan, const std::vector<nnc::TensorSlice> &inputs) {
  const nnc::Function *predict = findFunction(plan, "predict");
  if (!predict)
    return -1;
  auto namedInPredict = [&](const nnc::TensorSlice &input) {
    for (const nnc::TensorSlice &p : predict->inputs())
      if (p.name() == input.name())
        return true;
    return false;
  };
  if (namedInPredict(inputs[0]) == namedInPredict(inputs[1]))
    return -1;
  return namedInPredict(inputs[0]) ? 0 : 1;
}

/// 0 or 1: which of the two data inputs the features file fits, given how the files fit them.
nnc::StatusOr<int> featuresByFiles(const std::vector<nnc::TensorSlice> &inputs,
                                   const TrainData &data, const std::string &planPath) {
  const nnc::TensorSlice &first = inputs[0], &second = inputs[1];
  const HostTensor &x = data.features, &y = data.labels;
  bool firstIsFeatures = fits(x, first) && fits(y, second);
  bool secondIsFeatures = fits(x, second) && fits(y, first);
  if (firstIsFeatures && secondIsFeatures)
    return Status::error(planPath + ": cannot tell which train_step input takes the features: " +
                         describe(first) + " and " + describe(second) +
                         " both fit both files, and no predict input is named like one of them");
  if (firstIsFeatures || secondIsFeatures)
    return firstIsFeatures ? 0 : 1;
  // The features can only be the input they fit; the labels then misfit the other one.
  if (fits(x, first) != fits(x, second))
    return fits(x, first) ? 0 : 1;
  bool featuresFitNeither = !fits(x, first);
  return Status::error((featuresFitNeither ? data.featuresPath : data.labelsPath) + ": " +
                       (featuresFitNeither ? x : y).describe() +
                       " is neither train_step input stacked along axis 0 (" + describe(first) +
                       ", " + describe(second) + ")");
}

/// Both files fit their inputs and hold the same number of whole batches.
Status checkBatches(const StepBinding &binding, const TrainData &data) {
  if (!fits(data.features, binding.features))
    return misfit(data.featuresPath, data.features, binding.features);
  if (!fits(data.labels, binding.labels))
    return misfit(data.labelsPath, data.labels, binding.labels);
  nnc::StatusOr<int64_t> featureBatches =
      countBatches(data.featuresPath, data.features, binding.features);
  if (!featureBatches.ok())
    return featureBatches.status();
  nnc::StatusOr<int64_t> labelBatches = countBatches(data.labelsPath, data.labels, binding.labels);
  if (!labelBatches.ok())
    return labelBatches.status();
  if (*featureBatches != *labelBatches)
    return Status::error(data.labelsPath + ": holds " + std::to_string(*labelBatches) +
                         " batches of train_step input " + describe(binding.labels) + " but " +
                         data.featuresPath + " holds " + std::to_string(*featureBatches));
  return Status();
}

/// One update's micro-batches, as the files give them to this rank: micro-batch number n
/// (1-based over the run) is batch ((n - 1) * ranks + rank) mod N.
class Batches {
public:
  Batches(const StepBinding &binding, const TrainData &data, const StepRunner &runner)
      : data_(data), runner_(runner), count_(batchCount(binding, data)),
        featureShape_(binding.features.type()), labelShape_(binding.labels.type()) {}

  /// The micro-batches of update `update` (0-based), `micro` of them.
  std::vector<std::pair<HostTensor, HostTensor>> ofUpdate(int64_t update, int64_t micro) const {
    std::vector<std::pair<HostTensor, HostTensor>> batches;
    for (int64_t j = 0; j < micro; ++j) {
      int64_t index = update * micro + j;  // BatchOrder::Sequential
      int64_t batch = (index * runner_.ranks() + runner_.rank()) % count_;
      batches.emplace_back(take(data_.features, featureShape_, batch),
                           take(data_.labels, labelShape_, batch));
    }
    return batches;
  }

private:
  static HostTensor take(const HostTensor &file, const nnc::TensorType &type, int64_t index) {
    HostTensor batch(type.dtype(), shapeOf(type));
    if (!batch.data.empty())
      std::memcpy(batch.data.data(), file.data.data() + index * batch.data.size(),
                  batch.data.size());
    return batch;
  }

  const TrainData &data_;
  const StepRunner &runner_;
  int64_t count_;
  nnc::TensorType featureShape_, labelShape_;
};

/// The micro-batches as the runner takes them; micro-batch j of update i is number i*k + j + 1.
std::vector<MicroBatch> numbered(const std::vector<std::pair<HostTensor, HostTensor>> &batches,
                                 int64_t update) {
  std::vector<MicroBatch> fed;
  int64_t micro = static_cast<int64_t>(batches.size());
  for (int64_t j = 0; j < micro; ++j)
    fed.push_back({&batches[j].first, &batches[j].second, update * micro + j + 1});
  return fed;
}

/// Update `i`: its micro-batches through the step, then apply_step when the plan accumulates.
/// Returns the mean of the micro-batches' losses (this rank's).
nnc::StatusOr<float> runUpdate(StepRunner &runner, const StepBinding &binding,
                               const std::vector<MicroBatch> &fed, float learningRate,
                               int64_t i) {
  float lossSum = 0;
  for (const MicroBatch &batch : fed) {
    nnc::StatusOr<float> loss = runner.runMicroBatch(binding, batch, learningRate);
    if (!loss.ok())
      return loss.status();
    lossSum += *loss;
  }
  if (binding.apply)
    if (Status s = runner.apply(*binding.apply, learningRate, i + 1); !s.ok())
      return s;
  return lossSum / static_cast<float>(fed.size());
}

/// "non-finite value at step 3: first in node 'root' (forward)", for skipped update `i`.
nnc::StatusOr<std::string> explainSkip(StepRunner &runner, const StepBinding &binding,
                                       const std::vector<MicroBatch> &fed, int64_t i) {
  nnc::StatusOr<std::optional<RankedOrigin>> origin = runner.locateNonfinite(binding, fed);
  if (!origin.ok())
    return origin.status();
  std::string message = "non-finite value at step " + std::to_string(i) + ": ";
  if (!*origin)
    return message + "every value of the forward and backward pass was finite (the gradient "
                     "norm or the accumulated gradients overflowed)";
  int64_t micro = binding.microBatches();
  int64_t withinUpdate = (*origin)->step - i * micro;  // 1-based
  return message + "first in " + (*origin)->origin.describe() +
         (micro > 1 ? " (micro-batch " + std::to_string(withinUpdate) + ")" : "") +
         (runner.ranks() > 1 ? " on rank " + std::to_string((*origin)->rank) : "");
}

/// After update `i`: a skipped update stops the loop (or, with skipNonFinite, is reported), and
/// an fp16 plan's loss scale is read.
Status checkUpdate(Executor &executor, StepRunner &runner, const StepBinding &binding,
                   const std::vector<MicroBatch> &fed, const TrainOptions &options, int64_t i) {
  nnc::StatusOr<bool> skipped = runner.updateSkipped(binding);
  if (!skipped.ok())
    return skipped.status();
  if (*skipped) {
    nnc::StatusOr<std::string> message = explainSkip(runner, binding, fed, i);
    if (!message.ok())
      return message.status();
    if (!options.skipNonFinite)
      return Status::error(*message + " (--skip-nonfinite skips such steps)");
    if (options.onSkipped)
      options.onSkipped(i, *message);
  }
  if (binding.lossScale) {
    nnc::StatusOr<LossScaleReading> reading = checkLossScale(executor, *binding.lossScale, i);
    if (!reading.ok())
      return reading.status();
    if (options.onLossScale)
      options.onLossScale(i, *reading);
  }
  return Status();
}

} // namespace

nnc::StatusOr<StepBinding> bindTrainStep(const nnc::Plan &plan, const std::string &planPath,
                                         const TrainData &data) {
  std::vector<nnc::TensorSlice> inputs;
  nnc::StatusOr<StepBinding> binding = trainer::bindStep(plan, planPath, inputs);
  if (!binding.ok())
    return binding.status();
  if (Status s = checkDataInputs(inputs, planPath + ": function '" + binding->function + "'");
      !s.ok())
    return s;
  int featuresIndex = featuresByPredict(plan, inputs);
  if (featuresIndex < 0) {
    nnc::StatusOr<int> byFiles = featuresByFiles(inputs, data, planPath);
    if (!byFiles.ok())
      return byFiles.status();
    featuresIndex = *byFiles;
  }
  binding->features = inputs[featuresIndex];
  binding->labels = inputs[1 - featuresIndex];
  if (Status s = checkBatches(*binding, data); !s.ok())
    return s;
  return binding;
}

int64_t batchCount(const StepBinding &binding, const TrainData &data) {
  int64_t rows = binding.features.type().shape_size() ? binding.features.type().shape(0) : 0;
  return rows > 0 && !data.features.shape.empty() ? data.features.shape[0] / rows : 0;
}

Status train(Executor &executor, const StepBinding &binding, const TrainData &data,
             const TrainOptions &options,
             const std::function<void(int64_t step, float loss)> &onStep) {
  // A binding made for other data would read past the files' ends.
  int64_t count = batchCount(binding, data);
  auto holds = [&](const HostTensor &file, const nnc::TensorSlice &input) {
    return file.data.size() ==
           static_cast<size_t>(count * byteSize(input.type().dtype(), shapeOf(input.type())));
  };
  if (count < 1 || !holds(data.features, binding.features) || !holds(data.labels, binding.labels))
    return Status::error("the training data does not match its train_step binding");
  StepRunner runner(executor, options.seed, options.group);
  Batches batches(binding, data, runner);
  for (int64_t i = 0; i < options.steps; ++i) {
    std::vector<std::pair<HostTensor, HostTensor>> update =
        batches.ofUpdate(i, binding.microBatches());
    std::vector<MicroBatch> fed = numbered(update, i);
    nnc::StatusOr<float> loss = runUpdate(runner, binding, fed, options.learningRate, i);
    if (!loss.ok())
      return loss.status();
    bool stop = false;
    float reported = *loss;
    if (Status s = runner.reduceLoss("the loss of step " + std::to_string(i), reported, stop);
        !s.ok())
      return s;
    onStep(i, reported);
    if (Status s = checkUpdate(executor, runner, binding, fed, options, i); !s.ok())
      return s;
    if (stop)
      return Status::error("interrupted after step " + std::to_string(i + 1) + " of " +
                           std::to_string(options.steps) + " (--train keeps no checkpoint)");
  }
  return Status();
}

} // namespace nnrt
