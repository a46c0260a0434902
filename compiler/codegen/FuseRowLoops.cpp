// The loop nests of a row group (nnc-mark-rows' `nnc.fuse_rows`), after convert-linalg-to-loops,
// run as one loop over the rows, so that each op reads what earlier ones wrote from cache.
#include "compiler/Passes.h"
#include "compiler/codegen/KernelAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace nnc {
#define GEN_PASS_DEF_FUSEROWLOOPS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// Whether `loops` all run over the same constant bounds with step 1 and have no results.
bool sameConstantBounds(ArrayRef<scf::ForOp> loops) {
  scf::ForOp first = loops.front();
  auto lower = getConstantIntValue(first.getLowerBound());
  auto upper = getConstantIntValue(first.getUpperBound());
  return lower && upper && llvm::all_of(loops, [&](scf::ForOp loop) {
    return loop.getNumResults() == 0 && getConstantIntValue(loop.getLowerBound()) == lower &&
           getConstantIntValue(loop.getUpperBound()) == upper &&
           getConstantIntValue(loop.getStep()) == std::optional<int64_t>(1);
  });
}

/// Merges `loops` (sameConstantBounds, in one block) into the first: its body runs every loop's
/// body in order.
scf::ForOp mergeLoops(ArrayRef<scf::ForOp> loops) {
  scf::ForOp first = loops.front();
  Value iv = first.getInductionVar();
  Operation *yield = first.getBody()->getTerminator();
  for (scf::ForOp loop : loops.drop_front()) {
    loop.getInductionVar().replaceAllUsesWith(iv);
    Block *from = loop.getBody();
    yield->getBlock()->getOperations().splice(yield->getIterator(), from->getOperations(),
                                              from->begin(), std::prev(from->end()));
    loop.erase();
  }
  return first;
}

/// The indices at which `use` of a buffer loads or stores it; none for other uses.
std::optional<MutableOperandRange> accessIndices(OpOperand &use) {
  if (auto load = dyn_cast<memref::LoadOp>(use.getOwner()))
    return load.getIndicesMutable();
  if (auto store = dyn_cast<memref::StoreOp>(use.getOwner()); store && use.getOperandNumber() == 1)
    return store.getIndicesMutable();
  return std::nullopt;
}

/// A buffer of the kernel's own that is only read and written at the current row (what one op
/// passes to the next) needs one row, reused by every iteration: it stays in cache. The row is
/// the slice at the fused loops' indices `ivs`, as far as every access is at them.
void shrinkRowBuffers(ArrayRef<Operation *> candidates, ArrayRef<Value> ivs) {
  for (Operation *op : candidates) {
    auto alloc = dyn_cast<memref::AllocOp>(op);
    if (!alloc || alloc.getType().getRank() == 0 || !alloc.getType().hasStaticShape())
      continue;
    // How many of the fused loops' indices every load and store uses, in order.
    int64_t shared = std::min<int64_t>(ivs.size(), alloc.getType().getRank());
    for (OpOperand &use : alloc->getUses()) {
      if (isa<memref::DeallocOp>(use.getOwner()))
        continue;
      std::optional<MutableOperandRange> indices = accessIndices(use);
      int64_t same = 0;
      while (indices && same < shared && (*indices)[same].get() == ivs[same])
        ++same;
      shared = same;
    }
    if (shared == 0)
      continue;
    SmallVector<int64_t> shape(alloc.getType().getShape());
    std::fill_n(shape.begin(), shared, 1);
    OpBuilder b(alloc);
    auto rowBuffer = memref::AllocOp::create(
        b, alloc.getLoc(), MemRefType::get(shape, alloc.getType().getElementType()));
    Value zero = arith::ConstantIndexOp::create(b, alloc.getLoc(), 0);
    for (OpOperand &use : llvm::make_early_inc_range(alloc->getUses())) {
      if (std::optional<MutableOperandRange> indices = accessIndices(use))
        for (int64_t d = 0; d < shared; ++d)
          (*indices)[d].set(zero);
      use.set(rowBuffer);
    }
    alloc.erase();
  }
}

/// In a kernel marked `nnc.fuse_rows` with depth n: the loop nests' first loops (all 0..rows,
/// step 1) become one, each iteration running every nest's body for that row in order; then the
/// loops directly inside it the same way, down to n levels. Allocations and views move before the
/// loop, deallocations after it.
void fuseRowLoops(func::FuncOp kernel) {
  auto depthAttr = kernel->getAttrOfType<IntegerAttr>(nnc::kFuseRowsAttr);
  if (!depthAttr)
    return;
  kernel->removeAttr(nnc::kFuseRowsAttr);
  Block &body = kernel.getBody().front();
  SmallVector<scf::ForOp> loops;
  SmallVector<Operation *> before, after;
  for (Operation &op : body.without_terminator()) {
    if (auto loop = dyn_cast<scf::ForOp>(op))
      loops.push_back(loop);
    else if (isa<memref::DeallocOp>(op))
      after.push_back(&op);
    else
      before.push_back(&op);
  }
  if (loops.size() < 2 || !sameConstantBounds(loops))
    return;
  for (Operation *op : before)
    op->moveBefore(loops[0]);
  for (Operation *op : after)
    op->moveBefore(body.getTerminator());
  scf::ForOp fused = mergeLoops(loops);
  SmallVector<Value> ivs = {fused.getInductionVar()};
  // Inner levels: the merged body is again one loop per nest.
  while (static_cast<int64_t>(ivs.size()) < depthAttr.getInt()) {
    SmallVector<scf::ForOp> inner;
    for (Operation &op : fused.getBody()->without_terminator())
      if (auto loop = dyn_cast<scf::ForOp>(op))
        inner.push_back(loop);
    if (inner.size() < 2 || inner.size() + 1 != fused.getBody()->getOperations().size() ||
        !sameConstantBounds(inner))
      break;
    fused = mergeLoops(inner);
    ivs.push_back(fused.getInductionVar());
  }
  shrinkRowBuffers(before, ivs);
}

struct FuseRowLoopsPass : nnc::impl::FuseRowLoopsBase<FuseRowLoopsPass> {
  void runOnOperation() override { fuseRowLoops(getOperation()); }
};

} // namespace
