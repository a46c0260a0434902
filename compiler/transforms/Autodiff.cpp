// @forward -> @train_step: the forward pass and the backward pass (each op's vector-Jacobian
// product, DifferentiableOpInterface), returning the gradients; the optimizer pass
// (Optimizer.cpp) then turns them into updates.
//
// 1. Clone @forward; add the per-step inputs dropout needs: the step number and random key.
// 2. Seed d(loss) = 1 and visit the ops in reverse, summing the gradients of fanned-out values.
//    An op on the gradient path without a VJP is reported at the user's node, never a zero: the
//    plan then has no train step (a warning says which node and why). Only values that depend
//    on a trainable parameter are differentiated; nn.stop_gradient ends a path.
// 3. Return the loss, the gradients of differentiable inputs, then each trainable parameter's
//    gradient marked `nn.gradient = "<name>"`.
#include "compiler/Passes.h"
#include "compiler/plan/Flops.h"

#include "dialects/AttrNames.h"
#include "dialects/nn/BatchNorm.h"
#include "dialects/nn/NNDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/Threading.h"

namespace nnc {
#define GEN_PASS_DEF_AUTODIFF
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc::nn;

namespace {

Value scalarConstant(OpBuilder &b, Location loc, Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  return ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getFloatAttr(elementType, value)));
}

/// The parameters the optimizer updates, in argument order.
SmallVector<std::pair<BlockArgument, StringAttr>> trainableParams(func::FuncOp func) {
  SmallVector<std::pair<BlockArgument, StringAttr>> params;
  for (BlockArgument arg : func.getArguments()) {
    auto name = nnc::attr::argString(func, arg.getArgNumber(), nnc::attr::kParam);
    auto trainable = func.getArgAttrOfType<BoolAttr>(arg.getArgNumber(), nnc::attr::kTrainable);
    if (name && (!trainable || trainable.getValue()))
      params.push_back({arg, name});
  }
  return params;
}

/// Gives each dropout of `step` the step number and random key (new scalar inputs, which the
/// optimizer shares) and its own stream.
void keyDropouts(func::FuncOp step) {
  SmallVector<DropoutOp> dropouts;
  step.walk([&](DropoutOp op) {
    if (op.getRate().convertToDouble() != 0.0)
      dropouts.push_back(op);
  });
  if (dropouts.empty())
    return;
  OpBuilder b(step.getContext());
  auto addInput = [&](StringRef name, Type elementType) {
    unsigned index = step.getNumArguments();
    (void)step.insertArgument(index, RankedTensorType::get({}, elementType),
                              nnc::attr::stringDict(b, nnc::attr::kInput, name), step.getLoc());
    return step.getArgument(index);
  };
  Value stepCount = addInput(nnc::names::kStep, b.getF32Type());
  Value key = addInput(nnc::names::kRngKey, b.getI64Type());
  for (auto [i, dropout] : llvm::enumerate(dropouts)) {
    dropout->insertOperands(1, {stepCount, key});
    dropout.setStreamAttr(b.getI64IntegerAttr(i + 1));
  }
}

/// The values that depend on a trainable parameter or a differentiable input, through any op
/// but nn.stop_gradient, and the forward ops in order.
llvm::DenseSet<Value> variedValues(Block &body, ArrayRef<Value> roots,
                                   SmallVectorImpl<Operation *> &forwardOps) {
  llvm::DenseSet<Value> varied(roots.begin(), roots.end());
  for (Operation &op : body.without_terminator()) {
    forwardOps.push_back(&op);
    if (!isa<StopGradientOp>(op) &&
        llvm::any_of(op.getOperands(), [&](Value v) { return varied.contains(v); }))
      varied.insert(op.getResults().begin(), op.getResults().end());
  }
  return varied;
}

struct AutodiffPass : nnc::impl::AutodiffBase<AutodiffPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    auto spec = module->getAttrOfType<TrainingSpecAttr>(nnc::attr::kTraining);
    if (!forward || !spec || spec.getOptimizer() == OptimizerKind::none)
      return; // no optimizer: an inference-only plan
    // A model the backward pass cannot handle yet still gets its other entry points: the first
    // problem becomes a warning at its node, and the plan has no train_step.
    std::optional<Diagnostic> problem;
    LogicalResult built = failure();
    {
      // The handler is the context's, which other pipeline stages compiling on other threads
      // share: their errors pass through, as warnings do.
      uint64_t thread = llvm::get_threadid();
      ScopedDiagnosticHandler capture(&getContext(), [&](Diagnostic &diag) {
        if (diag.getSeverity() != DiagnosticSeverity::Error || llvm::get_threadid() != thread)
          return failure();
        if (!problem)
          problem.emplace(std::move(diag));
        return success();
      });
      built = buildTrainStep(module, forward);
    }
    if (succeeded(built))
      return;
    if (auto step = module.lookupSymbol<func::FuncOp>("train_step"))
      step.erase();
    InFlightDiagnostic warning = emitWarning(problem ? problem->getLocation() : module.getLoc());
    warning << "no train_step: " << (problem ? problem->str() : std::string("autodiff failed"));
  }

  /// Reverse mode over `forwardOps`: the gradient of every varied value that reaches `loss`.
  LogicalResult backward(OpBuilder &builder, func::ReturnOp ret, Value loss,
                         ArrayRef<Operation *> forwardOps, const llvm::DenseSet<Value> &varied,
                         llvm::DenseMap<Value, Value> &grads) {
    auto lossType = cast<RankedTensorType>(loss.getType());
    builder.setInsertionPoint(ret);
    grads[loss] = scalarConstant(builder, loss.getLoc(), lossType.getElementType(), 1.0);
    // The precision pass replaces the seed by the loss scale under fp16.
    grads[loss].getDefiningOp()->setAttr(nnc::attr::kLossSeed, builder.getUnitAttr());
    for (Operation *op : llvm::reverse(forwardOps)) {
      // nn.causal_attention's second result (its log-sum-exp) only serves its own backward op.
      bool differentiatedByFirst = op->getNumResults() == 1 || isa<CausalAttentionOp>(op);
      if (!differentiatedByFirst || !varied.contains(op->getResult(0)) ||
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
    return success();
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
        StringAttr name = arg ? nnc::attr::argString(step, index, nnc::attr::kParam) : nullptr;
        auto trainable =
            arg ? step.getArgAttrOfType<BoolAttr>(index, nnc::attr::kTrainable) : BoolAttr();
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

  LogicalResult buildTrainStep(ModuleOp module, func::FuncOp forward) {
    OpBuilder builder(module.getContext());
    builder.setInsertionPointAfter(forward);
    auto step = cast<func::FuncOp>(builder.clone(*forward));
    step.setSymName("train_step");
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Value loss = ret.getOperand(0);
    SmallVector<std::pair<Value, StringAttr>> runningStats;
    if (failed(expandBatchNorms(step, runningStats)))
      return failure();
    keyDropouts(step);

    // Only values that depend on a trainable parameter need a gradient: ops that merely
    // prepare inputs (label encodings, masks) need no VJP, and nn.stop_gradient cuts the path.
    // An input marked nn.differentiable = "<output>" (a pipeline stage's incoming activation)
    // gets a gradient too, returned as that output for the stage before.
    auto params = trainableParams(step);
    SmallVector<Value> roots;
    for (auto [param, name] : params)
      roots.push_back(param);
    SmallVector<std::pair<BlockArgument, StringAttr>> differentiableInputs;
    for (BlockArgument arg : body.getArguments())
      if (auto output = nnc::attr::argString(step, arg.getArgNumber(),
                                             nnc::attr::kDifferentiable)) {
        differentiableInputs.push_back({arg, output});
        roots.push_back(arg);
      }
    SmallVector<Operation *> forwardOps;
    llvm::DenseSet<Value> varied = variedValues(body, roots, forwardOps);
    llvm::DenseMap<Value, Value> grads;
    if (failed(backward(builder, ret, loss, forwardOps, varied, grads)))
      return failure();
    // The backward pass is built: the normalizations become elementwise ops again.
    step.walk([](nnc::nn::BatchNormTrainingOp op) {
      OpBuilder b(op);
      op.getResult().replaceAllUsesWith(nnc::nn::expandBatchNormTraining(b, op));
      op.erase();
    });

    SmallVector<Value> results = {loss};
    SmallVector<DictionaryAttr> resultAttrs = {
        nnc::attr::stringDict(builder, nnc::attr::kOutput, "loss")};
    for (auto [input, name] : differentiableInputs) {
      Value grad = grads.lookup(input);
      if (!grad)
        return step.emitError("the input whose gradient is '")
               << name.strref() << "' does not reach the loss";
      results.push_back(grad);
      resultAttrs.push_back(nnc::attr::stringDict(builder, nnc::attr::kOutput, name));
    }
    for (auto [param, name] : params) {
      Value grad = grads.lookup(param);
      if (!grad) {
        module.emitWarning("parameter '") << name.strref()
                                          << "' does not reach the loss: it is not trained";
        continue;
      }
      results.push_back(grad);
      resultAttrs.push_back(nnc::attr::stringDict(builder, nnc::attr::kGradient, name));
    }
    // Running statistics: updated every step, marked so data parallelism can average them.
    for (auto &[value, name] : runningStats) {
      results.push_back(value);
      resultAttrs.push_back(
          builder.getDictionaryAttr({builder.getNamedAttr(nnc::attr::kUpdates, name),
                                     builder.getNamedAttr(nnc::attr::kRunningStat,
                                                          builder.getUnitAttr())}));
    }
    builder.setInsertionPoint(ret);
    func::ReturnOp::create(builder, ret.getLoc(), results);
    ret.erase();
    step.setType(builder.getFunctionType(step.getArgumentTypes(), ValueRange(results).getTypes()));
    step.setAllResultAttrs(resultAttrs);
    step->setAttr(nnc::attr::kFlops, builder.getI64IntegerAttr(nnc::countFlops(step)));
    return success();
  }
};

} // namespace
