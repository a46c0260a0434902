// The pipeline loop (see PipelineLoop.h). Per update, the stage walks its actions: a forward slot
// runs forward_step on micro-batch j's input and keeps that input on the host (the backward slot
// recomputes the forward from it); a backward slot runs accumulate_step on it with the labels or
// the gradient the next stage sent; the update runs apply_step. Sends return at once (the
// communicator copies the bytes), so neighbours never wait on each other's sends.
#include "runtime/trainer/PipelineLoop.h"

#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/collective/Communicator.h"
#include "runtime/trainer/Checkpoint.h"
#include "runtime/trainer/StopSignals.h"

#include <cstring>
#include <algorithm>
#include <map>
#include <set>

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

/// The names the model gives its features and labels: the first stage's predict input and the
/// last stage's eval_step input that are not pipeline tensors (empty where there is none).
std::pair<std::string, std::string> dataInputNames(const nnc::PipelineSchedule &pipeline) {
  auto dataInputOf = [](const nnc::Plan &plan, const char *function) {
    if (const nnc::Function *f = findFunction(plan, function))
      for (const nnc::TensorSlice &input : f->inputs())
        if (input.name().rfind("nnc.", 0) != 0)
          return input.name();
    return std::string();
  };
  return {dataInputOf(pipeline.stages(0).plan(), "predict"),
          dataInputOf(pipeline.stages(pipeline.stages_size() - 1).plan(), "eval_step")};
}

/// accumulate_step: every input is a pipeline tensor, a per-step scalar, or a file's batch: the
/// features or labels input by name (a language model's tokens and targets have one type), else
/// the one file whose type fits.
Status bindAccumulate(const nnc::Function &accumulate, const TrainData &data,
                      const std::pair<std::string, std::string> &dataNames,
                      const std::string &where, PipelineBinding &b) {
  for (const nnc::TensorSlice &input : accumulate.inputs()) {
    const std::string &name = input.name();
    if (name == dataNames.first && fits(data.features, input) && !b.features)
      b.features = input;
    else if (name == dataNames.second && fits(data.labels, input) && !b.labels)
      b.labels = input;
    else if (name == "nnc.pipe.in")
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

/// Micro-batch j's features (what = 0) or labels (what = 1), as this stage reads them.
using MicroBatchRows = std::function<HostTensor(int64_t j, int what)>;

/// One update of this rank's stage: its actions in order, each a method below.
class StageUpdate {
public:
  StageUpdate(StepRunner &runner, Communicator *group, const PipelineBinding &b,
              MicroBatchRows rows, float learningRate, int64_t update)
      : runner_(runner), group_(group), b_(b), rows_(std::move(rows)),
        learningRate_(learningRate), update_(update) {
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
      s = runner_.write(function, *b_.forwardFeatures, rows_(j, 0));
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
    Status s;
    if (b_.features)
      s = runner_.write(function, *b_.features, rows_(j, 0));
    if (s.ok() && b_.labels)
      s = runner_.write(function, *b_.labels, rows_(j, 1));
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
  MicroBatchRows rows_;
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
  if (Status s = bindAccumulate(*accumulate, data, dataInputNames(pipeline), where, b); !s.ok())
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
    // Micro-batch j of update i on data rank d of D is the files' batch (i*M + j)*D + d (mod N):
    // the replicas take turns, as data-parallel accumulation does.
    auto rows = [&, i](int64_t j, int what) {
      int64_t batch = ((i * b.microBatches + j) * runner.ranks() + runner.rank()) % b.batches;
      return what == 0 ? batchOf(data.features, *b.features, batch)
                       : batchOf(data.labels, *b.labels, batch);
    };
    StageUpdate update(runner, group, b, rows, options.learningRate, i);
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

// --- --fit on a pipelined plan -------------------------------------------------------------
namespace nnrt {

using trainer::Batch;

namespace {

/// Rows [j * rows, (j + 1) * rows) of `batch`'s tensor.
HostTensor rowsOf(const HostTensor &tensor, int64_t j, int64_t rows) {
  Shape shape = tensor.shape;
  size_t bytes = tensor.data.size() / size_t(shape[0]) * size_t(rows);
  shape[0] = rows;
  HostTensor part(tensor.dtype, shape);
  std::memcpy(part.data.data(), tensor.data.data() + size_t(j) * bytes, bytes);
  return part;
}

bool isAccumulator(const std::string &name, const std::string &prefix) {
  return name.rfind(prefix + "nnc.accumulator.", 0) == 0;
}

/// The input of `function` that is not a pipeline tensor: the features (predict) or the labels
/// (the last stage's eval_step).
std::optional<nnc::TensorSlice> dataInput(const nnc::Function &function) {
  for (const nnc::TensorSlice &input : function.inputs())
    if (input.name().rfind("nnc.", 0) != 0)
      return input;
  return std::nullopt;
}

} // namespace

struct PipelineFit::State {
  State(Executor &executor, Communicator *pipeline, Communicator *data, uint64_t seed)
      : executor(executor), pipeline(pipeline), data(data), runner(executor, seed, data) {}
  Executor &executor;
  Communicator *pipeline, *data;
  StepRunner runner;
  PipelineBinding binding;
  std::unique_ptr<trainer::EvalStep> eval;
};

namespace {

/// Evaluation of one batch through the stages: every stage but the last runs predict on its
/// input (the features, or the activation received) and sends nnc.pipe.out on; the last runs
/// eval_step on the activation and the labels. The results are summed over the pipeline at the
/// end, so that every stage (rank 0 reports) holds the last stage's.
class PipelineEvalStep final : public trainer::EvalStep {
public:
  PipelineEvalStep(PipelineFit::State &s, const nnc::Plan &plan, int64_t rows)
      : s_(s), rows_(rows) {
    const PipelineBinding &b = s.binding;
    last_ = b.stage + 1 == b.stages;
    function_ = last_ ? "eval_step" : "predict";
    if (const nnc::Function *f = findFunction(plan, function_)) {
      in_ = findTensor(f->inputs(), "nnc.pipe.in");
      data_ = dataInput(*f);
      out_ = findTensor(f->outputs(), "nnc.pipe.out");
      if (last_ && f->outputs_size() > 0)
        loss_ = f->outputs(0);
      if (last_ && f->outputs_size() > 1)
        logits_ = f->outputs(1);
    }
  }

  bool bound() const { return (last_ ? loss_.has_value() : out_.has_value()) && (in_ || data_); }
  int64_t rows() const override { return rows_; }

  nnc::StatusOr<float> run(const Batch &batch) override {
    const PipelineBinding &b = s_.binding;
    std::string tag = "evaluation activation of batch " + std::to_string(++batches_);
    auto fail = [&](const Status &st) {
      return Status::error("pipeline stage " + std::to_string(b.stage) + ": " + st.message());
    };
    Status st;
    if (in_) {
      HostTensor in(in_->type().dtype(), shapeOf(in_->type()));
      st = s_.pipeline->recv(b.stage - 1, tag, in.data.data(), int64_t(in.data.size()));
      if (st.ok())
        st = s_.runner.write(function_, *in_, in);
    }
    if (st.ok() && data_)
      st = s_.runner.write(function_, *data_, last_ ? batch.labels : batch.features);
    if (st.ok())
      st = s_.executor.run(function_);
    if (!st.ok())
      return fail(st);
    if (!last_) {
      nnc::StatusOr<HostTensor> out = s_.runner.read(function_, *out_);
      if (!out.ok())
        return fail(out.status());
      st = s_.pipeline->send(b.stage + 1, tag, out->data.data(), int64_t(out->data.size()));
      return st.ok() ? nnc::StatusOr<float>(0.0f) : fail(st);
    }
    nnc::StatusOr<HostTensor> loss = s_.runner.read(function_, *loss_);
    if (!loss.ok())
      return fail(loss.status());
    return loss->toFloats()[0];
  }

  nnc::StatusOr<std::optional<HostTensor>> logits() override {
    if (!last_ || !logits_)
      return std::optional<HostTensor>();
    nnc::StatusOr<HostTensor> logits = s_.runner.read(function_, *logits_);
    if (!logits.ok())
      return logits.status();
    return std::optional<HostTensor>(std::move(*logits));
  }

  /// The counts and the loss, summed over the pipeline (the other stages add zeros). The most
  /// confident mistakes stay on the last stage: the report shows none for a pipeline.
  Status shareResult(trainer::EvalResult &r) override {
    std::vector<double> values = {r.loss, double(r.correct), double(r.predictions),
                                  double(r.nonFinite)};
    for (const std::vector<int64_t> *counts : {&r.classCorrect, &r.classTotal, &r.confusion})
      values.insert(values.end(), counts->begin(), counts->end());
    if (Status st = s_.pipeline->allReduceSum("the evaluation's results", values.data(),
                                              int(values.size()));
        !st.ok())
      return st;
    r.loss = values[0];
    r.correct = int64_t(values[1]), r.predictions = int64_t(values[2]);
    r.nonFinite = int64_t(values[3]);
    size_t at = 4;
    for (std::vector<int64_t> *counts : {&r.classCorrect, &r.classTotal, &r.confusion})
      for (int64_t &count : *counts)
        count = int64_t(values[at++]);
    if (!last_)
      r.worst.clear();
    return Status();
  }

private:
  PipelineFit::State &s_;
  int64_t rows_;
  bool last_ = false;
  const char *function_ = "predict";
  std::optional<nnc::TensorSlice> in_, data_, out_, loss_, logits_;
  int64_t batches_ = 0;  // numbers the messages
};

} // namespace

PipelineFit::PipelineFit(std::unique_ptr<State> state) : s_(std::move(state)) {}
PipelineFit::~PipelineFit() = default;

nnc::StatusOr<std::unique_ptr<PipelineFit>>
PipelineFit::create(Executor &executor, const nnc::PipelineSchedule &schedule, int stage,
                    Communicator *pipeline, Communicator *data, uint64_t seed,
                    const std::string &planPath) {
  int stages = schedule.stages_size();
  if (!pipeline || pipeline->size() != stages)
    return Status::error(planPath + ": the plan has " + std::to_string(stages) +
                         " pipeline stages: run it with mpirun -np " + std::to_string(stages));
  // Bound against one micro-batch of the types the stages take.
  const nnc::Plan &first = schedule.stages(0).plan();
  const nnc::Plan &last = schedule.stages(stages - 1).plan();
  const nnc::Function *predict = findFunction(first, "predict");
  const nnc::Function *eval = findFunction(last, "eval_step");
  std::optional<nnc::TensorSlice> features = predict ? dataInput(*predict) : std::nullopt;
  std::optional<nnc::TensorSlice> labels = eval ? dataInput(*eval) : std::nullopt;
  if (!features || !labels)
    return Status::error(planPath + ": its first stage has no predict or its last no eval_step");
  TrainData types;
  types.features = HostTensor(features->type().dtype(), shapeOf(features->type()));
  types.labels = HostTensor(labels->type().dtype(), shapeOf(labels->type()));
  auto state = std::make_unique<State>(executor, pipeline, data, seed);
  nnc::StatusOr<PipelineBinding> binding = bindPipelineStage(schedule, stage, planPath, types);
  if (!binding.ok())
    return binding.status();
  state->binding = std::move(*binding);
  auto step = std::make_unique<PipelineEvalStep>(*state, schedule.stages(stage).plan(),
                                                 features->type().shape(0));
  if (!step->bound())
    return Status::error(planPath + ": pipeline stage " + std::to_string(stage) +
                         " lacks the predict or eval_step evaluation runs through");
  state->eval = std::move(step);
  return std::unique_ptr<PipelineFit>(new PipelineFit(std::move(state)));
}

nnc::StatusOr<float> PipelineFit::train(const Batch &batch, int64_t update, float lr,
                                        bool &stop) {
  const PipelineBinding &b = s_->binding;
  int64_t rows = batch.features.shape[0] / b.microBatches;
  auto microBatch = [&](int64_t j, int what) {
    return rowsOf(what == 0 ? batch.features : batch.labels, j, rows);
  };
  StageUpdate step(s_->runner, s_->pipeline, b, microBatch, lr, update);
  for (const nnc::PipelineAction &action : b.actions)
    if (Status st = step.run(action); !st.ok())
      return Status::error("pipeline stage " + std::to_string(b.stage) + ": " + st.message());
  float loss = float(step.loss());
  if (Status st = trainer::reduceLossAndStop(s_->pipeline, s_->data,
                                             "the loss of step " + std::to_string(update + 1),
                                             loss, stop);
      !st.ok())
    return st;
  return loss;
}

trainer::EvalStep &PipelineFit::evalStep() { return *s_->eval; }

nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
PipelineFit::capture(const std::string &prefix) const {
  nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> all =
      trainer::captureParameters(s_->executor, prefix);
  if (!all.ok())
    return all;
  std::vector<std::pair<std::string, HostTensor>> kept;
  for (auto &[name, tensor] : *all)
    if (!isAccumulator(name, prefix))
      kept.emplace_back(name, std::move(tensor));
  return kept;
}

bool PipelineFit::writes() const {
  return s_->binding.stage == 0 && (!s_->data || s_->data->rank() == 0) &&
         s_->executor.tensorPart() == 0;
}

// Stage s > 0 of data rank 0's pipeline sends its tensors to stage 0 as one checkpoint-format
// message (its size first); the replicas hold the same tensors and take no part, nor do the
// pipelines of tensor parts other than 0 (capture() gathered the whole tensors on each part).
nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
PipelineFit::gather(std::vector<std::pair<std::string, HostTensor>> tensors) {
  if ((s_->data && s_->data->rank() != 0) || s_->executor.tensorPart() != 0)
    return std::vector<std::pair<std::string, HostTensor>>();
  const PipelineBinding &b = s_->binding;
  const std::string tag = "checkpoint tensors";
  if (b.stage > 0) {
    trainer::Checkpoint part;
    part.tensors = std::move(tensors);
    std::string bytes = trainer::serializeCheckpoint(part);
    int64_t size = int64_t(bytes.size());
    if (Status st = s_->pipeline->send(0, tag + " (size)", &size, sizeof size); !st.ok())
      return st;
    if (Status st = s_->pipeline->send(0, tag, bytes.data(), size); !st.ok())
      return st;
    return std::vector<std::pair<std::string, HostTensor>>();
  }
  for (int stage = 1; stage < b.stages; ++stage) {
    int64_t size = 0;
    if (Status st = s_->pipeline->recv(stage, tag + " (size)", &size, sizeof size); !st.ok())
      return st;
    std::string bytes(size_t(size), '\0');
    if (Status st = s_->pipeline->recv(stage, tag, bytes.data(), size); !st.ok())
      return st;
    nnc::StatusOr<trainer::Checkpoint> part =
        trainer::parseCheckpoint(bytes, "pipeline stage " + std::to_string(stage));
    if (!part.ok())
      return part.status();
    for (auto &[name, tensor] : part->tensors)
      if (std::none_of(tensors.begin(), tensors.end(),
                       [&](const auto &kept) { return kept.first == name; }))
        tensors.emplace_back(name, std::move(tensor));
  }
  return tensors;
}

nnc::StatusOr<trainer::FitBinding> bindPipelineFit(const nnc::PipelineSchedule &schedule,
                                                   const std::string &planPath) {
  int stages = schedule.stages_size();
  const nnc::Function *predict = findFunction(schedule.stages(0).plan(), "predict");
  const nnc::Function *eval = findFunction(schedule.stages(stages - 1).plan(), "eval_step");
  std::optional<nnc::TensorSlice> features = predict ? dataInput(*predict) : std::nullopt;
  std::optional<nnc::TensorSlice> labels = eval ? dataInput(*eval) : std::nullopt;
  if (!features || !labels || eval->outputs_size() == 0)
    return Status::error(planPath + ": its first stage has no predict or its last no eval_step");
  trainer::FitBinding binding;
  int64_t rows = features->type().shape(0), micro = schedule.micro_batches();
  binding.batch = rows * micro;  // one update
  binding.model.features = features->type();
  binding.model.features.set_shape(0, binding.batch);
  binding.model.labels = labels->type();
  binding.model.labels.set_shape(0, binding.batch);
  trainer::EvalBinding e;
  e.features = *features;
  e.labels = *labels;
  e.loss = eval->outputs(0);
  if (eval->outputs_size() > 1 && labels->type().dtype() == nnc::I64) {
    Shape logits = shapeOf(eval->outputs(1).type()), ids = shapeOf(labels->type());
    if (logits.size() == ids.size() + 1 && std::equal(ids.begin(), ids.end(), logits.begin())) {
      e.logits = eval->outputs(1);
      binding.model.numClasses = logits.back();
    }
  }
  binding.eval = std::move(e);
  return binding;
}

nnc::Plan logicalPlan(const nnc::Plan &pipelined) {
  const nnc::PipelineSchedule &schedule = pipelined.pipeline();
  const nnc::Plan &first = schedule.stages(0).plan();
  nnc::Plan plan;
  *plan.mutable_metadata() = pipelined.metadata();
  *plan.mutable_training() = first.training();
  plan.set_seed(first.seed());
  std::set<std::string> seen;
  for (const nnc::PipelineStage &stage : schedule.stages())
    for (const nnc::TensorSlice &parameter : stage.plan().parameters())
      if (!isAccumulator(parameter.name(), "") && seen.insert(parameter.name()).second)
        *plan.add_parameters() = parameter;
  return plan;
}

} // namespace nnrt
