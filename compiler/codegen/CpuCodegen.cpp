// Kernels -> native code for the host CPU, in process: bufferize the outlined kernel functions,
// lower them to the LLVM dialect (bare-pointer calling convention), translate to LLVM IR, add a
// `void name(void **args)` entry per kernel, optimize at -O3 for the host CPU and its features,
// emit object files and link them into a shared object with lld. -O3 and instruction selection
// take most of a compile, so the kernels are split into a fixed number of partitions, each
// translated, optimized and emitted on its own thread with its own LLVMContext; the partition
// count does not depend on the machine, so neither does the library.
//
// What makes the kernels fast on a multi-core AVX-512 host: a kernel whose loop nests all start
// with a parallel loop over the rows of what it writes also gets an entry that runs one share of
// the rows (the runtime runs the shares on its threads), and a row group's nests run row by row
// in one loop; loops that call exp, log or tanh call glibc's vector variants (libmvec), exp
// on their fast path, and erf is a rational approximation inline; floating-point reductions may
// be reassociated, so that they vectorize; and the kernels' buffer arguments are noalias (buffer
// assignment keeps them apart).
#include "compiler/codegen/CpuCodegen.h"

#include "compiler/conversion/LinalgBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "lld/Common/Driver.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Operator.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include "llvm/ADT/StringSet.h"

#include <algorithm>
#include <atomic>
#include <thread>

LLD_HAS_DRIVER(elf)

using namespace mlir;

namespace nnc {

// The x86 features a plan records and the runtime checks (the ones kernels may use).
static const char *const kTrackedFeatures[] = {
    "sse4.2", "avx",      "avx2",     "fma",        "f16c",       "bmi2",
    "avx512f", "avx512bw", "avx512vl", "avx512dq",   "avx512cd",   "avx512vnni",
    "avx512bf16"};

CpuTarget hostCpuTarget() {
  CpuTarget target;
  target.triple = llvm::sys::getDefaultTargetTriple();
  // The baseline CPU plus exactly the recorded features: naming the host CPU would let LLVM use
  // features the plan does not record (AMX, avx512fp16), and the runtime could not check them.
  target.cpu = "x86-64";
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  for (const char *name : kTrackedFeatures)
    if (features.lookup(name))
      target.features.push_back(name);
  return target;
}

namespace {

/// On a kernel whose work splits into row shares: the number of rows (see rowShape).
constexpr llvm::StringLiteral kRowsAttr = "nnc.rows";
constexpr llvm::StringLiteral kFuseRowsAttr = "nnc.fuse_rows";

LogicalResult runPipeline(ModuleOp module, StringRef pipeline) {
  PassManager pm(module.getContext());
  std::string parseError;
  llvm::raw_string_ostream parseStream(parseError);
  if (failed(parsePassPipeline(pipeline, pm, parseStream)))
    return module.emitError("invalid codegen pipeline: ") << parseError;
  return pm.run(module);
}

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

/// The buffer `value` is a view of, through views that keep every slice of the first `depth`
/// dimensions in place (reshapes may move them: they stop the walk).
Value viewedBuffer(Value value, int64_t depth) {
  while (auto view = value.getDefiningOp<memref::SubViewOp>()) {
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
                       lowering::indexesLeadingDims(linalgOp.getMatchingIndexingMap(input), depth);
      if (written.contains(base) && !sameSlice)
        return RowShape();
    }
    // Writes: the kernel's arguments or its own allocations (each share has its own), or views
    // of them that keep every slice where it is (a concatenation's part: all rows, some columns).
    for (OpOperand &init : linalgOp.getDpsInitsMutable()) {
      Value buffer = viewedBuffer(init.get(), depth);
      if ((!isa<BlockArgument>(buffer) && !buffer.getDefiningOp<memref::AllocOp>()) ||
          !lowering::indexesLeadingDims(linalgOp.getMatchingIndexingMap(&init), depth))
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

/// Gives each kernel whose rows split across threads two trailing index arguments, `part` and
/// `parts`, and marks it with `nnc.rows`; cutRowLoops later restricts its loops to that share of
/// the rows. Marks a kernel of several loop nests over the same rows with `nnc.fuse_rows` (the
/// depth to which they line up): fuseRowLoops runs them row by row, so that each op reads the rows
/// earlier ops wrote from cache (a layer norm's statistics, centring and scaling; softmax's max,
/// sum and quotient).
void markRows(ModuleOp module) {
  for (auto kernel : module.getOps<func::FuncOp>()) {
    RowShape shape = rowShape(kernel);
    if (!shape.rows)
      continue;
    Builder b(module.getContext());
    if (shape.nests > 1 && !shape.transposes)
      kernel->setAttr(kFuseRowsAttr, b.getI64IntegerAttr(shape.depth));
    // A transposed nest steps by tiles of 16 rows: it may share rows with others only alone.
    if (shape.rows < 2 || shape.work < kSplitWork || (shape.transposes && shape.nests > 1))
      continue;
    unsigned n = kernel.getNumArguments();
    (void)kernel.insertArguments({n, n}, {b.getIndexType(), b.getIndexType()}, {},
                                 {kernel.getLoc(), kernel.getLoc()});
    kernel->setAttr(kRowsAttr, b.getI64IntegerAttr(shape.rows));
  }
}

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

/// After convert-linalg-to-loops, in a kernel marked `nnc.fuse_rows` with depth n: the loop
/// nests' first loops (all 0..rows, step 1) become one, each iteration running every nest's body
/// for that row in order; then the loops directly inside it the same way, down to n levels.
/// Allocations and views move before the loop, deallocations after it.
void fuseRowLoops(ModuleOp module) {
  for (auto kernel : module.getOps<func::FuncOp>()) {
    auto depthAttr = kernel->getAttrOfType<IntegerAttr>(kFuseRowsAttr);
    if (!depthAttr)
      continue;
    kernel->removeAttr(kFuseRowsAttr);
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
      continue;
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
    // A buffer of the kernel's own that is only read and written at the current row (what one
    // op passes to the next) needs one row, reused by every iteration: it stays in cache. The
    // row is the slice at the fused loops' indices, as far as every access is at them.
    for (Operation *op : before) {
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
}

/// A transpose that moves the innermost dimension (a weight gradient's x^T before its GEMM,
/// attention's K^T), f32, the two dimensions it exchanges with the innermost multiples of 16: loops over 16 x 16 tiles, each
/// read as 16 rows, transposed in registers (vector.transpose, lowered to AVX-512 shuffles) and
/// written as 16 rows. Element by element, every read of a column touches a new cache line and
/// LLVM vectorizes with scatters. The loops follow the output's dimensions, first one first, so
/// row shares still apply.
void vectorizeTransposes(ModuleOp module) {
  SmallVector<linalg::TransposeOp> transposes;
  module.walk([&](linalg::TransposeOp op) { transposes.push_back(op); });
  module.getContext()->loadDialect<vector::VectorDialect, scf::SCFDialect>();
  for (linalg::TransposeOp op : transposes) {
    ArrayRef<int64_t> perm = op.getPermutation();
    int64_t rank = perm.size();
    auto inType = dyn_cast<MemRefType>(op.getInput().getType());
    auto outType = dyn_cast<MemRefType>(op.getInit().getType());
    if (rank < 2 || !inType || !outType || !inType.getElementType().isF32() ||
        !inType.getLayout().isIdentity() || !outType.getLayout().isIdentity() ||
        !outType.hasStaticShape())
      continue;
    // The output's innermost dimension reads input dimension `source`; output dimension `a`
    // reads the input's innermost one.
    int64_t source = perm[rank - 1];
    int64_t a = llvm::find(perm, rank - 1) - perm.begin();
    if (source == rank - 1 || outType.getDimSize(a) % 16 || outType.getDimSize(rank - 1) % 16)
      continue;

    OpBuilder b(op);
    Location loc = op.getLoc();
    SmallVector<Value> outIndex;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t step = i == a || i == rank - 1 ? 16 : 1;
      auto loop = scf::ForOp::create(b, loc, arith::ConstantIndexOp::create(b, loc, 0),
                                     arith::ConstantIndexOp::create(b, loc, outType.getDimSize(i)),
                                     arith::ConstantIndexOp::create(b, loc, step));
      b.setInsertionPointToStart(loop.getBody());
      outIndex.push_back(loop.getInductionVar());
    }
    SmallVector<Value> inIndex(rank);
    for (int64_t i = 0; i < rank; ++i)
      inIndex[perm[i]] = outIndex[i];
    // Input rows along `source`, output rows along `a`, both 16 contiguous values long.
    AffineMap inTile = AffineMap::get(
        rank, 0, {b.getAffineDimExpr(source), b.getAffineDimExpr(rank - 1)}, b.getContext());
    AffineMap outTile = AffineMap::get(
        rank, 0, {b.getAffineDimExpr(a), b.getAffineDimExpr(rank - 1)}, b.getContext());
    auto vectorType = VectorType::get({16, 16}, b.getF32Type());
    Value padding = arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(0.0f));
    SmallVector<bool> inBounds = {true, true};
    Value rows = vector::TransferReadOp::create(b, loc, vectorType, op.getInput(), inIndex,
                                                AffineMapAttr::get(inTile), padding, Value(),
                                                b.getBoolArrayAttr(inBounds));
    Value transposed = vector::TransposeOp::create(b, loc, rows, ArrayRef<int64_t>{1, 0});
    vector::TransferWriteOp::create(b, loc, transposed, op.getInit(), outIndex,
                                    AffineMapAttr::get(outTile), Value(),
                                    b.getBoolArrayAttr(inBounds));
    op.erase();
  }
}

/// After convert-linalg-to-loops: each top-level loop of a marked kernel (one per linalg op, its
/// first loop over the rows) runs only rows [part * chunk, (part + 1) * chunk) where
/// chunk = ceil(rows / parts), clamped to the rows.
LogicalResult cutRowLoops(ModuleOp module) {
  for (auto kernel : module.getOps<func::FuncOp>()) {
    auto rowsAttr = kernel->getAttrOfType<IntegerAttr>(kRowsAttr);
    if (!rowsAttr)
      continue;
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
  }
  return success();
}

/// glibc's vector expf computes a vector with any lane below ln(FLT_MIN) through the scalar
/// function, about 25 times slower (a causal mask's -inf in every row made softmax three times
/// slower). Those inputs give a subnormal or zero, which the runtime flushes to zero anyway
/// (CpuDevice): so exp(x) = x < ln(FLT_MIN) ? 0 : exp(max(x, ln(FLT_MIN))), always on the fast
/// path. NaN stays NaN.
void keepExpInFastRange(ModuleOp module) {
  SmallVector<math::ExpOp> exps;
  module.walk([&](math::ExpOp exp) {
    if (exp.getType().isF32())
      exps.push_back(exp);
  });
  for (math::ExpOp exp : exps) {
    OpBuilder b(exp);
    Location loc = exp.getLoc();
    Value low = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-87.33654f));
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    Value x = exp.getOperand();
    Value fast = math::ExpOp::create(b, loc, arith::MaximumFOp::create(b, loc, x, low));
    Value below = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, low);
    exp.replaceAllUsesWith(arith::SelectOp::create(b, loc, below, zero, fast).getResult());
    exp.erase();
  }
}

/// glibc's vector erff costs about 0.8 ns a value (16 lanes in 13 ns), which made GELU's forward
/// and backward kernels 10% of the char-GPT's step. Eigen's and XLA's f32 erf instead: x clamped
/// to [-4, 4] (erf is +-1 in f32 beyond), then an odd polynomial over an even one in x^2, straight
/// FMAs and one division that vectorize in the loop. Measured against double erf over [-6, 6] in
/// steps of 1e-5: at most 3.7e-7 absolute error (3 ulp near 1).
void expandErfRational(ModuleOp module) {
  SmallVector<math::ErfOp> erfs;
  module.walk([&](math::ErfOp erf) {
    if (erf.getType().isF32())
      erfs.push_back(erf);
  });
  static constexpr float kNumerator[] = {-2.72614225801306e-10f, 2.77068142495902e-08f,
                                         -2.10102402082508e-06f, -5.69250639462346e-05f,
                                         -7.34990630326855e-04f, -2.95459980854025e-03f,
                                         -1.60960333262415e-02f};
  static constexpr float kDenominator[] = {-1.45660718464996e-05f, -2.13374055278905e-04f,
                                           -1.68282697438203e-03f, -7.37332916720468e-03f,
                                           -1.42647390514189e-02f};
  for (math::ErfOp erf : erfs) {
    OpBuilder b(erf);
    Location loc = erf.getLoc();
    auto contract = arith::FastMathFlags::contract;
    auto constant = [&](float value) {
      return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value)).getResult();
    };
    // Horner's rule in x^2, highest coefficient first.
    auto polynomial = [&](ArrayRef<float> coefficients, Value x2) {
      Value sum = constant(coefficients.front());
      // mulf+addf, contracted to FMAs by LLVM: math.fma would become a call to libm's fmaf.
      for (float c : coefficients.drop_front())
        sum = arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, x2, sum, contract),
                                    constant(c), contract);
      return sum;
    };
    Value x = arith::MinNumFOp::create(
        b, loc, arith::MaxNumFOp::create(b, loc, erf.getOperand(), constant(-4.0f)),
        constant(4.0f));
    Value x2 = arith::MulFOp::create(b, loc, x, x);
    Value numerator = arith::MulFOp::create(b, loc, x, polynomial(kNumerator, x2));
    Value ratio = arith::DivFOp::create(b, loc, numerator, polynomial(kDenominator, x2));
    // The clamp maps NaN to -4; erf(NaN) is NaN.
    Value isNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, erf.getOperand(),
                                        erf.getOperand());
    erf.replaceAllUsesWith(
        arith::SelectOp::create(b, loc, isNaN, erf.getOperand(), ratio).getResult());
    erf.erase();
  }
}

/// A kernel whose result is a slice, a concatenation or a zero pad (no destination of its own)
/// would bufferize into a temporary buffer, copied to the result buffer afterwards. Here it gets
/// the result buffer as a trailing argument, where the plan's calling convention already passes
/// it, and writes into it directly: one copy, of rows that split across threads.
void writeViewResultsDirectly(ModuleOp module) {
  for (auto kernel : module.getOps<func::FuncOp>()) {
    if (kernel.getNumResults() != 1)
      continue;
    auto ret = cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
    Operation *def = ret.getOperand(0).getDefiningOp();
    auto pad = dyn_cast_or_null<tensor::PadOp>(def);
    bool staticPad = pad && pad.getConstantPaddingValue() && pad.getType().hasStaticShape() &&
                     !ShapedType::isDynamicShape(pad.getStaticLow());
    // A concatenation of many parts (find_nonfinite's hundreds of one-element checks) stays:
    // the bufferization analysis of a long insert_slice chain takes quadratic time.
    auto concat = dyn_cast_or_null<tensor::ConcatOp>(def);
    if (!isa_and_nonnull<tensor::ExtractSliceOp>(def) && !staticPad &&
        !(concat && concat.getInputs().size() <= 16))
      continue;
    auto type = cast<RankedTensorType>(def->getResult(0).getType());
    unsigned index = kernel.getNumArguments();
    OpBuilder b(ret);
    (void)kernel.insertArgument(
        index, type,
        b.getDictionaryAttr(b.getNamedAttr(bufferization::BufferizationDialect::kWritableAttrName,
                                           b.getBoolAttr(true))),
        kernel.getLoc());
    Value out = kernel.getArgument(index);
    Location loc = def->getLoc();
    auto insert = [&](Value part, Value into, ArrayRef<int64_t> offsets) {
      auto partType = cast<RankedTensorType>(part.getType());
      SmallVector<int64_t> strides(partType.getRank(), 1);
      return tensor::InsertSliceOp::create(b, loc, part, into, ValueRange(), ValueRange(),
                                           ValueRange(), offsets, partType.getShape(), strides)
          .getResult();
    };
    Value result;
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(def)) {
      result = linalg::CopyOp::create(b, loc, slice.getResult(), out).getResult(0);
    } else if (concat) {
      SmallVector<int64_t> offsets(type.getRank(), 0);
      result = out;
      for (Value part : concat.getInputs()) {
        result = insert(part, result, offsets);
        int64_t axis = concat.getDim();
        offsets[axis] += cast<RankedTensorType>(part.getType()).getDimSize(axis);
      }
    } else {
      result = linalg::FillOp::create(b, loc, pad.getConstantPaddingValue(), out).getResult(0);
      result = insert(pad.getSource(), result, pad.getStaticLow());
    }
    ret.setOperand(0, result);
    if (def->use_empty())
      def->erase();
  }
}

/// Bufferizes the kernels and lowers them to the LLVM dialect.
LogicalResult lowerToLLVMDialect(ModuleOp module) {
  writeViewResultsDirectly(module);
  if (failed(runPipeline(module, "one-shot-bufferize{bufferize-function-boundaries "
                                 "function-boundary-type-conversion=identity-layout-map}")))
    return failure();
  // A loop that updates its result buffer in place (the embedding-gradient scatter) yields that
  // buffer unchanged: folded to the buffer itself, the result is seen to be the kernel's %out.
  RewritePatternSet loopFolds(module.getContext());
  scf::ForOp::getCanonicalizationPatterns(loopFolds, module.getContext());
  if (failed(applyPatternsGreedily(module, std::move(loopFolds))))
    return failure();
  if (failed(runPipeline(module, "drop-equivalent-buffer-results,buffer-results-to-out-params,"
                                 "buffer-deallocation-pipeline")))
    return failure();
  // Strided copies (slices, concatenation) would lower to a call into MLIR's C runner library,
  // which a plan cannot carry: make them loops instead.
  module.walk([](memref::CopyOp copy) {
    OpBuilder b(copy);
    linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
    copy.erase();
  });
  markRows(module);
  vectorizeTransposes(module);
  keepExpInFastRange(module);
  expandErfRational(module);
  if (failed(runPipeline(module, "func.func(convert-linalg-to-loops)")))
    return failure();
  fuseRowLoops(module);
  if (failed(cutRowLoops(module)))
    return failure();
  return runPipeline(
      module, "convert-math-to-libm,convert-vector-to-scf{full-unroll},"
              "convert-vector-to-llvm{vector-transpose-lowering=shuffle16x16},"
              "convert-scf-to-cf,expand-strided-metadata,lower-affine,"
              "finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,"
              "convert-func-to-llvm{use-bare-ptr-memref-call-conv},convert-cf-to-llvm,"
              "convert-ub-to-llvm,reconcile-unrealized-casts");
}

/// Adds `void <prefix><name>(void **args)` for each kernel: the runtime's one calling convention,
/// whatever the kernel's arity. A kernel in `split` (its last two parameters are part and parts)
/// also gets `void <prefix><name><kPartSuffix>(void **args, int64_t part, int64_t parts)`.
///
/// The buffers a kernel gets never overlap (buffer assignment gives the buffers live at the same
/// command disjoint bytes) except an in-place kernel's results and the inputs they overwrite
/// (`inPlace`: kernel -> per result, that input or -1), which become one pointer here. So every
/// buffer parameter is `noalias`: LLVM may keep a reduction's accumulator in a register and hoist
/// loads of scalar operands.
void addPackedEntries(llvm::Module &module, ArrayRef<std::string> kernels,
                      const llvm::StringSet<> &split,
                      const llvm::StringMap<std::vector<int64_t>> &inPlace) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  for (const std::string &name : kernels) {
    llvm::Function *kernel = module.getFunction(name);
    kernel->setLinkage(llvm::GlobalValue::InternalLinkage);
    bool splits = split.contains(name);
    unsigned buffers = kernel->arg_size() - (splits ? 2 : 0);
    if (auto overwritten = inPlace.find(name); overwritten != inPlace.end()) {
      unsigned firstResult = buffers - overwritten->second.size();
      for (auto [result, input] : llvm::enumerate(overwritten->second))
        if (input >= 0)
          kernel->getArg(firstResult + result)->replaceAllUsesWith(kernel->getArg(input));
    }
    for (unsigned i = 0; i < buffers; ++i)
      kernel->addParamAttr(i, llvm::Attribute::NoAlias);
    auto addEntry = [&](const std::string &symbol, bool part) {
      SmallVector<llvm::Type *> params = {ptr};
      if (part)
        params.append({i64, i64});
      auto *entry = llvm::Function::Create(
          llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params, false),
          llvm::GlobalValue::ExternalLinkage, symbol, module);
      llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
      SmallVector<llvm::Value *> args;
      for (unsigned i = 0; i < buffers; ++i) {
        llvm::Value *slot = b.CreateConstInBoundsGEP1_64(ptr, entry->getArg(0), i);
        args.push_back(b.CreateLoad(ptr, slot));
      }
      if (splits) {
        args.push_back(part ? static_cast<llvm::Value *>(entry->getArg(1)) : b.getInt64(0));
        args.push_back(part ? static_cast<llvm::Value *>(entry->getArg(2)) : b.getInt64(1));
      }
      b.CreateCall(kernel, args);
      b.CreateRetVoid();
    };
    addEntry(kKernelEntryPrefix + name, false);
    if (splits)
      addEntry(kKernelEntryPrefix + name + kPartSuffix, true);
  }
}

/// The math functions the kernels call (convert-math-to-libm) that glibc's libmvec has in vector
/// form, 16 lanes with AVX-512 and 8 with AVX2 (x86-64 vector ABI names; within 4 ulp, like the
/// scalar ones). The library records libmvec as needed (linkSharedObject).
const char *const kVectorMath[] = {"expf", "logf", "erff", "tanhf"};
constexpr const char *kLibmvec = "/lib/x86_64-linux-gnu/libmvec.so.1";

bool hasFeature(const CpuTarget &target, llvm::StringRef feature) {
  return llvm::is_contained(target.features, feature);
}

std::vector<llvm::VecDesc> vectorMathFunctions(const CpuTarget &target) {
  // The names must outlive the descriptors (VecDesc holds StringRefs).
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const char *f : kVectorMath) {
      all.push_back(std::string("_ZGVeN16v_") + f);
      all.push_back(std::string("_ZGVdN8v_") + f);
    }
    return all;
  }();
  std::vector<llvm::VecDesc> descs;
  if (!llvm::sys::fs::exists(kLibmvec))
    return descs;
  for (size_t i = 0; i < std::size(kVectorMath); ++i) {
    if (hasFeature(target, "avx512f"))
      descs.push_back({kVectorMath[i], names[2 * i], llvm::ElementCount::getFixed(16), false,
                       "_ZGV_LLVM_N16v", std::nullopt});
    if (hasFeature(target, "avx2"))
      descs.push_back({kVectorMath[i], names[2 * i + 1], llvm::ElementCount::getFixed(8), false,
                       "_ZGV_LLVM_N8v", std::nullopt});
  }
  return descs;
}

/// Lets LLVM reassociate floating-point arithmetic and divide by multiplying with a reciprocal
/// (the `reassoc` and `arcp` flags, nothing that assumes away NaN or infinity): a reduction loop
/// (softmax's and layer norm's sums, the loss) vectorizes only if its partial sums may be added in
/// another order, and a loop dividing by a loop-invariant value (AdamW's bias corrections, a
/// mean's count) then divides once, outside it. Results change only by that rounding.
void allowReassociation(llvm::Module &module) {
  for (llvm::Function &function : module)
    for (llvm::Instruction &inst : llvm::instructions(function))
      if (llvm::isa<llvm::FPMathOperator>(inst)) {
        inst.setHasAllowReassoc(true);
        inst.setHasAllowReciprocal(true);
      }
}

/// Optimizes `module` and emits an object file; safe on several threads at once (each with its
/// own module and LLVMContext) once the native target is initialized.
LogicalResult emitObject(llvm::Module &module, const CpuTarget &target, std::string &object,
                         std::string &error) {
  const llvm::Target *llvmTarget = llvm::TargetRegistry::lookupTarget(llvm::Triple(target.triple), error);
  if (!llvmTarget)
    return failure();
  std::string features;
  for (const std::string &f : target.features)
    features += (features.empty() ? "+" : ",+") + f;
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      llvm::Triple(target.triple), target.cpu, features, options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  module.setDataLayout(machine->createDataLayout());
  module.setTargetTriple(llvm::Triple(target.triple));

  // -O3 over the whole module: loops vectorize for the host's vector width, and a loop that calls
  // a math function (softmax's exp, GELU's erf) calls glibc's vector variant of it.
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::TargetLibraryInfoImpl libraryInfo(llvm::Triple(target.triple));
  std::vector<llvm::VecDesc> vectorMath = vectorMathFunctions(target);
  libraryInfo.addVectorizableFunctions(vectorMath);
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(libraryInfo); });
  llvm::PassBuilder pb(machine.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  allowReassociation(module);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);

  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return failure();
  }
  codegen.run(module);
  object.assign(buffer.begin(), buffer.end());
  return success();
}

/// Links object files into a shared object with lld, through temporary files.
LogicalResult linkSharedObject(const std::vector<std::string> &objects, std::string &library,
                               std::string &error) {
  std::vector<llvm::SmallString<128>> objectPaths(objects.size());
  llvm::SmallString<128> libraryPath;
  auto removeAll = [&] {
    for (const auto &path : objectPaths)
      if (!path.empty())
        llvm::sys::fs::remove(path);
    if (!libraryPath.empty())
      llvm::sys::fs::remove(libraryPath);
  };
  for (size_t i = 0; i < objects.size(); ++i) {
    int fd;
    if (llvm::sys::fs::createTemporaryFile("nnc-kernels", "o", fd, objectPaths[i])) {
      removeAll();
      error = "cannot create temporary files for linking";
      return failure();
    }
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << objects[i];
  }
  if (llvm::sys::fs::createTemporaryFile("nnc-kernels", "so", libraryPath)) {
    removeAll();
    error = "cannot create temporary files for linking";
    return failure();
  }
  std::string log;
  llvm::raw_string_ostream logStream(log);
  std::vector<const char *> args = {"ld.lld", "-shared", "--build-id=none", "-o",
                                    libraryPath.c_str()};
  for (auto &path : objectPaths)
    args.push_back(path.c_str());
  // The vector math functions' home, a DT_NEEDED entry the runtime's dlopen resolves.
  if (llvm::sys::fs::exists(kLibmvec))
    args.push_back(kLibmvec);
  lld::Result result = lld::lldMain(args, logStream, logStream, {{lld::Gnu, &lld::elf::link}});
  auto buffer = llvm::MemoryBuffer::getFile(libraryPath);
  removeAll();
  if (result.retCode != 0 || !buffer) {
    error = "linking the kernel library failed: " + log;
    return failure();
  }
  library = (*buffer)->getBuffer().str();
  return success();
}

} // namespace

OwningOpRef<ModuleOp> lowerKernels(ModuleOp module) {
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(module.getLoc());
  OpBuilder builder(module.getContext());
  builder.setInsertionPointToEnd(kernels->getBody());
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr("nnc.kernel"))
      builder.clone(*func);
  if (failed(lowerToLLVMDialect(*kernels)))
    return nullptr;
  return kernels;
}

namespace {

constexpr size_t kPartitions = 4;

/// The kernels in `kPartitions` groups of about equal size (counted in LLVM dialect ops),
/// largest first, ties by name: the same groups on every machine.
std::vector<std::vector<std::string>> partitionKernels(ModuleOp lowered,
                                                        ArrayRef<std::string> names) {
  std::vector<std::pair<int64_t, std::string>> sized;
  for (const std::string &name : names) {
    int64_t ops = 0;
    if (auto func = lowered.lookupSymbol<LLVM::LLVMFuncOp>(name))
      func.walk([&](Operation *) { ++ops; });
    sized.push_back({ops, name});
  }
  std::sort(sized.begin(), sized.end(), [](const auto &a, const auto &b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  // At least one group: a plan without kernels still gets a (nearly empty) library.
  std::vector<std::vector<std::string>> groups(std::clamp<size_t>(names.size(), 1, kPartitions));
  std::vector<int64_t> load(groups.size(), 0);
  for (const auto &[ops, name] : sized) {
    size_t lightest = std::min_element(load.begin(), load.end()) - load.begin();
    groups[lightest].push_back(name);
    load[lightest] += ops;
  }
  return groups;
}

/// A copy of `lowered` that defines only `keep`'s kernels (the others' bodies go; globals and
/// declarations stay, private or external as they were).
OwningOpRef<ModuleOp> partition(ModuleOp lowered, ArrayRef<std::string> keep) {
  OwningOpRef<ModuleOp> copy = lowered.clone();
  llvm::StringSet<> kept;
  for (const std::string &name : keep)
    kept.insert(name);
  for (auto func : llvm::make_early_inc_range(copy->getOps<LLVM::LLVMFuncOp>()))
    if (!func.isExternal() && !kept.contains(func.getSymName()))
      func.erase();
  return copy;
}

} // namespace

LogicalResult compileKernels(ModuleOp module, const CpuTarget &target, std::string &library) {
  std::vector<std::string> names;
  llvm::StringMap<std::vector<int64_t>> inPlace;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func->hasAttr("nnc.kernel"))
      continue;
    names.push_back(func.getSymName().str());
    if (auto overwritten = func->getAttrOfType<DenseI64ArrayAttr>(kInPlaceAttr))
      inPlace[func.getSymName()] = overwritten.asArrayRef().vec();
  }
  OwningOpRef<ModuleOp> kernels = lowerKernels(module);
  if (!kernels)
    return failure();

  llvm::StringSet<> split;
  for (auto func : kernels->getOps<LLVM::LLVMFuncOp>())
    if (func->removeAttr(kRowsAttr))
      split.insert(func.getSymName());

  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  std::vector<std::vector<std::string>> groups = partitionKernels(*kernels, names);
  std::vector<OwningOpRef<ModuleOp>> parts;
  for (const std::vector<std::string> &group : groups)
    parts.push_back(partition(*kernels, group));

  // One thread per partition, up to the cores; each owns its LLVMContext.
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::vector<std::string> objects(groups.size()), errors(groups.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < groups.size();) {
      llvm::LLVMContext llvmContext;
      std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(*parts[i], llvmContext);
      if (!llvmModule) {
        errors[i] = "translating the kernels to LLVM IR failed";
        continue;
      }
      addPackedEntries(*llvmModule, groups[i], split, inPlace);
      (void)emitObject(*llvmModule, target, objects[i], errors[i]);
    }
  };
  size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, groups.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t)
    pool.emplace_back(work);
  work();
  for (std::thread &thread : pool)
    thread.join();
  for (const std::string &error : errors)
    if (!error.empty())
      return module.emitError(error);

  std::string error;
  if (failed(linkSharedObject(objects, library, error)))
    return module.emitError(error);
  return success();
}

} // namespace nnc
