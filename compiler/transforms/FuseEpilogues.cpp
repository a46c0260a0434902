// nn-level fusions before lowering:
// - relu(linear) / relu(conv2d) -> linear / conv2d with activation = "relu", when the relu is the
//   contraction's only user: the library call (oneDNN post-op) then does both in one pass.
// - A sum of zero-padded tensors that tile one axis -> their concatenation: the gradient of
//   slices that split a tensor (attention's q, k and v of one projection) is the concatenation of
//   their gradients, not full-size padded copies added up.
// - With conv-bias-gradients: reduce_sum(g, [0, 2, 3]) beside conv2d_grad_weight(x, g) -> one
//   conv2d_grad_weight with both results (oneDNN sums diff_bias while it streams g).
#include "compiler/Passes.h"

#include "dialects/nn/NNDialect.h"

#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace nnc {
#define GEN_PASS_DEF_FUSEEPILOGUES
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc::nn;

namespace {

struct FuseRelu : OpRewritePattern<ReluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReluOp relu, PatternRewriter &rewriter) const override {
    Operation *producer = relu.getInput().getDefiningOp();
    if (!producer || !isa<LinearOp, Conv2dOp>(producer) || !producer->hasOneUse() ||
        fusedActivation(producer))
      return failure();
    rewriter.modifyOpInPlace(producer, [&] {
      if (auto linear = dyn_cast<LinearOp>(producer))
        linear.setActivation(Activation::relu);
      else
        cast<Conv2dOp>(producer).setActivation(Activation::relu);
      // The fused op now computes the relu node's value: report under its name too.
      producer->setLoc(rewriter.getFusedLoc({producer->getLoc(), relu.getLoc()}));
    });
    rewriter.replaceOp(relu, producer->getResults());
    return success();
  }
};

struct SumOfPadsToConcat : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp root, PatternRewriter &rewriter) const override {
    // The leaves of the tree of single-use adds under `root`.
    SmallVector<PadOp> pads;
    SmallVector<Value> worklist = {root.getLhs(), root.getRhs()};
    while (!worklist.empty()) {
      Value v = worklist.pop_back_val();
      if (auto add = v.getDefiningOp<AddOp>(); add && add->hasOneUse()) {
        worklist.append({add.getLhs(), add.getRhs()});
      } else if (auto pad = v.getDefiningOp<PadOp>(); pad && pad->hasOneUse() &&
                                                       pad.getType() == root.getType()) {
        pads.push_back(pad);
      } else {
        return failure();
      }
    }
    // All padded along one axis only, without interior padding, tiling it without overlap.
    std::optional<int64_t> axis;
    for (PadOp pad : pads) {
      if (pad.getInterior() && llvm::any_of(*pad.getInterior(), [](int64_t i) { return i; }))
        return failure();
      for (auto [d, low, high] : llvm::enumerate(pad.getLow(), pad.getHigh())) {
        if (low == 0 && high == 0)
          continue;
        if (axis && *axis != static_cast<int64_t>(d))
          return failure();
        axis = d;
      }
    }
    if (!axis)
      return failure();
    llvm::sort(pads, [&](PadOp a, PadOp b) { return a.getLow()[*axis] < b.getLow()[*axis]; });
    int64_t next = 0;
    SmallVector<Value> parts;
    for (PadOp pad : pads) {
      if (pad.getLow()[*axis] != next)
        return failure();
      next += cast<RankedTensorType>(pad.getInput().getType()).getDimSize(*axis);
      parts.push_back(pad.getInput());
    }
    if (next != root.getType().getDimSize(*axis))
      return failure();
    rewriter.replaceOpWithNewOp<ConcatOp>(root, root.getType(), parts, *axis);
    return success();
  }
};

struct FoldConvBiasGradient : OpRewritePattern<ReduceSumOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReduceSumOp sum, PatternRewriter &rewriter) const override {
    Value g = sum.getInput();
    auto gType = dyn_cast<RankedTensorType>(g.getType());
    if (!gType || gType.getRank() != 4 || sum.getKeepdim() ||
        sum.getAxes() != ArrayRef<int64_t>{0, 2, 3})
      return failure();
    // The weight gradient reads g, or under mixed precision the bf16 or f16 tensor that the sum
    // reads widened to f32.
    SmallVector<Value, 2> grads = {g};
    if (auto widened = g.getDefiningOp<CastOp>())
      grads.push_back(widened.getInput());
    SmallVector<Conv2dGradWeightOp> weightGrads;
    for (Value grad : grads)
      for (OpOperand &use : grad.getUses())
        if (auto weightGrad = dyn_cast<Conv2dGradWeightOp>(use.getOwner());
            weightGrad && &use == &weightGrad.getGradMutable())
          weightGrads.push_back(weightGrad);
    for (Conv2dGradWeightOp weightGrad : weightGrads) {
      Value grad = weightGrad.getGrad();
      if (weightGrad.getWithBias() || weightGrad->getBlock() != sum->getBlock() ||
          convBiasGradElementType(cast<RankedTensorType>(grad.getType()).getElementType()) !=
              sum.getType().getElementType())
        continue;
      // The fused op takes the earlier one's place, where both of its operands must exist.
      Operation *first = weightGrad->isBeforeInBlock(sum) ? weightGrad.getOperation() : sum;
      DominanceInfo dominance(first->getParentOp());
      if (!dominance.properlyDominates(weightGrad.getInput(), first) ||
          !dominance.properlyDominates(grad, first))
        continue;
      rewriter.setInsertionPoint(first);
      auto fused = Conv2dGradWeightOp::create(
          rewriter, rewriter.getFusedLoc({weightGrad.getLoc(), sum.getLoc()}),
          weightGrad.getInput(), grad, weightGrad.getShapeAttr(), weightGrad.getStrideAttr(),
          weightGrad.getPaddingAttr(), weightGrad.getDilationAttr(), weightGrad.getGroupsAttr(),
          /*with_bias=*/rewriter.getUnitAttr());
      rewriter.replaceOp(weightGrad, fused.getResult());
      rewriter.replaceOp(sum, fused.getBiasGrad());
      return success();
    }
    return failure();
  }
};

struct FuseEpiloguesPass : nnc::impl::FuseEpiloguesBase<FuseEpiloguesPass> {
  using FuseEpiloguesBase::FuseEpiloguesBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseRelu, SumOfPadsToConcat>(&getContext());
    if (convBiasGradients)
      patterns.add<FoldConvBiasGradient>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
