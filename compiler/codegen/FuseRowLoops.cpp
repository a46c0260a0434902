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

constexpr uint64_t kCacheLine = 64;

/// The reassociation of `op` if it is a reshape that keeps dimension 0 as it is, else none.
std::optional<SmallVector<ReassociationIndices>> rowKeepingReshape(Operation *op) {
  SmallVector<ReassociationIndices> groups;
  if (auto collapse = dyn_cast<memref::CollapseShapeOp>(op))
    groups = collapse.getReassociationIndices();
  else if (auto expand = dyn_cast<memref::ExpandShapeOp>(op))
    groups = expand.getReassociationIndices();
  if (groups.empty() || groups.front() != ReassociationIndices{0})
    return std::nullopt;
  return groups;
}

/// The loads and stores of `buffer` (in `accesses`) and the row-keeping reshapes they go through
/// (in `views`, each after its source); false if anything else uses it but deallocations.
bool collectAccesses(Value buffer, SmallVectorImpl<OpOperand *> &accesses,
                     SmallVectorImpl<Operation *> &views) {
  for (OpOperand &use : buffer.getUses()) {
    Operation *user = use.getOwner();
    if (isa<memref::DeallocOp>(user))
      continue;
    if (accessIndices(use)) {
      accesses.push_back(&use);
      continue;
    }
    if (!rowKeepingReshape(user))
      return false;
    views.push_back(user);
    if (!collectAccesses(user->getResult(0), accesses, views))
      return false;
  }
  return true;
}

/// A buffer of the kernel's own that is only read and written at the current row (what one op
/// passes to the next) needs one row, reused by every iteration: it stays in cache. The row is
/// the slice at the fused loops' indices `ivs`, as far as every access is at them; through a
/// reshape that keeps dimension 0 (a pooling's second pass reads its first's rows flattened),
/// the slice at the first index only.
void shrinkRowBuffers(ArrayRef<Operation *> candidates, ArrayRef<Value> ivs) {
  SmallVector<Operation *> replaced; // reshapes rebuilt on a row, erased after the walk
  for (Operation *op : candidates) {
    auto alloc = dyn_cast<memref::AllocOp>(op);
    if (!alloc || alloc.getType().getRank() == 0 || !alloc.getType().hasStaticShape())
      continue;
    SmallVector<OpOperand *> accesses;
    SmallVector<Operation *> views;
    if (!collectAccesses(alloc, accesses, views))
      continue;
    // How many of the fused loops' indices every load and store uses, in order.
    int64_t shared = std::min<int64_t>(views.empty() ? ivs.size() : 1, alloc.getType().getRank());
    for (OpOperand *use : accesses) {
      std::optional<MutableOperandRange> indices = accessIndices(*use);
      int64_t same = 0;
      while (same < shared && (*indices)[same].get() == ivs[same])
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
    // Aligned to a cache line, as the plan's buffers are: malloc's 16-byte alignment split the
    // vector stores of a pooling gradient's rows across lines (3x slower).
    rowBuffer.setAlignment(kCacheLine);
    Value zero = arith::ConstantIndexOp::create(b, alloc.getLoc(), 0);
    for (OpOperand *use : accesses) {
      std::optional<MutableOperandRange> indices = accessIndices(*use);
      for (int64_t d = 0; d < shared; ++d)
        (*indices)[d].set(zero);
    }
    alloc->replaceAllUsesWith(rowBuffer);
    alloc.erase();
    // Each reshape again, of one row (sources first).
    for (Operation *view : views) {
      b.setInsertionPoint(view);
      SmallVector<ReassociationIndices> groups = *rowKeepingReshape(view);
      Value source = view->getOperand(0);
      Value row;
      if (isa<memref::CollapseShapeOp>(view)) {
        row = memref::CollapseShapeOp::create(b, view->getLoc(), source, groups);
      } else {
        SmallVector<int64_t> rowShape(cast<MemRefType>(view->getResult(0).getType()).getShape());
        rowShape[0] = 1;
        row = memref::ExpandShapeOp::create(b, view->getLoc(), rowShape, source, groups);
      }
      view->replaceAllUsesWith(ValueRange{row});
      replaced.push_back(view);
    }
  }
  for (Operation *view : llvm::reverse(replaced))
    view->erase();
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
