// The pipeline loop (see PipelineLoop.h). Per update, the stage walks its actions: a forward slot
// runs forward_step on micro-batch j's input and keeps that input on the host (the backward slot
// recomputes the forward from it); a backward slot runs accumulate_step on it with the labels or
// the gradient the next stage sent; the update runs apply_step. Sends return at once (the
// communicator copies the bytes), so neighbours never wait on each other's sends.
#include "runtime/PipelineLoop.h"

#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/collective/Communicator.h"

#include <cstring>
#include <map>

namespace nnrt {

using nnc::Status;

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

HostTensor scalar(const nnc::TensorSlice &slice, const void *value) {
  HostTensor tensor(slice.type().dtype(), shapeOf(slice.type()));
  std::memcpy(tensor.data.data(), value, tensor.data.size());
  return tensor;
}

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
  bool last = stage + 1 == b.stages;
  if (!accumulate || !apply || (!last && !forward))
    return Status::error(where + " lacks its accumulate_step, apply_step or forward_step");

  // accumulate_step: every input is a pipeline tensor, a per-step scalar, or a file's batch.
  for (const nnc::TensorSlice &input : accumulate->inputs()) {
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
  auto loss = findTensor(accumulate->outputs(), "loss");
  if (!loss)
    return Status::error(where + ": accumulate_step has no output 'loss'");
  b.loss = *loss;
  b.gradOut = findTensor(accumulate->outputs(), "nnc.pipe.grad_out");
  if ((stage > 0) != b.gradOut.has_value() || (stage > 0) != b.pipeIn.has_value() ||
      last == b.gradIn.has_value())
    return Status::error(where + ": its pipeline inputs and outputs do not match its place");
  if (forward) {
    b.forwardFeatures = b.features ? findTensor(forward->inputs(), b.features->name())
                                   : std::nullopt;
    b.forwardPipeIn = findTensor(forward->inputs(), "nnc.pipe.in");
    b.forwardStepNumber = findTensor(forward->inputs(), kStepInput);
    b.forwardRngKey = findTensor(forward->inputs(), kRngKeyInput);
    b.pipeOut = findTensor(forward->outputs(), "nnc.pipe.out");
    if (!b.pipeOut)
      return Status::error(where + ": forward_step has no output 'nnc.pipe.out'");
  }
  auto lr = findTensor(apply->inputs(), kLearningRateInput);
  if (!lr)
    return Status::error(where + ": apply_step has no input '" + kLearningRateInput + "'");
  b.learningRate = *lr;
  b.applyStepNumber = findTensor(apply->inputs(), kStepInput);

  // Whole micro-batches, as many in both files (each stage checks the files it reads).
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
  b.batches = batches > 0 ? batches : 1;
  return b;
}

Status trainPipeline(Executor &executor, const PipelineBinding &b, const TrainData &data,
                     const TrainOptions &options,
                     const std::function<void(int64_t step, float loss)> &onStep) {
  Communicator *group = options.group;
  if (b.stages > 1 && (!group || group->size() != b.stages))
    return Status::error("the plan has " + std::to_string(b.stages) +
                         " pipeline stages: run it with mpirun -np " +
                         std::to_string(b.stages));
  auto write = [&](const char *function, const std::optional<nnc::TensorSlice> &slice,
                   const HostTensor &value) {
    if (!slice)
      return Status();
    if (Status s = executor.write(*slice, value); !s.ok())
      return Status::error("function '" + std::string(function) + "', input '" +
                           slice->name() + "': " + s.message());
    return Status();
  };
  auto read = [&](const char *function, const nnc::TensorSlice &slice) {
    nnc::StatusOr<HostTensor> value = executor.read(slice);
    if (!value.ok())
      return nnc::StatusOr<HostTensor>(Status::error("function '" + std::string(function) +
                                                     "', output '" + slice.name() + "': " +
                                                     value.status().message()));
    return value;
  };
  auto tag = [](const char *what, int64_t update, int64_t micro) {
    return std::string(what) + " of micro-batch " + std::to_string(micro) + " (update " +
           std::to_string(update + 1) + ")";
  };

  for (int64_t i = 0; i < options.steps; ++i) {
    std::map<int64_t, HostTensor> inputs;  // micro-batch -> the stage's input activation
    HostTensor outgoing, gradient;
    if (b.gradIn)
      gradient = HostTensor(b.gradIn->type().dtype(), shapeOf(b.gradIn->type()));
    double lossSum = 0;
    for (const nnc::PipelineAction &action : b.actions) {
      int64_t j = action.micro_batch();
      int64_t index = i * b.microBatches + j;  // the micro-batch's number: data, dropout mask
      int64_t file = index % b.batches;
      float number = static_cast<float>(index + 1);
      Status s;
      switch (action.kind()) {
      case nnc::PipelineAction::RECV_ACTIVATION: {
        HostTensor in(b.pipeIn->type().dtype(), shapeOf(b.pipeIn->type()));
        s = group->recv(int(action.peer()), tag("activation", i, j), in.data.data(),
                        int64_t(in.data.size()));
        inputs[j] = std::move(in);
        break;
      }
      case nnc::PipelineAction::FORWARD:
        if (b.forwardFeatures)
          s = write("forward_step", b.forwardFeatures, batchOf(data.features, *b.features, file));
        if (s.ok() && b.forwardPipeIn)
          s = write("forward_step", b.forwardPipeIn, inputs.at(j));
        if (s.ok() && b.forwardStepNumber)
          s = write("forward_step", b.forwardStepNumber, scalar(*b.forwardStepNumber, &number));
        if (s.ok() && b.forwardRngKey)
          s = write("forward_step", b.forwardRngKey, scalar(*b.forwardRngKey, &options.seed));
        if (s.ok())
          s = executor.run("forward_step");
        if (s.ok()) {
          nnc::StatusOr<HostTensor> out = read("forward_step", *b.pipeOut);
          s = out.status();
          if (s.ok())
            outgoing = std::move(*out);
        }
        break;
      case nnc::PipelineAction::SEND_ACTIVATION:
        s = group->send(int(action.peer()), tag("activation", i, j), outgoing.data.data(),
                        int64_t(outgoing.data.size()));
        break;
      case nnc::PipelineAction::RECV_GRADIENT:
        s = group->recv(int(action.peer()), tag("gradient", i, j), gradient.data.data(),
                        int64_t(gradient.data.size()));
        break;
      case nnc::PipelineAction::BACKWARD:
        if (b.features)
          s = write("accumulate_step", b.features, batchOf(data.features, *b.features, file));
        if (s.ok() && b.labels)
          s = write("accumulate_step", b.labels, batchOf(data.labels, *b.labels, file));
        if (s.ok() && b.pipeIn) {
          s = write("accumulate_step", b.pipeIn, inputs.at(j));
          inputs.erase(j);
        }
        if (s.ok() && b.gradIn)
          s = write("accumulate_step", b.gradIn, gradient);
        if (s.ok() && b.stepNumber)
          s = write("accumulate_step", b.stepNumber, scalar(*b.stepNumber, &number));
        if (s.ok() && b.rngKey)
          s = write("accumulate_step", b.rngKey, scalar(*b.rngKey, &options.seed));
        if (s.ok())
          s = executor.run("accumulate_step");
        if (s.ok() && b.stage + 1 == b.stages) {
          nnc::StatusOr<HostTensor> loss = read("accumulate_step", b.loss);
          s = loss.status();
          if (s.ok())
            lossSum += loss->toFloats()[0];
        }
        if (s.ok() && b.gradOut) {
          nnc::StatusOr<HostTensor> out = read("accumulate_step", *b.gradOut);
          s = out.status();
          if (s.ok())
            outgoing = std::move(*out);
        }
        break;
      case nnc::PipelineAction::SEND_GRADIENT:
        s = group->send(int(action.peer()), tag("gradient", i, j), outgoing.data.data(),
                        int64_t(outgoing.data.size()));
        break;
      case nnc::PipelineAction::APPLY: {
        float update = static_cast<float>(i + 1);
        s = write("apply_step", b.learningRate, scalar(b.learningRate, &options.learningRate));
        if (s.ok() && b.applyStepNumber)
          s = write("apply_step", b.applyStepNumber, scalar(*b.applyStepNumber, &update));
        if (s.ok())
          s = executor.run("apply_step");
        break;
      }
      default:
        s = Status::error("pipeline action of unknown kind " + std::to_string(action.kind()));
      }
      if (!s.ok())
        return Status::error("pipeline stage " + std::to_string(b.stage) + ": " + s.message());
    }
    // The last stage knows the loss; every rank reports it.
    double loss = b.stage + 1 == b.stages ? lossSum / double(b.microBatches) : 0.0;
    if (group && group->size() > 1)
      if (Status s = group->allReduceSum("the loss of update " + std::to_string(i + 1), &loss, 1);
          !s.ok())
        return s;
    onStep(i, static_cast<float>(loss));
  }
  return Status();
}

} // namespace nnrt
