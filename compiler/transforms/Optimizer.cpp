// The optimizer update of @train_step (see Passes.td): the gradients autodiff returns (results
// marked `nn.gradient`) become `train` ops that update every trainable parameter.
//
// 1. Add the optimizer state (zero-initialized parameters `<name>.momentum`, `<name>.exp_avg`,
//    `<name>.exp_avg_sq`) and the per-step inputs: the learning rate, and the step number for
//    Adam's bias correction; they go before the dropout inputs autodiff added.
// 2. Clip the gradients to a global norm (the pre-clip norm is the output "grad_norm").
// 3. Update each parameter with a `train` op (SGD with momentum / Nesterov / L2 decay; Adam;
//    AdamW with decoupled decay) and return the new parameters and state, marked
//    `nn.updates = "<name>"`, in place of the gradients. The optimize phase expands the train
//    ops (ExpandTrainOps.cpp).
#include "compiler/Passes.h"
#include "compiler/plan/Flops.h"

#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

namespace nnc {
#define GEN_PASS_DEF_OPTIMIZER
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using nnc::nn::OptimizerKind;
using nnc::nn::TrainingSpecAttr;

namespace {

/// The optimizer of the training spec, PyTorch's defaults where the spec leaves a field at 0.
struct OptimizerOptions {
  explicit OptimizerOptions(TrainingSpecAttr spec)
      : kind(spec.getOptimizer()),
        momentum(TrainingSpecAttr::valueOr(spec.getMomentum(), 0)),
        weightDecay(TrainingSpecAttr::valueOr(spec.getWeightDecay(), 0)),
        beta1(TrainingSpecAttr::valueOr(spec.getBeta1(), 0.9)),
        beta2(TrainingSpecAttr::valueOr(spec.getBeta2(), 0.999)),
        epsilon(TrainingSpecAttr::valueOr(spec.getEpsilon(), 1e-8)),
        clipNorm(TrainingSpecAttr::valueOr(spec.getGradClipNorm(), 0)),
        nesterov(TrainingSpecAttr::isSet(spec.getNesterov())),
        decayAll(TrainingSpecAttr::isSet(spec.getDecayAllParameters())) {}

  /// The state tensors each parameter keeps, in the order of the update op's operands.
  SmallVector<StringRef> stateKinds() const {
    if (kind == OptimizerKind::sgd)
      return momentum != 0 ? SmallVector<StringRef>{"momentum"} : SmallVector<StringRef>{};
    return {"exp_avg", "exp_avg_sq"};
  }

  OptimizerKind kind;
  double momentum, weightDecay, beta1, beta2, epsilon, clipNorm;
  bool nesterov, decayAll;
};

/// One trainable parameter: its argument, name, gradient (null when it does not reach the loss)
/// and state arguments.
struct Param {
  BlockArgument arg;
  StringAttr name;
  Value grad;
  SmallVector<BlockArgument> state;
};

/// PyTorch's clip_grad_norm_ over every gradient together; returns the pre-clip norm.
Value clipByGlobalNorm(OpBuilder &b, Location loc, MutableArrayRef<Param> params, double max) {
  SmallVector<Value> present;
  for (Param &p : params)
    if (p.grad)
      present.push_back(p.grad);
  Value norm = nnc::train::GlobalNormOp::create(b, loc, present);
  for (Param &p : params)
    if (p.grad)
      p.grad = nnc::train::ClipOp::create(b, loc, p.grad, norm, b.getF64FloatAttr(max));
  return norm;
}

/// One parameter's optimizer step as a `train` op; `nextState` gets the new state in the order
/// of the state arguments.
Value update(OpBuilder &b, Location loc, const OptimizerOptions &opt, const Param &p, Value lr,
             Value stepCount, SmallVectorImpl<Value> &nextState) {
  // Weight decay applies to weight matrices (rank >= 2) unless the spec says all parameters.
  auto type = cast<RankedTensorType>(p.arg.getType());
  bool decays = opt.weightDecay != 0 && (opt.decayAll || type.getRank() >= 2);
  FloatAttr decay = b.getF64FloatAttr(decays ? opt.weightDecay : 0.0);
  if (opt.kind == OptimizerKind::sgd && opt.momentum == 0)
    return nnc::train::SgdOp::create(b, loc, p.arg, p.grad, lr, decay);
  if (opt.kind == OptimizerKind::sgd) {
    auto sgd = nnc::train::SgdMomentumOp::create(b, loc, p.arg, p.grad, p.state[0], lr,
                                                 b.getF64FloatAttr(opt.momentum),
                                                 b.getBoolAttr(opt.nesterov), decay);
    nextState.push_back(sgd.getNewBuffer());
    return sgd.getNewParam();
  }
  auto adam = nnc::train::AdamOp::create(
      b, loc, p.arg, p.grad, p.state[0], p.state[1], lr, stepCount, b.getF64FloatAttr(opt.beta1),
      b.getF64FloatAttr(opt.beta2), b.getF64FloatAttr(opt.epsilon), decay,
      b.getBoolAttr(opt.kind == OptimizerKind::adamw));
  nextState.push_back(adam.getNewExpAvg());
  nextState.push_back(adam.getNewExpAvgSq());
  return adam.getNewParam();
}

struct OptimizerPass : nnc::impl::OptimizerBase<OptimizerPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = module.lookupSymbol<func::FuncOp>("train_step");
    auto spec = module->getAttrOfType<TrainingSpecAttr>(nnc::attr::kTraining);
    if (!step || !spec || spec.getOptimizer() == OptimizerKind::none)
      return;
    OptimizerOptions opt(spec);
    SmallVector<Param> params = collectParams(step);
    auto [lr, stepCount] = addInputsAndState(step, opt, params);
    buildUpdates(step, opt, params, lr, stepCount);
  }

  /// The trainable parameters in argument order, with the gradients autodiff returned.
  static SmallVector<Param> collectParams(func::FuncOp step) {
    auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
    llvm::StringMap<Value> grads;
    for (unsigned i = 0; i < step.getNumResults(); ++i)
      if (auto name = nnc::attr::resultString(step, i, nnc::attr::kGradient))
        grads[name.getValue()] = ret.getOperand(i);
    SmallVector<Param> params;
    for (BlockArgument arg : step.getArguments()) {
      auto name = nnc::attr::argString(step, arg.getArgNumber(), nnc::attr::kParam);
      auto trainable = step.getArgAttrOfType<BoolAttr>(arg.getArgNumber(), nnc::attr::kTrainable);
      if (name && (!trainable || trainable.getValue()))
        params.push_back({arg, name, grads.lookup(name.getValue()), {}});
    }
    return params;
  }

  /// Inserts the state of every parameter, the learning rate and (for Adam) the step number
  /// ahead of the dropout inputs; returns the learning rate and step number (null for SGD
  /// without dropout).
  std::pair<Value, Value> addInputsAndState(func::FuncOp step, const OptimizerOptions &opt,
                                            MutableArrayRef<Param> params) {
    OpBuilder b(&getContext());
    Value stepCount;
    unsigned index = step.getNumArguments();
    for (BlockArgument arg : step.getArguments()) {
      auto input = nnc::attr::argString(step, arg.getArgNumber(), nnc::attr::kInput);
      StringRef name = input ? input.getValue() : StringRef();
      if (name == nnc::names::kStep || name == nnc::names::kRngKey) {
        index = std::min(index, arg.getArgNumber());
        if (name == nnc::names::kStep)
          stepCount = arg;
      }
    }
    auto insert = [&](Type type, DictionaryAttr attrs) {
      (void)step.insertArgument(index, type, attrs, step.getLoc());
      return step.getArgument(index++);
    };
    DictionaryAttr zeros = nnc::attr::stringDict(b, "kind", "zeros");
    for (Param &p : params)
      for (StringRef kind : opt.stateKinds())
        p.state.push_back(insert(p.arg.getType(),
                                 nnc::attr::stateParam(b, (p.name.strref() + "." + kind).str(),
                                                       zeros)));
    auto scalar = RankedTensorType::get({}, b.getF32Type());
    Value lr = insert(scalar, nnc::attr::stringDict(b, nnc::attr::kInput,
                                                    nnc::names::kLearningRate));
    if (!stepCount && opt.kind != OptimizerKind::sgd)
      stepCount = insert(scalar, nnc::attr::stringDict(b, nnc::attr::kInput, nnc::names::kStep));
    return {lr, stepCount};
  }

  /// Clipping and the updates; the results become the loss and other outputs, "grad_norm", the
  /// new parameters, the new state, then the running statistics autodiff returned.
  void buildUpdates(func::FuncOp step, const OptimizerOptions &opt, MutableArrayRef<Param> params,
                    Value lr, Value stepCount) {
    auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
    OpBuilder b(ret);
    SmallVector<Value> results;
    SmallVector<DictionaryAttr> resultAttrs;
    SmallVector<unsigned> runningStats;
    for (unsigned i = 0; i < step.getNumResults(); ++i) {
      if (step.getResultAttr(i, nnc::attr::kRunningStat)) {
        runningStats.push_back(i);
      } else if (!step.getResultAttr(i, nnc::attr::kGradient)) {
        results.push_back(ret.getOperand(i));
        resultAttrs.push_back(step.getResultAttrDict(i));
      }
    }
    if (opt.clipNorm > 0) {
      results.push_back(clipByGlobalNorm(b, step.getLoc(), params, opt.clipNorm));
      resultAttrs.push_back(nnc::attr::stringDict(b, nnc::attr::kOutput, "grad_norm"));
    }
    SmallVector<StringRef> stateKinds = opt.stateKinds();
    SmallVector<std::pair<Value, std::string>> newState;
    for (Param &p : params) {
      if (!p.grad)
        continue;
      SmallVector<Value> nextState;
      results.push_back(update(b, NameLoc::get(p.name), opt, p, lr, stepCount, nextState));
      resultAttrs.push_back(nnc::attr::stringDict(b, nnc::attr::kUpdates, p.name));
      for (auto [value, kind] : llvm::zip(nextState, stateKinds))
        newState.push_back({value, (p.name.strref() + "." + kind).str()});
    }
    for (auto &[value, name] : newState) {
      results.push_back(value);
      resultAttrs.push_back(nnc::attr::stringDict(b, nnc::attr::kUpdates, name));
    }
    for (unsigned i : runningStats) {
      results.push_back(ret.getOperand(i));
      resultAttrs.push_back(step.getResultAttrDict(i));
    }
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    step.setType(b.getFunctionType(step.getArgumentTypes(), ValueRange(results).getTypes()));
    step.setAllResultAttrs(resultAttrs);
    step->setAttr(nnc::attr::kFlops, b.getI64IntegerAttr(nnc::countFlops(step)));
  }
};

} // namespace
