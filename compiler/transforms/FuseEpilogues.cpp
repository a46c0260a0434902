// relu(linear) / relu(conv2d) -> linear / conv2d with activation = "relu", when the relu is the
// contraction's only user: the library call (oneDNN post-op) then does both in one pass.
#include "compiler/Passes.h"

#include "dialects/nn/NNDialect.h"

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
        producer->hasAttr("activation"))
      return failure();
    rewriter.modifyOpInPlace(producer, [&] {
      producer->setAttr("activation", rewriter.getStringAttr("relu"));
      // The fused op now computes the relu node's value: report under its name too.
      producer->setLoc(rewriter.getFusedLoc({producer->getLoc(), relu.getLoc()}));
    });
    rewriter.replaceOp(relu, producer->getResults());
    return success();
  }
};

struct FuseEpiloguesPass : nnc::impl::FuseEpiloguesBase<FuseEpiloguesPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseRelu>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
