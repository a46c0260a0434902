// After bufferization: a loop that updates its result buffer in place (the embedding gradient's
// scatter) yields that buffer unchanged. Folded to the buffer itself, the kernel's result is seen
// to be its %out, which drop-equivalent-buffer-results then drops.
#include "compiler/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace nnc {
#define GEN_PASS_DEF_FOLDLOOPRESULTS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

struct FoldLoopResultsPass : nnc::impl::FoldLoopResultsBase<FoldLoopResultsPass> {
  void runOnOperation() override {
    // scf.for's canonicalization patterns (and the driver's folding), not the whole
    // canonicalizer: the kernels' other ops stay in the form the later passes match.
    RewritePatternSet patterns(&getContext());
    scf::ForOp::getCanonicalizationPatterns(patterns, &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
