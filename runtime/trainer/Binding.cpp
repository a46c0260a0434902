// bindFit: the step's data inputs are the ones without the "nnc." prefix (bindStep); eval_step
// and predict name theirs the same way, which is how features and labels are told apart.
#include "runtime/trainer/Binding.h"

#include "runtime/HostTensor.h"
#include "runtime/PlanLoader.h"

#include <algorithm>

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

/// Features and labels among the step's two data inputs: the features are the one predict also
/// takes (else the first); both have the same batch size.
Status bindData(const nnc::Plan &plan, const std::vector<nnc::TensorSlice> &data,
                const std::string &planPath, FitBinding &binding) {
  auto planError = [&](const std::string &problem) {
    return Status::error(planPath + ": " + problem);
  };
  StepBinding &train = binding.train;
  if (data.size() != 2)
    return planError("function '" + train.function + "' has " + std::to_string(data.size()) +
                     " data inputs; the trainer feeds two, features and labels");
  int featuresIndex = 0;
  if (const nnc::Function *predict = findFunction(plan, "predict"))
    if (findInput(*predict, data[1].name()) && !findInput(*predict, data[0].name()))
      featuresIndex = 1;
  train.features = data[featuresIndex];
  train.labels = data[1 - featuresIndex];
  for (const nnc::TensorSlice &input : data)
    if (input.type().shape_size() == 0 || input.type().shape(0) < 1)
      return planError("function '" + train.function + "' input '" + input.name() +
                       "' has no batch dimension");
  binding.batch = train.features.type().shape(0);
  if (train.labels.type().shape(0) != binding.batch)
    return planError("function '" + train.function + "' inputs '" + train.features.name() +
                     "' and '" + train.labels.name() + "' have different batch sizes");
  return Status();
}

/// The data's per-batch types; f32 (batch, classes) labels are soft targets over class ids.
void bindModelInputs(FitBinding &binding) {
  const StepBinding &train = binding.train;
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
}

/// eval_step takes the step's features and labels by name; its output 1, when it fits, is the
/// logits accuracy is computed from.
nnc::StatusOr<EvalBinding> bindEval(const nnc::Function &eval, const std::string &planPath,
                                    FitBinding &binding) {
  const StepBinding &train = binding.train;
  EvalBinding e;
  const nnc::TensorSlice *x = findInput(eval, train.features.name());
  const nnc::TensorSlice *y = findInput(eval, train.labels.name());
  if (!x || !y)
    return Status::error(planPath + ": function 'eval_step' does not take train_step's inputs '" +
                         train.features.name() + "' and '" + train.labels.name() + "'");
  e.features = *x;
  e.labels = *y;
  if (eval.outputs_size() == 0 || !isScalar(eval.outputs(0), nnc::F32))
    return Status::error(planPath + ": function 'eval_step' output 0 should be the loss, one f32");
  e.loss = eval.outputs(0);
  // Logits (B, ..., C) for labels (B, ...): accuracy compares argmax over C with the label.
  if (binding.softLabels && eval.outputs_size() > 1 &&
      shapeOf(eval.outputs(1).type()) == shapeOf(y->type())) {
    e.logits = eval.outputs(1);  // (B, C), as the soft labels
  } else if (eval.outputs_size() > 1 && y->type().dtype() == nnc::I64) {
    Shape logits = shapeOf(eval.outputs(1).type()), labels = shapeOf(y->type());
    if (logits.size() == labels.size() + 1 &&
        std::equal(labels.begin(), labels.end(), logits.begin())) {
      e.logits = eval.outputs(1);
      binding.model.numClasses = logits.back();
    }
  }
  return e;
}

} // namespace

nnc::StatusOr<FitBinding> bindFit(const nnc::Plan &plan, const std::string &planPath) {
  FitBinding binding;
  std::vector<nnc::TensorSlice> data;
  nnc::StatusOr<StepBinding> step = bindStep(plan, planPath, data);
  if (!step.ok())
    return step.status();
  binding.train = std::move(*step);
  if (Status s = bindData(plan, data, planPath, binding); !s.ok())
    return s;
  bindModelInputs(binding);
  if (const nnc::Function *eval = findFunction(plan, "eval_step")) {
    nnc::StatusOr<EvalBinding> e = bindEval(*eval, planPath, binding);
    if (!e.ok())
      return e.status();
    binding.eval = std::move(*e);
  }
  return binding;
}

} // namespace nnrt::trainer
