// @forward -> @train_step: the forward pass, the backward pass (each op's vector-Jacobian
// product, DifferentiableOpInterface) and the optimizer update, as one function of `nn` ops.
//
// 1. Clone @forward; add the optimizer state (as parameters) and the per-step learning rate.
// 2. Seed d(loss) = 1 and visit the ops in reverse, summing the gradients of fanned-out values.
//    An op on the gradient path without a VJP is an error at the user's node, never a zero.
// 3. Update every trainable parameter (SGD with momentum / Nesterov / weight decay) and return
//    the loss followed by the new parameters and state, each marked `nn.updates = "<name>"`.
//
// Optimizers and options not built yet (Adam, AdamW, clipping) leave the plan without a train
// step, with a warning saying why.
#include "compiler/Passes.h"
#include "compiler/plan/Flops.h"

#include "dialects/nn/NNDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace nnc {
#define GEN_PASS_DEF_AUTODIFF
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc::nn;

namespace {

/// The SGD hyperparameters of the TrainingSpec (module attribute `nn.training`).
struct SgdOptions {
  double momentum = 0, weightDecay = 0;
  bool nesterov = false, decayAll = false;
};

double number(DictionaryAttr dict, StringRef key) {
  if (auto f = dict.getAs<FloatAttr>(key))
    return f.getValueAsDouble();
  return 0.0;
}

Value scalarConstant(OpBuilder &b, Location loc, Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  return ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getFloatAttr(elementType, value)));
}

struct AutodiffPass : nnc::impl::AutodiffBase<AutodiffPass> {
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
    if (kind.strref() != "sgd") {
      module.emitWarning("no train_step: optimizer '")
          << kind.strref() << "' is not implemented yet (SGD is)";
      return;
    }
    if (number(spec, "grad_clip_norm") > 0) {
      module.emitWarning("no train_step: gradient clipping is not implemented yet");
      return;
    }
    SgdOptions sgd;
    sgd.momentum = number(optimizer, "momentum");
    sgd.weightDecay = number(optimizer, "weight_decay");
    sgd.nesterov = optimizer.getAs<BoolAttr>("nesterov") &&
                   optimizer.getAs<BoolAttr>("nesterov").getValue();
    sgd.decayAll = optimizer.getAs<BoolAttr>("decay_all_parameters") &&
                   optimizer.getAs<BoolAttr>("decay_all_parameters").getValue();
    if (failed(buildTrainStep(module, forward, sgd)))
      signalPassFailure();
  }

  LogicalResult buildTrainStep(ModuleOp module, func::FuncOp forward, const SgdOptions &sgd) {
    OpBuilder builder(module.getContext());
    builder.setInsertionPointAfter(forward);
    auto step = cast<func::FuncOp>(builder.clone(*forward));
    step.setSymName("train_step");
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Value loss = ret.getOperand(0);
    Location loc = forward.getLoc();
    Type f32 = builder.getF32Type();

    // The trainable parameters, then their state and the learning rate as new arguments.
    SmallVector<std::pair<BlockArgument, StringAttr>> params;
    for (BlockArgument arg : body.getArguments()) {
      auto name = step.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "nn.param");
      auto trainable = step.getArgAttrOfType<BoolAttr>(arg.getArgNumber(), "nn.trainable");
      if (name && (!trainable || trainable.getValue()))
        params.push_back({arg, name});
    }
    SmallVector<BlockArgument> buffers;
    if (sgd.momentum != 0)
      for (auto [param, name] : params) {
        unsigned index = step.getNumArguments();
        (void)step.insertArgument(index, param.getType(),
                                  builder.getDictionaryAttr(
                                      {builder.getNamedAttr(
                                           "nn.param", builder.getStringAttr(name.str() + ".momentum")),
                                       builder.getNamedAttr(
                                           "nn.init", builder.getDictionaryAttr(builder.getNamedAttr(
                                                          "kind", builder.getStringAttr("zeros")))),
                                       builder.getNamedAttr("nn.trainable", builder.getBoolAttr(false))}),
                                  loc);
        buffers.push_back(body.getArgument(index));
      }
    unsigned lrIndex = step.getNumArguments();
    (void)step.insertArgument(
        lrIndex, RankedTensorType::get({}, f32),
        builder.getDictionaryAttr(
            builder.getNamedAttr("nn.input", builder.getStringAttr("nnc.learning_rate"))),
        loc);
    Value lr = body.getArgument(lrIndex);

    // Reverse mode over the forward ops.
    builder.setInsertionPoint(ret);
    llvm::DenseMap<Value, Value> grads;
    auto lossType = cast<RankedTensorType>(loss.getType());
    grads[loss] = scalarConstant(builder, loss.getLoc(), lossType.getElementType(), 1.0);
    SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator())
      forwardOps.push_back(&op);
    for (Operation *op : llvm::reverse(forwardOps)) {
      if (op->getNumResults() != 1 || !grads.count(op->getResult(0)))
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
        if (!grad)
          continue;
        Value &slot = grads[operand];
        slot = slot ? AddOp::create(builder, op->getLoc(), slot, grad).getResult() : grad;
      }
    }

    // SGD, as PyTorch's: g += wd p; buf = m buf + g; d = nesterov ? g + m buf : buf; p -= lr d.
    SmallVector<Value> results = {loss};
    SmallVector<DictionaryAttr> resultAttrs = {builder.getDictionaryAttr(
        builder.getNamedAttr("nn.output", builder.getStringAttr("loss")))};
    auto updates = [&](StringRef name) {
      return builder.getDictionaryAttr(
          builder.getNamedAttr("nn.updates", builder.getStringAttr(name)));
    };
    SmallVector<std::pair<Value, StringAttr>> newBuffers;
    for (auto [i, entry] : llvm::enumerate(params)) {
      auto [param, name] = entry;
      Value g = grads.lookup(param);
      if (!g) {
        module.emitWarning("parameter '") << name.strref()
                                          << "' does not reach the loss: it is not trained";
        continue;
      }
      Location ploc = NameLoc::get(name);
      Type elementType = cast<RankedTensorType>(param.getType()).getElementType();
      auto constant = [&](double v) { return scalarConstant(builder, ploc, elementType, v); };
      bool decays = sgd.weightDecay != 0 &&
                    (sgd.decayAll || cast<RankedTensorType>(param.getType()).getRank() >= 2);
      if (decays)
        g = AddOp::create(builder, ploc, g,
                          MulOp::create(builder, ploc, param, constant(sgd.weightDecay)));
      Value direction = g;
      if (sgd.momentum != 0) {
        Value buffer = buffers[i];
        Value next = AddOp::create(builder, ploc,
                                   MulOp::create(builder, ploc, buffer, constant(sgd.momentum)), g);
        newBuffers.push_back({next, builder.getStringAttr(name.str() + ".momentum")});
        direction = sgd.nesterov
                        ? AddOp::create(builder, ploc, g,
                                        MulOp::create(builder, ploc, next, constant(sgd.momentum)))
                              .getResult()
                        : next;
      }
      Value updated = SubOp::create(builder, ploc, param, MulOp::create(builder, ploc, direction, lr));
      results.push_back(updated);
      resultAttrs.push_back(updates(name.strref()));
    }
    for (auto [value, name] : newBuffers) {
      results.push_back(value);
      resultAttrs.push_back(updates(name.strref()));
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
