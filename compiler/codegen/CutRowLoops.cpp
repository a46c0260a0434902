// Row shares: a kernel marked by nnc-mark-rows, after convert-linalg-to-loops, runs the rows of
// share `part` of `parts` (its last two arguments), so that the runtime can run the shares on
// several threads at once.
#include "compiler/Passes.h"
#include "compiler/codegen/KernelAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace nnc {
#define GEN_PASS_DEF_CUTROWLOOPS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// After convert-linalg-to-loops: each top-level loop of a marked kernel (one per linalg op, its
/// first loop over the rows) runs only rows [part * chunk, (part + 1) * chunk) where
/// chunk = ceil(rows / parts), clamped to the rows.
LogicalResult cutRowLoops(func::FuncOp kernel) {
  auto rowsAttr = kernel->getAttrOfType<IntegerAttr>(nnc::kRowsAttr);
  if (!rowsAttr)
    return success();
  int64_t rows = rowsAttr.getInt();
  Value part = kernel.getArgument(kernel.getNumArguments() - 2);
  Value parts = kernel.getArgument(kernel.getNumArguments() - 1);
  for (auto loop : llvm::to_vector(kernel.getBody().front().getOps<scf::ForOp>())) {
    std::optional<int64_t> lb = getConstantIntValue(loop.getLowerBound());
    std::optional<int64_t> ub = getConstantIntValue(loop.getUpperBound());
    std::optional<int64_t> step = getConstantIntValue(loop.getStep());
    if (!lb || !ub || !step || *lb != 0 || *step < 1 || *ub != rows)
      return kernel.emitError("a row loop of a splittable kernel is not 0..") << rows;
    // Shares of whole iterations (tiles, where the loop steps by a tile).
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    auto constant = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
    int64_t iterations = (rows + *step - 1) / *step;
    Value chunk = arith::CeilDivUIOp::create(b, loc, constant(iterations), parts);
    Value first = arith::MinUIOp::create(
        b, loc, arith::MulIOp::create(b, loc, part, chunk), constant(iterations));
    Value last = arith::MinUIOp::create(b, loc, arith::AddIOp::create(b, loc, first, chunk),
                                        constant(iterations));
    Value begin = arith::MulIOp::create(b, loc, first, constant(*step));
    Value end = arith::MinUIOp::create(
        b, loc, arith::MulIOp::create(b, loc, last, constant(*step)), constant(rows));
    loop.getLowerBoundMutable().assign(begin);
    loop.getUpperBoundMutable().assign(end);
  }
  return success();
}

struct CutRowLoopsPass : nnc::impl::CutRowLoopsBase<CutRowLoopsPass> {
  void runOnOperation() override {
    if (failed(cutRowLoops(getOperation())))
      signalPassFailure();
  }
};

} // namespace
