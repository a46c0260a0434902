// Which bufferized kernels run row by row (nnc-fuse-row-loops) and in row shares on several
// threads (nnc-cut-row-loops, the library's `_part` entries): see RowShape.
#include "compiler/Passes.h"
#include "compiler/codegen/KernelAttrs.h"
#include "compiler/conversion/LinalgBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace nnc {
#define GEN_PASS_DEF_MARKROWS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// The row structure of a bufferized kernel. Its rows (0: none) are the extent of the first
/// loop of every linalg op of its body when each such loop is parallel, indexes the first
/// dimension of every buffer the op writes and of every buffer an earlier op wrote that it reads,
/// and nothing else (views, constants, allocations) is in the body. Then every loop nest touches
/// row r of what the kernel writes only at iteration r of its first loop: the nests' first loops
/// may run as one (row by row), and shares of them on several threads at once. The same may hold
/// of the first `depth` loops together (a softmax over 32x4x128x128 has depth 3): the nests then
/// run as one down to rows of the innermost dimensions, which stay in the L1 cache.
struct RowShape {
  int64_t rows = 0;
  int64_t depth = 0;
  int64_t work = 0;  // iterations of all nests
  int64_t nests = 0; // linalg ops
  bool transposes = false; // a linalg.transpose among them (vectorized with its own loop steps)
};

/// Kernels with less than kSplitWork iterations stay whole (waking a thread costs more).
constexpr int64_t kSplitWork = 1 << 15;

/// Whether the reshape `groups` keeps each of the first `depth` dimensions as it is.
bool keepsLeadingDims(ArrayRef<ReassociationIndices> groups, int64_t depth) {
  if (static_cast<int64_t>(groups.size()) < depth)
    return false;
  for (int64_t d = 0; d < depth; ++d)
    if (groups[d] != ReassociationIndices{d})
      return false;
  return true;
}

/// The buffer `value` is a view of, through views that keep every slice of the first `depth`
/// dimensions in place: subviews of all of them, reshapes that leave them alone (other reshapes
/// move them and stop the walk).
Value viewedBuffer(Value value, int64_t depth) {
  while (Operation *def = value.getDefiningOp()) {
    if (auto collapse = dyn_cast<memref::CollapseShapeOp>(def)) {
      if (!keepsLeadingDims(collapse.getReassociationIndices(), depth))
        return value;
      value = collapse.getSrc();
      continue;
    }
    if (auto expand = dyn_cast<memref::ExpandShapeOp>(def)) {
      if (!keepsLeadingDims(expand.getReassociationIndices(), depth))
        return value;
      value = expand.getSrc();
      continue;
    }
    auto view = dyn_cast<memref::SubViewOp>(def);
    if (!view)
      return value;
    auto source = cast<MemRefType>(view.getSource().getType());
    if (source.getRank() != view.getType().getRank() || source.getRank() < depth)
      return value;
    for (int64_t d = 0; d < depth; ++d)
      if (view.getStaticOffsets()[d] != 0 || view.getStaticStrides()[d] != 1 ||
          view.getStaticSizes()[d] != source.getDimSize(d))
        return value;
    value = view.getSource();
  }
  return value;
}

/// The kernel's row shape when its nests line up over their first `depth` loops (rows 0 if not).
RowShape rowShape(func::FuncOp kernel, int64_t depth) {
  RowShape shape;
  SmallVector<int64_t> extents; // of the first `depth` loops, the same in every nest
  llvm::SmallPtrSet<Value, 4> written;
  for (Operation &op : kernel.getBody().front()) {
    if (isa<func::ReturnOp, arith::ConstantOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
            memref::CastOp, memref::SubViewOp, memref::AllocOp, memref::DeallocOp>(op))
      continue;
    auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
    if (!linalgOp || !linalgOp.hasPureBufferSemantics() || linalgOp.getNumLoops() < depth)
      return RowShape();
    auto iterators = linalgOp.getIteratorTypesArray();
    if (llvm::any_of(ArrayRef(iterators).take_front(depth),
                     [](utils::IteratorType t) { return t != utils::IteratorType::parallel; }))
      return RowShape();
    SmallVector<int64_t> ranges = linalgOp.getStaticLoopRanges();
    int64_t iterations = 1;
    for (int64_t range : ranges) {
      if (ShapedType::isDynamic(range))
        return RowShape();
      iterations *= range;
    }
    ArrayRef<int64_t> leading = ArrayRef(ranges).take_front(depth);
    if (!extents.empty() && ArrayRef(extents) != leading)
      return RowShape();
    extents.assign(leading.begin(), leading.end());
    // Reads of what an earlier op wrote: the same slice (an init is read and written in place).
    for (OpOperand *input : linalgOp.getDpsInputOperands()) {
      Value base = input->get();
      while (Operation *def = base.getDefiningOp()) {
        if (!isa<memref::ExpandShapeOp, memref::CollapseShapeOp, memref::CastOp,
                 memref::SubViewOp>(def))
          break;
        base = def->getOperand(0);
      }
      bool sameSlice = viewedBuffer(input->get(), depth) == base &&
                       nnc::lowering::indexesLeadingDims(linalgOp.getMatchingIndexingMap(input), depth);
      if (written.contains(base) && !sameSlice)
        return RowShape();
    }
    // Writes: the kernel's arguments or its own allocations (each share has its own), or views
    // of them that keep every slice where it is (a concatenation's part: all rows, some columns).
    for (OpOperand &init : linalgOp.getDpsInitsMutable()) {
      Value buffer = viewedBuffer(init.get(), depth);
      if ((!isa<BlockArgument>(buffer) && !buffer.getDefiningOp<memref::AllocOp>()) ||
          !nnc::lowering::indexesLeadingDims(linalgOp.getMatchingIndexingMap(&init), depth))
        return RowShape();
      written.insert(buffer);
    }
    shape.work += iterations;
    ++shape.nests;
    shape.transposes |= isa<linalg::TransposeOp>(op);
  }
  shape.rows = extents.empty() ? 0 : extents[0];
  shape.depth = shape.rows ? depth : 0;
  return shape;
}

/// The row shape over as many leading loops as line up.
RowShape rowShape(func::FuncOp kernel) {
  RowShape shape = rowShape(kernel, 1);
  while (shape.rows) {
    RowShape deeper = rowShape(kernel, shape.depth + 1);
    if (!deeper.rows)
      break;
    shape = deeper;
  }
  return shape;
}

/// Gives a kernel whose rows split across threads two trailing index arguments, `part` and
/// `parts`, and marks it with `nnc.rows`; nnc-cut-row-loops later restricts its loops to that
/// share of the rows. Marks a kernel of several loop nests over the same rows with
/// `nnc.fuse_rows` (the depth to which they line up): nnc-fuse-row-loops runs them row by row, so
/// that each op reads the rows earlier ops wrote from cache (a layer norm's statistics, centring
/// and scaling; softmax's max, sum and quotient).
void markRows(func::FuncOp kernel) {
  RowShape shape = rowShape(kernel);
  if (!shape.rows)
    return;
  Builder b(kernel.getContext());
  if (shape.nests > 1 && !shape.transposes)
    kernel->setAttr(nnc::kFuseRowsAttr, b.getI64IntegerAttr(shape.depth));
  // A transposed nest steps by tiles of 16 rows: it may share rows with others only alone.
  if (shape.rows < 2 || shape.work < kSplitWork || (shape.transposes && shape.nests > 1))
    return;
  unsigned n = kernel.getNumArguments();
  (void)kernel.insertArguments({n, n}, {b.getIndexType(), b.getIndexType()}, {},
                               {kernel.getLoc(), kernel.getLoc()});
  kernel->setAttr(nnc::kRowsAttr, b.getI64IntegerAttr(shape.rows));
}

struct MarkRowsPass : nnc::impl::MarkRowsBase<MarkRowsPass> {
  void runOnOperation() override {
    for (auto kernel : getOperation().getOps<func::FuncOp>())
      markRows(kernel);
  }
};

} // namespace
