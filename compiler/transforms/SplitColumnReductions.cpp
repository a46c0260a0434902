// Column reductions recast with a parallel first loop, so that the CPU codegen splits them
// across threads (see Passes.td).
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace nnc {
#define GEN_PASS_DEF_SPLITCOLUMNREDUCTIONS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// Row shares: a few, so that any thread count up to them keeps every thread busy.
constexpr int64_t kShares = 8;
/// Reductions of fewer iterations stay whole (the codegen does not split them either).
constexpr int64_t kMinWork = 1 << 15;

/// The value added to the accumulator when `op` sums into its init `index`: the body yields
/// `out + x` (or `x + out`) for that init's block argument, which nothing else reads (so the
/// partial sums of any split of the rows add up to the whole).
Value summand(linalg::GenericOp op, int64_t index) {
  Value out = op.getBody()->getArgument(op.getNumDpsInputs() + index);
  if (!out.hasOneUse())
    return Value();
  auto add = op.getBody()->getTerminator()->getOperand(index).getDefiningOp<arith::AddFOp>();
  if (!add || add->getBlock() != op.getBody())
    return Value();
  if (add.getLhs() == out && add.getRhs() != out)
    return add.getRhs();
  if (add.getRhs() == out && add.getLhs() != out)
    return add.getLhs();
  return Value();
}

struct SplitColumnReduction : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp op, PatternRewriter &rewriter) const override {
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    if (!op.hasPureTensorSemantics() || iterators.empty() ||
        iterators[0] != utils::IteratorType::reduction || op.getNumDpsInits() == 0 ||
        !op.getBody()->getOps<linalg::IndexOp>().empty())
      return failure();
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    int64_t work = 1;
    for (int64_t range : ranges)
      work = ShapedType::isDynamic(range) ? 0 : work * range;
    // (More rows than shares: a sum of the partials is not split again.)
    if (work < kMinWork || ranges[0] % kShares || ranges[0] == kShares)
      return failure();
    // Sums into zero-filled accumulators of rank 1 or more (columns), indexed by parallel loops
    // only. (Split sums down to a scalar made LLVM's backend take seconds on the MLP's
    // kernels; they stay whole.)
    for (auto [i, init] : llvm::enumerate(op.getDpsInitsMutable())) {
      auto fill = init.get().getDefiningOp<linalg::FillOp>();
      AffineMap map = op.getMatchingIndexingMap(&init);
      if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()) || !summand(op, i) ||
          map.getNumResults() == 0 ||
          !map.isProjectedPermutation(/*allowZeroInResults=*/true) || map.isFunctionOfDim(0))
        return failure();
    }

    // Loop 0 is the share, loop d + 1 old loop d; old loop 0 becomes the row within the share,
    // so an operand it indexes has that dimension expanded to (shares, rows per share).
    MLIRContext *ctx = rewriter.getContext();
    Location loc = op.getLoc();
    unsigned loops = ranges.size();
    int64_t rows = ranges[0] / kShares;
    SmallVector<AffineMap> maps;
    SmallVector<Value> inputs, partials;
    for (OpOperand &operand : op->getOpOperands()) {
      AffineMap map = op.getMatchingIndexingMap(&operand);
      auto type = cast<RankedTensorType>(operand.get().getType());
      SmallVector<AffineExpr> results;
      SmallVector<int64_t> shape;
      SmallVector<ReassociationIndices> groups;
      if (op.isDpsInit(&operand)) { // a partial sum per share: (share, result...)
        results.push_back(getAffineDimExpr(0, ctx));
        shape.push_back(kShares);
      }
      for (auto [k, expr] : llvm::enumerate(map.getResults())) {
        int64_t at = results.size();
        auto dim = dyn_cast<AffineDimExpr>(expr);
        if (dim && dim.getPosition() == 0) {
          groups.push_back({at, at + 1});
          results.append({getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)});
          shape.append({kShares, rows});
        } else {
          groups.push_back({at});
          results.push_back(expr.shiftDims(loops, 1));
          shape.push_back(type.getDimSize(k));
        }
      }
      maps.push_back(AffineMap::get(loops + 1, 0, results, ctx));
      auto expanded = RankedTensorType::get(shape, type.getElementType());
      if (op.isDpsInit(&operand)) {
        Value empty = tensor::EmptyOp::create(rewriter, loc, shape, type.getElementType());
        Value zero = operand.get().getDefiningOp<linalg::FillOp>().getInputs()[0];
        partials.push_back(linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0));
      } else {
        inputs.push_back(expanded == type ? operand.get()
                                          : tensor::ExpandShapeOp::create(
                                                rewriter, loc, expanded, operand.get(), groups));
      }
    }
    iterators.insert(iterators.begin(), utils::IteratorType::parallel);
    auto shared = linalg::GenericOp::create(rewriter, loc, ValueRange(partials).getTypes(),
                                            inputs, partials, maps, iterators);
    rewriter.inlineRegionBefore(op.getRegion(), shared.getRegion(), shared.getRegion().end());

    // The shares' partial sums, added up (a few rows: one thread).
    SmallVector<Value> results;
    for (auto [partial, init] : llvm::zip(shared.getResults(), op.getDpsInits())) {
      auto type = cast<RankedTensorType>(init.getType());
      int64_t rank = type.getRank();
      SmallVector<utils::IteratorType> sumIterators(rank + 1, utils::IteratorType::parallel);
      sumIterators[0] = utils::IteratorType::reduction;
      auto sum = linalg::GenericOp::create(
          rewriter, loc, type, partial, init,
          {AffineMap::getMultiDimIdentityMap(rank + 1, ctx),
           AffineMap::getMultiDimIdentityMap(rank + 1, ctx).dropResult(0)},
          sumIterators, [](OpBuilder &b, Location l, ValueRange args) {
            linalg::YieldOp::create(b, l, ValueRange{arith::AddFOp::create(b, l, args[1], args[0])});
          });
      results.push_back(sum.getResult(0));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct SplitColumnReductionsPass
    : nnc::impl::SplitColumnReductionsBase<SplitColumnReductionsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<SplitColumnReduction>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
