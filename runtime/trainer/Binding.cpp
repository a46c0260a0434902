// bindFit: train_step's data inputs are the ones without the "nnc." prefix; eval_step and predict
// name theirs the same way, which is how features and labels are told apart.
#include "runtime/trainer/Binding.h"

#include "runtime/HostTensor.h"
#include "runtime/PlanLoader.h"
#include "runtime/TrainLoop.h"

namespace nnrt::trainer {

using nnc::Status;

namespace {

bool isScalar(const nnc::TensorSlice &t, nnc::DType dtype) {
  return t.type().dtype() == dtype && numElements(shapeOf(t.type())) == 1;
}

const nnc::TensorSlice *findInput(const nnc::Function &f, const std::string &name) {
  for (const nnc::TensorSlice &input : f.inputs())
    if (input.name() == name)
      return &input;
  return nullptr;
}

} // namespace

nnc::StatusOr<FitBinding> bindFit(const nnc::Plan &plan, const std::string &planPath) {
  auto planError = [&](const std::string &problem) {
    return Status::error(planPath + ": " + problem);
  };
  const nnc::Function *step = findFunction(plan, "train_step");
  FitBinding binding;
  StepBinding &train = binding.train;
  bool hasLearningRate = false;
  if (!step) {
    // Gradient accumulation: micro-batches through accumulate_step, updates by apply_step.
    step = findFunction(plan, "accumulate_step");
    const nnc::Function *apply = findFunction(plan, "apply_step");
    if (!step)
      return planError("the plan has no function 'train_step' (its model cannot be trained yet)");
    if (!apply)
      return planError("the plan has an accumulate_step but no apply_step");
    train.function = step->name();
    ApplyBinding update;
    update.steps = std::max<int64_t>(plan.training().accumulation_steps(), 1);
    for (const nnc::TensorSlice &input : apply->inputs()) {
      if (!isScalar(input, nnc::F32))
        return planError("function 'apply_step' input '" + input.name() + "' should be one f32");
      if (input.name() == kLearningRateInput)
        update.learningRate = input, hasLearningRate = true;
      else if (input.name() == kStepInput)
        update.stepNumber = input;
      else
        return planError("function 'apply_step' has an unexpected input '" + input.name() + "'");
    }
    train.apply = update;
    for (const nnc::TensorSlice &output : apply->outputs())
      if (output.name() == "grad_norm" && isScalar(output, nnc::F32))
        train.gradNorm = output;
  }
  std::vector<const nnc::TensorSlice *> data;
  for (const nnc::TensorSlice &input : step->inputs()) {
    const std::string &name = input.name();
    if (name == kLearningRateInput || name == kStepInput) {
      if (!isScalar(input, nnc::F32))
        return planError("function 'train_step' input '" + name + "' should be one f32");
      if (name == kStepInput)
        train.stepNumber = input;
      else
        train.learningRate = input, hasLearningRate = true;
    } else if (name == kRngKeyInput) {
      if (!isScalar(input, nnc::I64))
        return planError("function 'train_step' input '" + name + "' should be one i64");
      train.rngKey = input;
    } else {
      data.push_back(&input);
    }
  }
  if (!hasLearningRate)
    return planError("function 'train_step' has no input '" + std::string(kLearningRateInput) +
                     "'");
  if (data.size() != 2)
    return planError("function 'train_step' has " + std::to_string(data.size()) +
                     " data inputs; the trainer feeds two, features and labels");
  if (step->outputs_size() == 0 || !isScalar(step->outputs(0), nnc::F32))
    return planError("function 'train_step' output 0 should be the loss, one f32");
  train.loss = step->outputs(0);
  train.lossScale = findLossScale(plan);
  train.updateSkipped = findUpdateGuard(plan);
  train.probe = findNonfiniteProbe(plan);
  for (const nnc::TensorSlice &output : step->outputs())
    if (output.name() == "grad_norm" && isScalar(output, nnc::F32) && !train.apply)
      train.gradNorm = output;
  int featuresIndex = 0;
  if (const nnc::Function *predict = findFunction(plan, "predict"))
    if (findInput(*predict, data[1]->name()) && !findInput(*predict, data[0]->name()))
      featuresIndex = 1;
  train.features = *data[featuresIndex];
  train.labels = *data[1 - featuresIndex];
  for (const nnc::TensorSlice *input : data)
    if (input->type().shape_size() == 0 || input->type().shape(0) < 1)
      return planError("function 'train_step' input '" + input->name() +
                       "' has no batch dimension");
  binding.batch = train.features.type().shape(0);
  if (train.labels.type().shape(0) != binding.batch)
    return planError("function 'train_step' inputs '" + train.features.name() + "' and '" +
                     train.labels.name() + "' have different batch sizes");
  binding.model.features = train.features.type();
  binding.model.labels = train.labels.type();
  binding.model.featureIdLimit = train.features.index_limit();
  binding.model.featureIdReader = train.features.index_reader();
  const nnc::TensorType &labels = train.labels.type();
  if (labels.dtype() == nnc::F32 && labels.shape_size() == 2) {
    binding.softLabels = true;
    binding.model.numClasses = labels.shape(1);
    binding.model.labels.set_dtype(nnc::I64);  // the data's class ids, one per example
    binding.model.labels.mutable_shape()->RemoveLast();
  }

  if (const nnc::Function *eval = findFunction(plan, "eval_step")) {
    EvalBinding e;
    const nnc::TensorSlice *x = findInput(*eval, train.features.name());
    const nnc::TensorSlice *y = findInput(*eval, train.labels.name());
    if (!x || !y)
      return planError("function 'eval_step' does not take train_step's inputs '" +
                       train.features.name() + "' and '" + train.labels.name() + "'");
    e.features = *x;
    e.labels = *y;
    if (eval->outputs_size() == 0 || !isScalar(eval->outputs(0), nnc::F32))
      return planError("function 'eval_step' output 0 should be the loss, one f32");
    e.loss = eval->outputs(0);
    // Logits (B, ..., C) for labels (B, ...): accuracy compares argmax over C with the label.
    if (binding.softLabels && eval->outputs_size() > 1 &&
        shapeOf(eval->outputs(1).type()) == shapeOf(y->type())) {
      e.logits = eval->outputs(1);  // (B, C), as the soft labels
    } else if (eval->outputs_size() > 1 && y->type().dtype() == nnc::I64) {
      Shape logits = shapeOf(eval->outputs(1).type()), labels = shapeOf(y->type());
      if (logits.size() == labels.size() + 1 &&
          std::equal(labels.begin(), labels.end(), logits.begin())) {
        e.logits = eval->outputs(1);
        binding.model.numClasses = logits.back();
      }
    }
    binding.eval = e;
  }
  return binding;
}

} // namespace nnrt::trainer
