// Column reductions recast with a parallel first loop, so that the CPU codegen splits them
// across threads, after adjacent reduction loops over contiguous elements are merged (see
// Passes.td).
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SmallBitVector.h"

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

/// Whether an accumulator's `map` indexes columns: distinct loops other than loop 0, or 0 (a
/// kept dimension of size 1, as nn.reduce_sum with keepdim writes), and at least one loop.
bool indexesColumns(AffineMap map) {
  llvm::SmallBitVector seen(map.getNumDims());
  for (AffineExpr expr : map.getResults()) {
    if (auto constant = dyn_cast<AffineConstantExpr>(expr); constant && constant.getValue() == 0)
      continue;
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim || dim.getPosition() == 0 || seen.test(dim.getPosition()))
      return false;
    seen.set(dim.getPosition());
  }
  return seen.any();
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
          !indexesColumns(map))
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

/// Merges two adjacent reduction loops that every operand indexes as adjacent whole dimensions,
/// in the same order, or not at all: their elements are contiguous, so one loop covers them.
/// A batch norm's per-channel sums over (N, H, W) of a 28 x 28 image ran an inner loop of 28
/// (a vector, a remainder and a horizontal sum per row); over H * W = 784 it vectorizes.
struct MergeReductionLoops : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  /// Where `map` indexes loops `i` and `i + 1`: the first of two adjacent results, -1 where it
  /// indexes neither, -2 where it cannot be merged.
  static int64_t mergedResult(AffineMap map, ArrayRef<int64_t> shape, ArrayRef<int64_t> ranges,
                              unsigned i) {
    std::optional<unsigned> first, second;
    for (auto [k, expr] : llvm::enumerate(map.getResults())) {
      auto dim = dyn_cast<AffineDimExpr>(expr);
      auto constant = dyn_cast<AffineConstantExpr>(expr);
      if (!dim && !(constant && constant.getValue() == 0))
        return -2;
      if (dim && dim.getPosition() == i)
        first = k;
      if (dim && dim.getPosition() == i + 1)
        second = k;
    }
    if (!first && !second)
      return -1;
    if (!first || !second || *second != *first + 1 || shape[*first] != ranges[i] ||
        shape[*second] != ranges[i + 1])
      return -2;
    return *first;
  }

  LogicalResult matchAndRewrite(linalg::GenericOp op, PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || !op.getBody()->getOps<linalg::IndexOp>().empty())
      return failure();
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (llvm::any_of(ranges, ShapedType::isDynamic))
      return failure();
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    for (unsigned i = 0; i + 1 < iterators.size(); ++i) {
      if (iterators[i] != utils::IteratorType::reduction ||
          iterators[i + 1] != utils::IteratorType::reduction)
        continue;
      SmallVector<int64_t> merged;
      for (OpOperand &operand : op->getOpOperands()) {
        auto type = cast<RankedTensorType>(operand.get().getType());
        int64_t at = mergedResult(op.getMatchingIndexingMap(&operand), type.getShape(), ranges, i);
        // The results keep their types: an accumulator indexed by the loops cannot merge.
        merged.push_back(op.isDpsInit(&operand) && at >= 0 ? -2 : at);
      }
      if (llvm::is_contained(merged, -2))
        continue;
      merge(op, i, merged, rewriter);
      return success();
    }
    return failure();
  }

  static void merge(linalg::GenericOp op, unsigned i, ArrayRef<int64_t> merged,
                    PatternRewriter &rewriter) {
    MLIRContext *ctx = rewriter.getContext();
    Location loc = op.getLoc();
    unsigned loops = op.getNumLoops();
    // Loop i + 1 goes into loop i; the later ones move down by one.
    SmallVector<AffineExpr> dims;
    for (unsigned d = 0; d < loops; ++d)
      dims.push_back(getAffineDimExpr(d <= i ? d : d - 1, ctx));
    SmallVector<Value> inputs, inits;
    SmallVector<AffineMap> maps;
    for (auto [operand, at] : llvm::zip(op->getOpOperands(), merged)) {
      AffineMap map = op.getMatchingIndexingMap(&operand);
      Value value = operand.get();
      if (at >= 0) {
        map = map.dropResult(at + 1);
        auto type = cast<RankedTensorType>(value.getType());
        SmallVector<ReassociationIndices> groups;
        for (int64_t k = 0; k < type.getRank(); ++k)
          if (k != at + 1)
            groups.push_back(k == at ? ReassociationIndices{k, k + 1} : ReassociationIndices{k});
        value = tensor::CollapseShapeOp::create(rewriter, loc, value, groups);
      }
      maps.push_back(map.replaceDimsAndSymbols(dims, {}, loops - 1, 0));
      (op.isDpsInit(&operand) ? inits : inputs).push_back(value);
    }
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    iterators.erase(iterators.begin() + i + 1);
    auto mergedOp = linalg::GenericOp::create(rewriter, loc, op->getResultTypes(), inputs, inits,
                                              maps, iterators);
    rewriter.inlineRegionBefore(op.getRegion(), mergedOp.getRegion(), mergedOp.getRegion().end());
    rewriter.replaceOp(op, mergedOp.getResults());
  }
};

struct SplitColumnReductionsPass
    : nnc::impl::SplitColumnReductionsBase<SplitColumnReductionsPass> {
  void runOnOperation() override {
    // Merged first, so that the shares split the merged rows.
    RewritePatternSet merges(&getContext()), splits(&getContext());
    merges.add<MergeReductionLoops>(&getContext());
    splits.add<SplitColumnReduction>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(merges))) ||
        failed(applyPatternsGreedily(getOperation(), std::move(splits))))
      signalPassFailure();
  }
};

} // namespace
