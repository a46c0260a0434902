// @forward -> @predict (the model's outputs without the loss and without the graph inputs only
// the loss read) and @eval_step (the loss and the outputs), both with dropout as the identity.
// Records the FLOPs per call as `nnc.flops`.
#include "compiler/Passes.h"
#include "dialects/AttrNames.h"
#include "compiler/plan/Flops.h"

#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/BitVector.h"

namespace nnc {
#define GEN_PASS_DEF_EXTRACTPREDICT
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// Dropout is the identity outside training.
void removeDropouts(func::FuncOp function) {
  function.walk([](nnc::nn::DropoutOp op) {
    op.getResult().replaceAllUsesWith(op.getInput());
    op.erase();
  });
}

struct ExtractPredictPass : nnc::impl::ExtractPredictBase<ExtractPredictPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward) {
      module.emitError("expects a @forward function");
      return signalPassFailure();
    }
    OpBuilder builder(module.getContext());
    // Under nnc compile --inference @forward returns the outputs only: there is nothing to
    // evaluate, and predict is all of it.
    unsigned firstOutput = module->hasAttr(nnc::attr::kInference) ? 0 : 1;
    if (firstOutput == 1) {
      // @eval_step: the loss and the outputs on labelled data, dropout as the identity.
      builder.setInsertionPointAfter(forward);
      auto eval = cast<func::FuncOp>(builder.clone(*forward));
      eval.setSymName("eval_step");
      removeDropouts(eval);
      eval->setAttr(nnc::attr::kFlops, builder.getI64IntegerAttr(nnc::countFlops(eval)));
    }
    if (forward.getNumResults() <= firstOutput) { // only the loss: nothing to predict
      forward.erase();
      return;
    }
    builder.setInsertionPointAfter(forward);
    auto predict = cast<func::FuncOp>(builder.clone(*forward));
    predict.setSymName("predict");
    Block &body = predict.getBody().front();

    // Return the outputs only; the loss computation becomes dead.
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    SmallVector<Value> outputs(ret.getOperands().drop_front(firstOutput));
    builder.setInsertionPoint(ret);
    func::ReturnOp::create(builder, ret.getLoc(), outputs);
    ret.erase();
    removeDropouts(predict);
    // Erase dead ops, last first so that users go before their operands.
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      ops.push_back(&op);
    // A tensor-parallel sum only the loss read (the vocabulary-parallel loss's) goes too: every
    // rank's predict drops the same ones.
    for (Operation *op : llvm::reverse(ops))
      if (op->use_empty() &&
          (wouldOpBeTriviallyDead(op) || isa<nnc::train::TensorParallelSumOp>(op)))
        op->erase();

    // Drop graph inputs nothing reads any more (the labels); parameters stay, unused or not, so
    // that every function of the plan sees the whole parameter table.
    llvm::BitVector unused(predict.getNumArguments());
    for (BlockArgument arg : body.getArguments())
      if (arg.use_empty() && predict.getArgAttr(arg.getArgNumber(), nnc::attr::kInput))
        unused.set(arg.getArgNumber());
    if (failed(predict.eraseArguments(unused)))
      return signalPassFailure();
    predict.setType(builder.getFunctionType(predict.getArgumentTypes(),
                                            body.getTerminator()->getOperandTypes()));
    SmallVector<DictionaryAttr> resultAttrs;
    for (unsigned i = firstOutput; i < forward.getNumResults(); ++i)
      resultAttrs.push_back(forward.getResultAttrDict(i));
    predict.setAllResultAttrs(resultAttrs);
    predict->setAttr(nnc::attr::kFlops, builder.getI64IntegerAttr(nnc::countFlops(predict)));
    // The train step (autodiff) was built from @forward before; nothing else needs it.
    forward.erase();
  }
};

} // namespace
