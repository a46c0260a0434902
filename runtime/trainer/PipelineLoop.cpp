// The pipeline loop (see PipelineLoop.h). Per update, the stage walks its actions: a forward slot
// runs forward_step on micro-batch j's input and keeps that input on the host (the backward slot
// recomputes the forward from it); a backward slot runs accumulate_step on it with the labels or
// the gradient the next stage sent; the update runs apply_step. Sends return at once (the
// communicator copies the bytes), so neighbours never wait on each other's sends.
#include "runtime/trainer/PipelineLoop.h"

#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/collective/Communicator.h"

#include <cstring>
#include <map>

namespace nnrt {

using nnc::Status;
using trainer::StepRunner;

namespace {

using TensorSlices = google::protobuf::RepeatedPtrField<nnc::TensorSlice>;

std::optional<nnc::TensorSlice> findTensor(const TensorSlices &tensors, const std::string &name) {
  for (const nnc::TensorSlice &tensor : tensors)
    if (tensor.name() == name)
      return tensor;
  return std::nullopt;
}

/// `file` holds batches of `input`: same dtype and rank, same dimensions after the first.
bool fits(const HostTensor &file, const nnc::TensorSlice &input) {
  Shape shape = shapeOf(input.type());
  return file.dtype == input.type().dtype() && file.shape.size() == shape.size() &&
         !shape.empty() && std::equal(shape.begin() + 1, shape.end(), file.shape.begin() + 1);
}

/// Rows [index * batch, (index + 1) * batch) of `file`.
HostTensor batchOf(const HostTensor &file, const nnc::TensorSlice &input, int64_t index) {
  HostTensor batch(input.type().dtype(), shapeOf(input.type()));
  std::memcpy(batch.data.data(), file.data.data() + index * batch.data.size(), batch.data.size());
  return batch;
}

/// accumulate_step: every input is a pipeline tensor, a per-step scalar, or a file's batch.
Status bindAccumulate(const nnc::Function &accumulate, const TrainData &data,
                      const std::string &where, PipelineBinding &b) {
  for (const nnc::TensorSlice &input : accumulate.inputs()) {
    const std::string &name = input.name();
    if (name == "nnc.pipe.in")
      b.pipeIn = input;
    else if (name == "nnc.pipe.grad_in")
      b.gradIn = input;
    else if (name == kStepInput)
      b.stepNumber = input;
    else if (name == kRngKeyInput)
      b.rngKey = input;
    else if (fits(data.features, input) && !fits(data.labels, input) && !b.features)
      b.features = input;
    else if (fits(data.labels, input) && !fits(data.features, input) && !b.labels)
      b.labels = input;
    else
      return Status::error(where + ": input '" + name + "' " +
                           formatShape(shapeOf(input.type())) +
                           " fits neither the features nor the labels file, or both");
  }
  auto loss = findTensor(accumulate.outputs(), "loss");
  if (!loss)
    return Status::error(where + ": accumulate_step has no output 'loss'");
  b.loss = *loss;
  b.gradOut = findTensor(accumulate.outputs(), "nnc.pipe.grad_out");
  bool first = b.stage == 0, last = b.stage + 1 == b.stages;
  if (first == b.gradOut.has_value() || first == b.pipeIn.has_value() ||
      last == b.gradIn.has_value())
    return Status::error(where + ": its pipeline inputs and outputs do not match its place");
  return Status();
}

/// forward_step takes the same inputs as accumulate_step's forward half.
Status bindForward(const nnc::Function &forward, const std::string &where, PipelineBinding &b) {
  b.forwardFeatures =
      b.features ? findTensor(forward.inputs(), b.features->name()) : std::nullopt;
  b.forwardPipeIn = findTensor(forward.inputs(), "nnc.pipe.in");
  b.forwardStepNumber = findTensor(forward.inputs(), kStepInput);
  b.forwardRngKey = findTensor(forward.inputs(), kRngKeyInput);
  b.pipeOut = findTensor(forward.outputs(), "nnc.pipe.out");
  if (!b.pipeOut)
    return Status::error(where + ": forward_step has no output 'nnc.pipe.out'");
  return Status();
}

/// Whole micro-batches, as many in both files (each stage checks the files it reads).
nnc::StatusOr<int64_t> countMicroBatches(const PipelineBinding &b, const TrainData &data) {
  int64_t batches = -1;
  for (auto [input, file, path] :
       {std::tuple{&b.features, &data.features, &data.featuresPath},
        std::tuple{&b.labels, &data.labels, &data.labelsPath}}) {
    if (!*input)
      continue;
    int64_t rows = (*input)->type().shape(0);
    if (file->shape.empty() || file->shape[0] == 0 || file->shape[0] % rows != 0)
      return Status::error(*path + ": " + file->describe() + " is not a whole number of " +
                           "micro-batches of " + std::to_string(rows) + " rows");
    int64_t n = file->shape[0] / rows;
    if (batches >= 0 && n != batches)
      return Status::error(*path + ": holds " + std::to_string(n) + " micro-batches, the " +
                           "features " + std::to_string(batches));
    batches = n;
  }
  return batches > 0 ? batches : 1;
}

/// One update of this rank's stage: its actions in order, each a method below.
class StageUpdate {
public:
  StageUpdate(StepRunner &runner, Communicator *group, const PipelineBinding &b,
              const TrainData &data, float learningRate, int64_t update)
      : runner_(runner), group_(group), b_(b), data_(data), learningRate_(learningRate),
        update_(update) {
    if (b.gradIn)
      gradient_ = HostTensor(b.gradIn->type().dtype(), shapeOf(b.gradIn->type()));
  }

  Status run(const nnc::PipelineAction &action) {
    int64_t j = action.micro_batch();
    int64_t index = update_ * b_.microBatches + j;  // the micro-batch's number: dropout, data
    int peer = int(action.peer());
    switch (action.kind()) {
    case nnc::PipelineAction::RECV_ACTIVATION:
      return receiveActivation(peer, j);
    case nnc::PipelineAction::FORWARD:
      return forward(j, index);
    case nnc::PipelineAction::SEND_ACTIVATION:
      return send(peer, "activation", j);
    case nnc::PipelineAction::RECV_GRADIENT:
      return group_->recv(peer, tag("gradient", j), gradient_.data.data(),
                          int64_t(gradient_.data.size()));
    case nnc::PipelineAction::BACKWARD:
      return backward(j, index);
    case nnc::PipelineAction::SEND_GRADIENT:
      return send(peer, "gradient", j);
    case nnc::PipelineAction::APPLY:
      return runner_.apply(b_.apply, learningRate_, update_ + 1);
    default:
      return Status::error("pipeline action of unknown kind " + std::to_string(action.kind()));
    }
  }

  /// The last stage's mean loss over the update's micro-batches; 0 on the others.
  double loss() const {
    return b_.stage + 1 == b_.stages ? lossSum_ / double(b_.microBatches) : 0.0;
  }

private:
  /// The files' batch of micro-batch `index` on this data rank: the replicas take turns, as
  /// data-parallel accumulation does (batch index * D + d).
  int64_t fileBatch(int64_t index) const {
    return (index * runner_.ranks() + runner_.rank()) % b_.batches;
  }

  std::string tag(const char *what, int64_t micro) const {
    return std::string(what) + " of micro-batch " + std::to_string(micro) + " (update " +
           std::to_string(update_ + 1) + ")";
  }

  Status receiveActivation(int peer, int64_t j) {
    HostTensor in(b_.pipeIn->type().dtype(), shapeOf(b_.pipeIn->type()));
    Status s = group_->recv(peer, tag("activation", j), in.data.data(), int64_t(in.data.size()));
    inputs_[j] = std::move(in);
    return s;
  }

  Status send(int peer, const char *what, int64_t j) {
    return group_->send(peer, tag(what, j), outgoing_.data.data(),
                        int64_t(outgoing_.data.size()));
  }

  Status forward(int64_t j, int64_t index) {
    const char *function = "forward_step";
    Status s;
    if (b_.forwardFeatures)
      s = runner_.write(function, *b_.forwardFeatures,
                        batchOf(data_.features, *b_.features, fileBatch(index)));
    if (s.ok() && b_.forwardPipeIn)
      s = runner_.write(function, *b_.forwardPipeIn, inputs_.at(j));
    if (s.ok())
      s = runner_.writeStepScalars(function, b_.forwardStepNumber, b_.forwardRngKey, index + 1);
    if (s.ok())
      s = runner_.executor().run(function);
    return s.ok() ? readInto(function, *b_.pipeOut, outgoing_) : s;
  }

  Status backward(int64_t j, int64_t index) {
    const char *function = "accumulate_step";
    int64_t file = fileBatch(index);
    Status s;
    if (b_.features)
      s = runner_.write(function, *b_.features, batchOf(data_.features, *b_.features, file));
    if (s.ok() && b_.labels)
      s = runner_.write(function, *b_.labels, batchOf(data_.labels, *b_.labels, file));
    if (s.ok() && b_.pipeIn) {
      s = runner_.write(function, *b_.pipeIn, inputs_.at(j));
      inputs_.erase(j);
    }
    if (s.ok() && b_.gradIn)
      s = runner_.write(function, *b_.gradIn, gradient_);
    if (s.ok())
      s = runner_.writeStepScalars(function, b_.stepNumber, b_.rngKey, index + 1);
    if (s.ok())
      s = runner_.executor().run(function);
    if (s.ok() && b_.stage + 1 == b_.stages) {
      nnc::StatusOr<HostTensor> loss = runner_.read(function, b_.loss);
      s = loss.status();
      if (s.ok())
        lossSum_ += loss->toFloats()[0];
    }
    if (s.ok() && b_.gradOut)
      s = readInto(function, *b_.gradOut, outgoing_);
    return s;
  }

  Status readInto(const char *function, const nnc::TensorSlice &slice, HostTensor &into) {
    nnc::StatusOr<HostTensor> value = runner_.read(function, slice);
    if (!value.ok())
      return value.status();
    into = std::move(*value);
    return Status();
  }

  StepRunner &runner_;
  Communicator *group_;
  const PipelineBinding &b_;
  const TrainData &data_;
  float learningRate_;
  int64_t update_;
  std::map<int64_t, HostTensor> inputs_;  // micro-batch -> the stage's input activation
  HostTensor outgoing_, gradient_;
  double lossSum_ = 0;
};

} // namespace

nnc::StatusOr<PipelineBinding> bindPipelineStage(const nnc::PipelineSchedule &pipeline, int stage,
                                                 const std::string &planPath,
                                                 const TrainData &data) {
  PipelineBinding b;
  b.stage = stage;
  b.stages = pipeline.stages_size();
  b.microBatches = pipeline.micro_batches();
  if (stage < 0 || stage >= b.stages)
    return Status::error(planPath + ": the plan has " + std::to_string(b.stages) +
                         " pipeline stages, no stage " + std::to_string(stage));
  const nnc::Plan &plan = pipeline.stages(stage).plan();
  b.actions.assign(pipeline.stages(stage).actions().begin(),
                   pipeline.stages(stage).actions().end());
  std::string where = planPath + ": pipeline stage " + std::to_string(stage);
  const nnc::Function *accumulate = findFunction(plan, "accumulate_step");
  const nnc::Function *apply = findFunction(plan, "apply_step");
  const nnc::Function *forward = findFunction(plan, "forward_step");
  if (!accumulate || !apply || (stage + 1 < b.stages && !forward))
    return Status::error(where + " lacks its accumulate_step, apply_step or forward_step");
  if (Status s = bindAccumulate(*accumulate, data, where, b); !s.ok())
    return s;
  if (forward)
    if (Status s = bindForward(*forward, where, b); !s.ok())
      return s;
  auto lr = findTensor(apply->inputs(), kLearningRateInput);
  if (!lr)
    return Status::error(where + ": apply_step has no input '" + kLearningRateInput + "'");
  b.apply.learningRate = *lr;
  b.apply.stepNumber = findTensor(apply->inputs(), kStepInput);
  b.apply.steps = b.microBatches;
  nnc::StatusOr<int64_t> batches = countMicroBatches(b, data);
  if (!batches.ok())
    return batches.status();
  b.batches = *batches;
  return b;
}

Status trainPipeline(Executor &executor, const PipelineBinding &b, const TrainData &data,
                     const TrainOptions &options, Communicator *dataGroup,
                     const std::function<void(int64_t step, float loss)> &onStep) {
  Communicator *group = options.group;
  if (b.stages > 1 && (!group || group->size() != b.stages))
    return Status::error("the plan has " + std::to_string(b.stages) +
                         " pipeline stages: run it with mpirun -np " +
                         std::to_string(b.stages));
  // The stages of a pipeline are one replica: the data rank (with the seed) keys dropout.
  StepRunner runner(executor, options.seed, dataGroup);
  for (int64_t i = 0; i < options.steps; ++i) {
    StageUpdate update(runner, group, b, data, options.learningRate, i);
    for (const nnc::PipelineAction &action : b.actions)
      if (Status s = update.run(action); !s.ok())
        return Status::error("pipeline stage " + std::to_string(b.stage) + ": " + s.message());
    // The last stage knows its replica's loss; every rank reports the mean over the replicas.
    double loss = update.loss();
    std::string what = "the loss of update " + std::to_string(i + 1);
    if (group && group->size() > 1)
      if (Status s = group->allReduceSum(what, &loss, 1); !s.ok())
        return s;
    if (dataGroup && dataGroup->size() > 1) {
      if (Status s = dataGroup->allReduceSum(what, &loss, 1); !s.ok())
        return s;
      loss /= dataGroup->size();
    }
    onStep(i, static_cast<float>(loss));
  }
  return Status();
}

} // namespace nnrt
