// Flags that edit the model before it compiles: the batch size and the training spec.
//
// Order: read the model (an ONNX file is imported with the batch size and the loss), set a
// model.pb's batch size, replace the TrainingSpec by --training's file, then apply each flag
// given on top of it.
#include "compiler/driver/ModelFlags.h"

#include "compiler/import/ModelImporter.h"
#include "compiler/import/OnnxImporter.h"
#include "proto/model.pb.h"
#include "support/Format.h"

#include "llvm/Support/MemoryBuffer.h"

#include <google/protobuf/text_format.h>

namespace nnc {

namespace cl = llvm::cl;

ModelFlags::ModelFlags(cl::OptionCategory &category)
    : batchSize("batch-size",
                cl::desc("The batch (leading) dimension of every graph input: an ONNX model's "
                         "symbolic batch, a model.pb's leading dimension (and its labels')"),
                cl::value_desc("B"), cl::init(0), cl::cat(category)),
      loss("loss",
           cl::desc("An ONNX model's loss over its first output: cross-entropy (labels: i64 class "
                    "ids) or mse (labels: the output's shape)"),
           cl::value_desc("cross-entropy|mse"), cl::cat(category)),
      labelSmoothing("label-smoothing", cl::desc("Label smoothing of the cross-entropy loss"),
                     cl::value_desc("s"), cl::init(0), cl::cat(category)),
      training("training",
               cl::desc("A TrainingSpec in protobuf text format; replaces the model's (its loss "
                        "kept when the file names none); the other training flags override it"),
               cl::value_desc("spec.pbtxt"), cl::cat(category)),
      optimizer("optimizer",
                cl::desc("sgd, momentum (SGD, momentum 0.9 unless --momentum), nesterov, adam "
                         "or adamw; without one the plan can only predict"),
                cl::value_desc("name"), cl::cat(category)),
      lr("lr", cl::desc("Learning rate"), cl::value_desc("rate"), cl::cat(category)),
      weightDecay("weight-decay",
                  cl::desc("Weight decay (L2 for sgd/adam, decoupled for adamw) of parameters "
                           "of rank >= 2"),
                  cl::value_desc("wd"), cl::cat(category)),
      betas("betas", cl::desc("Adam/AdamW betas"), cl::value_desc("B1,B2"), cl::cat(category)),
      momentum("momentum", cl::desc("SGD momentum"), cl::value_desc("m"), cl::cat(category)),
      clipNorm("clip-norm", cl::desc("Global gradient-norm clipping (0: none)"),
               cl::value_desc("norm"), cl::cat(category)),
      precision("precision", cl::desc("Compute precision: fp32, bf16 or fp16 (loss-scaled)"),
                cl::value_desc("fp32|bf16|fp16"), cl::cat(category)),
      accumulationSteps("accumulation-steps",
                        cl::desc("Micro-batches whose gradients make one update"),
                        cl::value_desc("k"), cl::cat(category)),
      epochs("epochs", cl::desc("Epochs that nnrun --fit trains"), cl::value_desc("N"),
             cl::cat(category)),
      seed("seed", cl::desc("Seed of initialization, shuffling and dropout"), cl::value_desc("S"),
           cl::cat(category)),
      inference("inference",
                cl::desc("Compile for prediction only (init and predict): no loss or optimizer "
                         "is needed, and a model's training spec is ignored"),
                cl::cat(category)) {}

bool setBatchSize(Model &model, int64_t batchSize, std::string &error) {
  if (batchSize < 1) {
    error = "--batch-size " + std::to_string(batchSize) + " must be positive";
    return false;
  }
  int64_t old = 0;
  for (GraphInput &input : *model.mutable_inputs()) {
    TensorType *type = input.mutable_type();
    if (type->shape_size() == 0) {
      error = "--batch-size: input '" + input.name() + "' is a scalar, it has no batch dimension";
      return false;
    }
    if (old && type->shape(0) != old) {
      error = "--batch-size: inputs disagree on their batch (" + std::to_string(old) + " and '" +
              input.name() + "' " + std::to_string(type->shape(0)) + ")";
      return false;
    }
    old = type->shape(0);
    type->set_shape(0, batchSize);
  }
  // A reshape that names the batch (flattening (B, C, H, W) to (B, C*H*W)) follows it. Other
  // sizes derived from the batch are not rewritten: the import then names the node whose shapes
  // no longer fit.
  for (Node &node : *model.mutable_nodes()) {
    if (node.op() != "reshape" || !node.attrs().count("shape"))
      continue;
    IntList *shape = (*node.mutable_attrs())["shape"].mutable_ints();
    if (shape->values_size() > 0 && shape->values(0) == old)
      shape->set_values(0, batchSize);
  }
  return true;
}

ModelOptions ModelFlags::values() const {
  auto given = [](const auto &flag) {
    using T = std::decay_t<decltype(flag.getValue())>;
    return flag.getNumOccurrences() ? std::optional<T>(flag.getValue()) : std::nullopt;
  };
  ModelOptions o;
  o.batchSize = given(batchSize), o.accumulationSteps = given(accumulationSteps);
  o.epochs = given(epochs), o.seed = given(seed);
  o.labelSmoothing = given(labelSmoothing), o.lr = given(lr), o.weightDecay = given(weightDecay);
  o.momentum = given(momentum), o.clipNorm = given(clipNorm);
  o.loss = loss, o.training = training, o.optimizer = optimizer, o.betas = betas;
  o.precision = precision;
  o.inference = inference;
  return o;
}

namespace {

bool applyTraining(const ModelOptions &o, Model &model, std::string &error) {
  TrainingSpec *spec = model.mutable_training();
  if (!o.training.empty()) {
    auto buffer = llvm::MemoryBuffer::getFile(o.training);
    TrainingSpec file;
    if (!buffer) {
      error = "--training " + o.training + ": cannot read the file: " +
              buffer.getError().message();
      return false;
    }
    if (!google::protobuf::TextFormat::ParseFromString((*buffer)->getBuffer().str(), &file)) {
      error = "--training " + o.training + ": not a valid text-format TrainingSpec";
      return false;
    }
    if (file.loss().empty())
      file.set_loss(spec->loss());
    *spec = file;
  }
  Optimizer *opt = spec->mutable_optimizer();
  if (!o.optimizer.empty()) {
    const std::string &name = o.optimizer;
    opt->set_nesterov(name == "nesterov");
    if (name == "sgd" || name == "momentum" || name == "nesterov") {
      opt->set_kind(Optimizer::SGD);
      opt->set_momentum(name == "sgd" ? 0 : 0.9);
    } else if (name == "adam" || name == "adamw") {
      opt->set_kind(name == "adam" ? Optimizer::ADAM : Optimizer::ADAMW);
    } else {
      error = "--optimizer " + name + " is not an optimizer (sgd, momentum, nesterov, adam, adamw)";
      return false;
    }
  }
  if (o.lr)
    opt->set_learning_rate(*o.lr);
  if (o.weightDecay)
    opt->set_weight_decay(*o.weightDecay);
  if (o.momentum)
    opt->set_momentum(*o.momentum);
  if (!o.betas.empty()) {
    auto [first, second] = llvm::StringRef(o.betas).split(',');
    double b1, b2;
    if (first.getAsDouble(b1) || second.getAsDouble(b2)) {
      error = "--betas " + o.betas + " is not two numbers B1,B2";
      return false;
    }
    opt->set_beta1(b1);
    opt->set_beta2(b2);
  }
  if (o.clipNorm)
    spec->set_grad_clip_norm(*o.clipNorm);
  if (!o.precision.empty()) {
    if (o.precision != "fp32" && o.precision != "bf16" && o.precision != "fp16") {
      error = "--precision " + o.precision + " is not a precision (fp32, bf16, fp16)";
      return false;
    }
    spec->mutable_precision()->set_kind(o.precision == "fp32"   ? Precision::FP32
                                        : o.precision == "bf16" ? Precision::BF16
                                                                : Precision::FP16);
  }
  for (auto [flag, value] : {std::pair{"--accumulation-steps", o.accumulationSteps},
                             std::pair{"--epochs", o.epochs}, std::pair{"--seed", o.seed}})
    if (value && *value < 0) {
      error = std::string(flag) + " " + std::to_string(*value) + " must not be negative";
      return false;
    }
  if (o.accumulationSteps)
    spec->set_accumulation_steps(*o.accumulationSteps);
  if (o.epochs)
    spec->set_epochs(*o.epochs);
  if (o.seed)
    spec->set_seed(*o.seed);
  // Nothing set: no "optimizer { }" or "training { }" in nnc import's output.
  if (opt->ByteSizeLong() == 0)
    spec->clear_optimizer();
  if (spec->ByteSizeLong() == 0)
    model.clear_training();
  return true;
}

} // namespace

/// The first training flag given, for --inference to refuse ("" when none is).
static std::string firstTrainingFlag(const ModelOptions &o) {
  const std::pair<bool, const char *> flags[] = {
      {!o.loss.empty(), "--loss"},         {o.labelSmoothing.has_value(), "--label-smoothing"},
      {!o.training.empty(), "--training"}, {!o.optimizer.empty(), "--optimizer"},
      {o.lr.has_value(), "--lr"},          {o.weightDecay.has_value(), "--weight-decay"},
      {!o.betas.empty(), "--betas"},       {o.momentum.has_value(), "--momentum"},
      {o.clipNorm.has_value(), "--clip-norm"}, {!o.precision.empty(), "--precision"},
      {o.accumulationSteps.has_value(), "--accumulation-steps"},
      {o.epochs.has_value(), "--epochs"},  {o.seed.has_value(), "--seed"}};
  for (auto [given, flag] : flags)
    if (given)
      return flag;
  return "";
}

bool loadModel(const std::string &path, const ModelOptions &o, bool needLoss, Model &model,
               std::string &error) {
  if (o.inference) {
    if (std::string flag = firstTrainingFlag(o); !flag.empty()) {
      error = "--inference compiles no training step: " + flag + " does not apply";
      return false;
    }
    ModelOptions shapeOnly;
    shapeOnly.batchSize = o.batchSize;
    if (!loadModel(path, shapeOnly, /*needLoss=*/false, model, error))
      return false;
    model.clear_training();
    return true;
  }
  if (!o.loss.empty() && o.loss != "cross-entropy" && o.loss != "mse") {
    error = "--loss " + o.loss + " is not a loss (cross-entropy, mse)";
    return false;
  }
  if (o.batchSize && *o.batchSize < 1) {
    error = "--batch-size " + std::to_string(*o.batchSize) + " must be positive";
    return false;
  }
  if (isOnnxFile(path)) {
    OnnxImportOptions options;
    options.batchSize = o.batchSize.value_or(0);
    options.loss = o.loss;
    options.labelSmoothing = o.labelSmoothing.value_or(0);
    if (!importOnnxFile(path, options, model, error))
      return false;
    if (needLoss && o.loss.empty() && o.training.empty()) {
      error = "an ONNX model has no loss: pass --loss cross-entropy|mse (and --optimizer to "
              "train)";
      return false;
    }
  } else {
    if (!readModelFile(path, model, error))
      return false;
    if (o.batchSize && !setBatchSize(model, *o.batchSize, error))
      return false;
    if (!o.loss.empty()) {
      error = "--loss adds a loss to an ONNX model; this model " +
              (model.training().loss().empty()
                   ? std::string("names none: set training.loss")
                   : "has one ('" + model.training().loss() + "')");
      return false;
    }
    if (o.labelSmoothing) {
      for (Node &node : *model.mutable_nodes())
        if (node.op() == "cross_entropy" && node.outputs_size() &&
            node.outputs(0) == model.training().loss())
          (*node.mutable_attrs())["label_smoothing"].set_f(*o.labelSmoothing);
    }
  }
  return applyTraining(o, model, error);
}

} // namespace nnc
