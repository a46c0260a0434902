// Tensor parallelism after autodiff (distribute phase): what the update needs once
// nnc-tensor-parallel has split the forward pass and autodiff has differentiated it.
//
// 1. train.tensor_parallel_copy has done its work (its gradient is in the backward pass): it
//    becomes the identity.
// 2. The optimizer state of a split parameter is split like it (`nnc.shard` on its arguments;
//    with ZeRO-1 the state holds this rank's shard of the parameter's part).
// 3. A sum whose result nobody reads is dropped (a training step's gathered logits).
// 4. Global-norm clipping: the squared norm of the split gradients is summed over the ranks and
//    added to that of the replicated ones, which every rank holds whole (counted once).
// 5. Every function that takes a split parameter or state by name (accumulate_step passes the
//    optimizer state through) takes it with the same `nnc.shard`.
#include "compiler/Passes.h"

#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace nnc {
#define GEN_PASS_DEF_TENSORPARALLELUPDATE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

/// The `nnc.shard` of the parameter argument `v`, or null.
DenseI64ArrayAttr shardOf(func::FuncOp func, Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner()->getParentOp() != func.getOperation())
    return {};
  return func.getArgAttrOfType<DenseI64ArrayAttr>(arg.getArgNumber(), nnc::attr::kShard);
}

/// Marks every state argument an update op reads beside a split parameter as split alike, and
/// returns the gradients (before clipping) of the split parameters.
llvm::DenseSet<Value> shardState(func::FuncOp func) {
  llvm::DenseSet<Value> splitGrads;
  func.walk([&](Operation *op) {
    if (!isa<train::SgdOp, train::SgdMomentumOp, train::AdamOp>(op))
      return;
    // ZeRO-1 updates this rank's shard of the (split) parameter.
    Value param = op->getOperand(0);
    if (auto take = param.getDefiningOp<train::TakeShardOp>())
      param = take.getInput();
    DenseI64ArrayAttr shard = shardOf(func, param);
    if (!shard)
      return;
    for (OpOperand &operand : op->getOpOperands()) {
      auto arg = dyn_cast<BlockArgument>(operand.get());
      if (arg && operand.getOperandNumber() > 0 && arg.getType() == op->getOperand(0).getType() &&
          nnc::attr::argString(func, arg.getArgNumber(), nnc::attr::kParam))
        func.setArgAttr(arg.getArgNumber(), nnc::attr::kShard, shard);
    }
    Value grad = op->getOperand(1);
    if (auto clip = grad.getDefiningOp<train::ClipOp>())
      grad = clip.getGrad();
    splitGrads.insert(grad);
  });
  return splitGrads;
}

/// sqrt(|replicated|^2 + sum over the ranks of |split|^2) in place of `norm`.
void sumSplitNorm(train::GlobalNormOp norm, const llvm::DenseSet<Value> &splitGrads) {
  SmallVector<Value> split, whole;
  for (Value g : norm.getGrads())
    (splitGrads.contains(g) ? split : whole).push_back(g);
  if (split.empty())
    return;
  OpBuilder b(norm);
  Location loc = NameLoc::get(b.getStringAttr("tensor_parallel.grad_norm"), norm.getLoc());
  Value part = train::GlobalNormOp::create(b, loc, split);
  Value squared = nn::MulOp::create(b, loc, part, part);
  Value total = train::TensorParallelSumOp::create(b, loc, squared.getType(), squared,
                                                   b.getStringAttr("tensor"));
  if (!whole.empty()) {
    Value rest = train::GlobalNormOp::create(b, loc, whole);
    total = nn::AddOp::create(b, loc, nn::MulOp::create(b, loc, rest, rest), total);
  }
  norm.getNorm().replaceAllUsesWith(nn::SqrtOp::create(b, loc, total));
  norm.erase();
}

/// A sum nobody reads (the training step's copy of the gathered logits, which only evaluation
/// and prediction return) is dropped on every rank alike, with the dead ops before it: last
/// first, so that users go before their operands.
void dropUnreadSums(ModuleOp module) {
  for (auto func : module.getOps<func::FuncOp>()) {
    SmallVector<Operation *> ops;
    for (Operation &op : func.getBody().front().without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops))
      if (op->use_empty() &&
          (wouldOpBeTriviallyDead(op) || isa<train::TensorParallelSumOp>(op)))
        op->erase();
  }
}

/// Every function's argument of a split parameter or state carries its `nnc.shard`: the plan's
/// parameter table takes it from the first function that has the argument, which may only pass
/// it through (accumulate_step carries the optimizer state to apply_step, where it is split).
void shareShardsByName(ModuleOp module) {
  llvm::StringMap<DenseI64ArrayAttr> shards;
  auto eachParam = [&](auto visit) {
    for (auto func : module.getOps<func::FuncOp>())
      for (BlockArgument arg : func.getArguments())
        if (auto name = nnc::attr::argString(func, arg.getArgNumber(), nnc::attr::kParam))
          visit(func, arg.getArgNumber(), name.getValue());
  };
  eachParam([&](func::FuncOp func, unsigned i, StringRef name) {
    if (auto shard = func.getArgAttrOfType<DenseI64ArrayAttr>(i, nnc::attr::kShard))
      shards[name] = shard;
  });
  eachParam([&](func::FuncOp func, unsigned i, StringRef name) {
    if (DenseI64ArrayAttr shard = shards.lookup(name))
      func.setArgAttr(i, nnc::attr::kShard, shard);
  });
}

struct TensorParallelUpdatePass
    : nnc::impl::TensorParallelUpdateBase<TensorParallelUpdatePass> {
  void runOnOperation() override {
    bool split = false;
    getOperation().walk([&](train::TensorParallelCopyOp copy) {
      copy.getResult().replaceAllUsesWith(copy.getInput());
      copy.erase();
      split = true;
    });
    if (split) // a plan without tensor parallelism keeps its ops as they were
      dropUnreadSums(getOperation());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      llvm::DenseSet<Value> splitGrads = shardState(func);
      SmallVector<train::GlobalNormOp> norms;
      func.walk([&](train::GlobalNormOp norm) { norms.push_back(norm); });
      for (train::GlobalNormOp norm : norms)
        sumSplitNorm(norm, splitGrads);
    }
    shareShardsByName(getOperation());
  }
};

} // namespace
