// @forward -> @train_step: the forward pass, the backward pass (each op's vector-Jacobian
// product, DifferentiableOpInterface) and the optimizer update, as one function of `nn` ops.
//
// 1. Clone @forward; add the optimizer state (as parameters) and the per-step inputs: the
//    learning rate, and the step number and random key when dropout or Adam needs them.
// 2. Seed d(loss) = 1 and visit the ops in reverse, summing the gradients of fanned-out values.
//    An op on the gradient path without a VJP is reported at the user's node, never a zero: the
//    plan then has no train step (a warning says which node and why). Only values that depend
//    on a trainable parameter are differentiated; nn.stop_gradient ends a path.
// 3. Clip the gradients to a global norm (the pre-clip norm is the output "grad_norm"), then
//    update every trainable parameter with a `train` op (SGD with momentum / Nesterov / L2
//    decay; Adam; AdamW with decoupled decay, bias-corrected with the per-step input
//    "nnc.step") and return the loss followed by the new parameters and state, each marked
//    `nn.updates = "<name>"`. The optimize phase expands the train ops (ExpandTrainOps.cpp).
#include "compiler/Passes.h"
#include "compiler/plan/Flops.h"

#include "dialects/nn/BatchNorm.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace nnc {
#define GEN_PASS_DEF_AUTODIFF
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc::nn;

namespace {

/// The optimizer of the TrainingSpec (module attribute `nn.training`), PyTorch's defaults where
/// the spec leaves a field at 0.
struct OptimizerOptions {
  StringRef kind; // "sgd", "adam", "adamw"
  double momentum = 0, weightDecay = 0, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  double clipNorm = 0;
  bool nesterov = false, decayAll = false;
};

double number(DictionaryAttr dict, StringRef key, double fallback = 0.0) {
  if (auto f = dict.getAs<FloatAttr>(key))
    return f.getValueAsDouble();
  return fallback;
}

bool flag(DictionaryAttr dict, StringRef key) {
  auto b = dict.getAs<BoolAttr>(key);
  return b && b.getValue();
}

Value scalarConstant(OpBuilder &b, Location loc, Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  return ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getFloatAttr(elementType, value)));
}

struct AutodiffPass : nnc::impl::AutodiffBase<AutodiffPass> {
  DictionaryAttr output(StringRef name) {
    Builder b(&getContext());
    return b.getDictionaryAttr(b.getNamedAttr("nn.output", b.getStringAttr(name)));
  }
  DictionaryAttr updates(StringRef name) {
    Builder b(&getContext());
    return b.getDictionaryAttr(b.getNamedAttr("nn.updates", b.getStringAttr(name)));
  }

  /// PyTorch's clip_grad_norm_ over every gradient together; returns the pre-clip norm.
  Value clipByGlobalNorm(OpBuilder &b, Location loc, SmallVectorImpl<Value> &grads, double max) {
    SmallVector<Value> present;
    for (Value g : grads)
      if (g)
        present.push_back(g);
    Value norm = nnc::train::GlobalNormOp::create(b, loc, present);
    for (Value &g : grads)
      if (g)
        g = nnc::train::ClipOp::create(b, loc, g, norm, b.getF64FloatAttr(max));
    return norm;
  }

  /// One parameter's optimizer step as a `train` op; `nextState` gets the new state in the
  /// order of the state arguments.
  Value update(OpBuilder &b, Location loc, const OptimizerOptions &opt, Value param, Value g,
               ArrayRef<BlockArgument> state, Value lr, Value stepCount,
               SmallVectorImpl<Value> &nextState) {
    // Weight decay applies to weight matrices (rank >= 2) unless the spec says all parameters.
    auto type = cast<RankedTensorType>(param.getType());
    bool decays = opt.weightDecay != 0 && (opt.decayAll || type.getRank() >= 2);
    FloatAttr decay = b.getF64FloatAttr(decays ? opt.weightDecay : 0.0);
    if (opt.kind == "sgd" && opt.momentum == 0)
      return nnc::train::SgdOp::create(b, loc, param, g, lr, decay);
    if (opt.kind == "sgd") {
      auto sgd = nnc::train::SgdMomentumOp::create(b, loc, param, g, state[0], lr,
                                              b.getF64FloatAttr(opt.momentum),
                                              b.getBoolAttr(opt.nesterov), decay);
      nextState.push_back(sgd.getNewBuffer());
      return sgd.getNewParam();
    }
    auto adam = nnc::train::AdamOp::create(b, loc, param, g, state[0], state[1], lr, stepCount,
                                      b.getF64FloatAttr(opt.beta1), b.getF64FloatAttr(opt.beta2),
                                      b.getF64FloatAttr(opt.epsilon), decay,
                                      b.getBoolAttr(opt.kind == "adamw"));
    nextState.push_back(adam.getNewExpAvg());
    nextState.push_back(adam.getNewExpAvgSq());
    return adam.getNewParam();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    auto spec = module->getAttrOfType<DictionaryAttr>("nn.training");
    if (!forward || !spec)
      return;
    auto optimizer = spec.getAs<DictionaryAttr>("optimizer");
    auto kind = optimizer ? optimizer.getAs<StringAttr>("kind") : StringAttr();
    if (!kind)
      return; // no optimizer: an inference-only plan
    if (kind.strref() != "sgd" && kind.strref() != "adam" && kind.strref() != "adamw") {
      module.emitWarning("no train_step: optimizer '") << kind.strref() << "' is not known";
      return;
    }
    OptimizerOptions options;
    options.kind = kind.strref();
    options.momentum = number(optimizer, "momentum");
    options.weightDecay = number(optimizer, "weight_decay");
    options.beta1 = number(optimizer, "beta1", 0.9);
    options.beta2 = number(optimizer, "beta2", 0.999);
    options.epsilon = number(optimizer, "epsilon", 1e-8);
    options.nesterov = flag(optimizer, "nesterov");
    options.decayAll = flag(optimizer, "decay_all_parameters");
    options.clipNorm = number(spec, "grad_clip_norm");
    // A model the backward pass cannot handle yet still gets its other entry points: the first
    // problem becomes a warning at its node, and the plan has no train_step.
    std::optional<Diagnostic> problem;
    LogicalResult built = failure();
    {
      ScopedDiagnosticHandler capture(&getContext(), [&](Diagnostic &diag) {
        if (diag.getSeverity() != DiagnosticSeverity::Error)
          return failure(); // warnings pass through
        if (!problem)
          problem.emplace(std::move(diag));
        return success();
      });
      built = buildTrainStep(module, forward, options);
    }
    if (succeeded(built))
      return;
    if (auto step = module.lookupSymbol<func::FuncOp>("train_step"))
      step.erase();
    InFlightDiagnostic warning = emitWarning(problem ? problem->getLocation() : module.getLoc());
    warning << "no train_step: " << (problem ? problem->str() : std::string("autodiff failed"));
  }

  /// Replaces each nn.batch_norm of the train step by its training form (batch statistics);
  /// `runningStats` gets each new running statistic with the parameter it updates.
  LogicalResult expandBatchNorms(func::FuncOp step,
                                 SmallVectorImpl<std::pair<Value, StringAttr>> &runningStats) {
    SmallVector<BatchNormOp> norms;
    step.walk([&](BatchNormOp op) { norms.push_back(op); });
    llvm::DenseSet<StringAttr> seen;
    for (BatchNormOp op : norms) {
      SmallVector<StringAttr, 2> names;
      for (Value stat : {op.getRunningMean(), op.getRunningVar()}) {
        auto arg = dyn_cast<BlockArgument>(stat);
        unsigned index = arg ? arg.getArgNumber() : 0;
        auto name = arg ? step.getArgAttrOfType<StringAttr>(index, "nn.param") : StringAttr();
        auto trainable = arg ? step.getArgAttrOfType<BoolAttr>(index, "nn.trainable") : BoolAttr();
        if (!name || !trainable || trainable.getValue())
          return op.emitOpError("expects its running statistics to be frozen parameters");
        if (!seen.insert(name).second)
          return op.emitOpError("expects running statistics of its own, '")
                 << name.strref() << "' is shared";
        names.push_back(name);
      }
      OpBuilder b(op);
      nnc::nn::BatchNormTraining training = nnc::nn::buildBatchNormTraining(b, op);
      op.getResult().replaceAllUsesWith(training.result);
      op.erase();
      runningStats.push_back({training.runningMean, names[0]});
      runningStats.push_back({training.runningVar, names[1]});
    }
    return success();
  }

  LogicalResult buildTrainStep(ModuleOp module, func::FuncOp forward,
                               const OptimizerOptions &opt) {
    OpBuilder builder(module.getContext());
    builder.setInsertionPointAfter(forward);
    auto step = cast<func::FuncOp>(builder.clone(*forward));
    step.setSymName("train_step");
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Value loss = ret.getOperand(0);
    Location loc = forward.getLoc();
    Type f32 = builder.getF32Type();
    SmallVector<std::pair<Value, StringAttr>> runningStats;
    if (failed(expandBatchNorms(step, runningStats)))
      return failure();

    // The trainable parameters, then their state and the learning rate as new arguments.
    SmallVector<std::pair<BlockArgument, StringAttr>> params;
    for (BlockArgument arg : body.getArguments()) {
      auto name = step.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "nn.param");
      auto trainable = step.getArgAttrOfType<BoolAttr>(arg.getArgNumber(), "nn.trainable");
      if (name && (!trainable || trainable.getValue()))
        params.push_back({arg, name});
    }
    // Optimizer state, one tensor per parameter and kind, as parameters initialized to zero.
    SmallVector<StringRef> stateKinds;
    if (opt.kind == "sgd" && opt.momentum != 0)
      stateKinds = {"momentum"};
    else if (opt.kind != "sgd")
      stateKinds = {"exp_avg", "exp_avg_sq"};
    SmallVector<SmallVector<BlockArgument>> state(params.size());
    for (auto [i, entry] : llvm::enumerate(params))
      for (StringRef stateKind : stateKinds) {
        unsigned index = step.getNumArguments();
        std::string stateName = (entry.second.strref() + "." + stateKind).str();
        (void)step.insertArgument(
            index, entry.first.getType(),
            builder.getDictionaryAttr(
                {builder.getNamedAttr("nn.param", builder.getStringAttr(stateName)),
                 builder.getNamedAttr("nn.init",
                                      builder.getDictionaryAttr(builder.getNamedAttr(
                                          "kind", builder.getStringAttr("zeros")))),
                 builder.getNamedAttr("nn.trainable", builder.getBoolAttr(false))}),
            loc);
        state[i].push_back(body.getArgument(index));
      }
    auto scalarInput = [&](StringRef name) {
      unsigned index = step.getNumArguments();
      (void)step.insertArgument(index, RankedTensorType::get({}, f32),
                                builder.getDictionaryAttr(builder.getNamedAttr(
                                    "nn.input", builder.getStringAttr(name))),
                                loc);
      return body.getArgument(index);
    };
    Value lr = scalarInput("nnc.learning_rate");
    // Dropout masks and Adam's bias correction need the step number.
    SmallVector<DropoutOp> dropouts;
    body.walk([&](DropoutOp op) {
      if (op.getRate().convertToDouble() != 0.0)
        dropouts.push_back(op);
    });
    Value stepCount =
        opt.kind == "sgd" && dropouts.empty() ? Value() : scalarInput("nnc.step");
    Value key;
    if (!dropouts.empty()) {
      unsigned index = step.getNumArguments();
      (void)step.insertArgument(index, RankedTensorType::get({}, builder.getI64Type()),
                                builder.getDictionaryAttr(builder.getNamedAttr(
                                    "nn.input", builder.getStringAttr("nnc.rng_key"))),
                                loc);
      key = body.getArgument(index);
    }
    for (auto [i, dropout] : llvm::enumerate(dropouts)) {
      dropout->insertOperands(1, {stepCount, key});
      dropout.setStreamAttr(builder.getI64IntegerAttr(i + 1));
    }

    // Reverse mode over the forward ops.
    builder.setInsertionPoint(ret);
    llvm::DenseMap<Value, Value> grads;
    auto lossType = cast<RankedTensorType>(loss.getType());
    grads[loss] = scalarConstant(builder, loss.getLoc(), lossType.getElementType(), 1.0);
    // The precision pass replaces the seed by the loss scale under fp16.
    grads[loss].getDefiningOp()->setAttr(nnc::train::kLossSeedAttr, builder.getUnitAttr());
    // Only values that depend on a trainable parameter need a gradient: ops that merely
    // prepare inputs (label encodings, masks) need no VJP, and nn.stop_gradient cuts the path.
    llvm::DenseSet<Value> varied;
    for (auto [param, name] : params)
      varied.insert(param);
    // An input marked nn.differentiable = "<output>" (a pipeline stage's incoming activation)
    // gets a gradient too, returned as that output for the stage before.
    SmallVector<std::pair<BlockArgument, StringAttr>> differentiableInputs;
    for (BlockArgument arg : body.getArguments())
      if (auto output = step.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                          "nn.differentiable")) {
        differentiableInputs.push_back({arg, output});
        varied.insert(arg);
      }
    SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator()) {
      forwardOps.push_back(&op);
      if (!isa<StopGradientOp>(op) &&
          llvm::any_of(op.getOperands(), [&](Value v) { return varied.contains(v); }))
        varied.insert(op.getResults().begin(), op.getResults().end());
    }
    for (Operation *op : llvm::reverse(forwardOps)) {
      if (op->getNumResults() != 1 || !varied.contains(op->getResult(0)) ||
          !grads.count(op->getResult(0)))
        continue;
      auto differentiable = dyn_cast<DifferentiableOpInterface>(op);
      if (!differentiable)
        return op->emitError("has no gradient: cannot train through '")
               << op->getName() << "'";
      SmallVector<Value> operandGrads;
      builder.setInsertionPoint(ret);
      if (failed(differentiable.buildVjp(builder, grads[op->getResult(0)], operandGrads)))
        return failure();
      for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads)) {
        if (!grad || !varied.contains(operand))
          continue;
        Value &slot = grads[operand];
        slot = slot ? AddOp::create(builder, op->getLoc(), slot, grad).getResult() : grad;
      }
    }

    SmallVector<Value> results = {loss};
    SmallVector<DictionaryAttr> resultAttrs = {output("loss")};
    for (auto [input, name] : differentiableInputs) {
      Value grad = grads.lookup(input);
      if (!grad)
        return step.emitError("the input whose gradient is '")
               << name.strref() << "' does not reach the loss";
      results.push_back(grad);
      resultAttrs.push_back(output(name.strref()));
    }
    SmallVector<Value> paramGrads;
    for (auto [param, name] : params) {
      paramGrads.push_back(grads.lookup(param));
      if (!paramGrads.back())
        module.emitWarning("parameter '") << name.strref()
                                          << "' does not reach the loss: it is not trained";
    }
    if (opt.clipNorm > 0) {
      Value norm = clipByGlobalNorm(builder, loc, paramGrads, opt.clipNorm);
      results.push_back(norm);
      resultAttrs.push_back(output("grad_norm"));
    }
    SmallVector<std::pair<Value, std::string>> newState;
    for (auto [i, entry] : llvm::enumerate(params)) {
      auto [param, name] = entry;
      if (!paramGrads[i])
        continue;
      SmallVector<Value> nextState;
      Value updated = update(builder, NameLoc::get(name), opt, param, paramGrads[i], state[i], lr,
                             stepCount, nextState);
      results.push_back(updated);
      resultAttrs.push_back(updates(name.strref()));
      for (auto [value, stateKind] : llvm::zip(nextState, stateKinds))
        newState.push_back({value, (name.strref() + "." + stateKind).str()});
    }
    for (auto &[value, name] : newState) {
      results.push_back(value);
      resultAttrs.push_back(updates(name));
    }
    // Running statistics: updated every step, marked so data parallelism can average them.
    for (auto &[value, name] : runningStats) {
      results.push_back(value);
      resultAttrs.push_back(DictionaryAttr::get(
          &getContext(), {builder.getNamedAttr("nn.updates", name),
                          builder.getNamedAttr(nnc::nn::kRunningStatAttr, builder.getUnitAttr())}));
    }
    builder.setInsertionPoint(ret);
    func::ReturnOp::create(builder, ret.getLoc(), results);
    ret.erase();
    step.setType(builder.getFunctionType(step.getArgumentTypes(), ValueRange(results).getTypes()));
    step.setAllResultAttrs(resultAttrs);
    step->setAttr("nnc.flops", builder.getI64IntegerAttr(nnc::countFlops(step)));
    return success();
  }
};

} // namespace
