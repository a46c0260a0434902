// Reductions as block tree reductions (see CudaReductions.h).
//
// A linalg.generic reduction yields combiner(out, value(inputs, indices)). For P outputs of R
// reduced elements each:
// 1. Threads per block T: R rounded up to a power of two, within [32, 256]. Each thread folds the
//    elements t, t + T, t + 2T, ... of its slice (consecutive threads read consecutive elements
//    of a row) into a private value, starting from the combiner's identity.
// 2. gpu.all_reduce combines the block's T values (warp shuffles, then shared memory across the
//    warps); thread 0 combines the result with the output's initial value and stores it.
// 3. A thread should fold at most kElementsPerThread elements: longer reductions split each
//    output's elements into S slices, one block each, whose results go to a partial buffer; a
//    second launch (one block per output) reduces the S partials as in step 2.
// 4. Short reductions (at most kElementsPerThread elements) over at least a warp of outputs get a
//    thread per output instead, folding in the CPU's order; column sums so read coalesced rows.
// The order of the floating-point operations changes (a tree instead of a left fold), the
// operations do not: the same combiner over the same values.
#include "compiler/codegen/CudaReductions.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace nnc {
namespace {

constexpr int64_t kWarp = 32;
constexpr int64_t kMaxReductionThreads = 256;
/// The most elements one thread folds before a reduction is split over more blocks.
constexpr int64_t kElementsPerThread = 32;

/// A reduction this file maps: the combiner that folds `value` into the output, and the loop
/// sizes split into output (parallel) and reduced dimensions.
struct Reduction {
  linalg::GenericOp op;
  Operation *combiner;
  gpu::AllReduceOperation kind;
  SmallVector<int64_t> loopSizes;
  SmallVector<unsigned> outputDims, reducedDims;
  int64_t outputs = 1, perOutput = 1;
  linalg::FillOp fill; // fills the output just before the reduction: folded into its last step
};

std::optional<gpu::AllReduceOperation> combinerKind(Operation *op) {
  using Kind = std::optional<gpu::AllReduceOperation>;
  return llvm::TypeSwitch<Operation *, Kind>(op)
      .Case([](arith::AddFOp) { return gpu::AllReduceOperation::ADD; })
      .Case([](arith::MulFOp) { return gpu::AllReduceOperation::MUL; })
      .Case([](arith::MaximumFOp) { return gpu::AllReduceOperation::MAXIMUMF; })
      .Case([](arith::MinimumFOp) { return gpu::AllReduceOperation::MINIMUMF; })
      .Case([](arith::MaxNumFOp) { return gpu::AllReduceOperation::MAXNUMF; })
      .Case([](arith::MinNumFOp) { return gpu::AllReduceOperation::MINNUMF; })
      .Default([](Operation *) { return Kind(); });
}

/// The value the combiner leaves unchanged: 0, 1, -inf or +inf.
Value identity(OpBuilder &b, Location loc, gpu::AllReduceOperation kind, FloatType type) {
  APFloat value(type.getFloatSemantics());
  switch (kind) {
  case gpu::AllReduceOperation::ADD:
    value = APFloat::getZero(type.getFloatSemantics());
    break;
  case gpu::AllReduceOperation::MUL:
    value = APFloat::getOne(type.getFloatSemantics());
    break;
  case gpu::AllReduceOperation::MAXIMUMF:
  case gpu::AllReduceOperation::MAXNUMF:
    value = APFloat::getInf(type.getFloatSemantics(), /*Negative=*/true);
    break;
  default:
    value = APFloat::getInf(type.getFloatSemantics(), /*Negative=*/false);
  }
  return arith::ConstantOp::create(b, loc, type, FloatAttr::get(type, value));
}

/// The combiner applied to (lhs, rhs), with the original op's attributes (fastmath flags).
Value combine(OpBuilder &b, Location loc, Operation *combiner, Value lhs, Value rhs) {
  OperationState state(loc, combiner->getName());
  state.addOperands({lhs, rhs});
  state.addTypes(lhs.getType());
  state.addAttributes(combiner->getAttrs());
  return b.create(state)->getResult(0);
}

std::optional<Reduction> matchReduction(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return std::nullopt;
  OpOperand *init = op.getDpsInitOperand(0);
  auto outType = dyn_cast<MemRefType>(init->get().getType());
  if (!outType || !outType.getElementType().isF32())
    return std::nullopt;
  BlockArgument out = op.getMatchingBlockArgument(init);
  auto yield = cast<linalg::YieldOp>(op.getBlock()->getTerminator());
  Operation *combiner = yield.getValues()[0].getDefiningOp();
  // `out` feeds the combiner only, so the folded value does not depend on it.
  if (!combiner || combiner->getBlock() != op.getBlock() || combiner->getNumOperands() != 2 ||
      !out.hasOneUse() || !llvm::is_contained(combiner->getOperands(), out))
    return std::nullopt;
  std::optional<gpu::AllReduceOperation> kind = combinerKind(combiner);
  if (!kind)
    return std::nullopt;
  Reduction r{op, combiner, *kind, op.getStaticLoopRanges(), {}, {}, 1, 1, nullptr};
  for (auto [dim, type] : llvm::enumerate(op.getIteratorTypesArray())) {
    if (ShapedType::isDynamic(r.loopSizes[dim]))
      return std::nullopt;
    bool reduced = type == utils::IteratorType::reduction;
    (reduced ? r.reducedDims : r.outputDims).push_back(dim);
    (reduced ? r.perOutput : r.outputs) *= r.loopSizes[dim];
  }
  AffineMap outMap = op.getMatchingIndexingMap(init);
  if (llvm::any_of(r.reducedDims, [&](unsigned dim) { return outMap.isFunctionOfDim(dim); }))
    return std::nullopt;
  // The fill folds in only if the reduction writes every element of the output once.
  bool coversOutput = outType.hasStaticShape() && outType.getNumElements() == r.outputs &&
                      outMap.isProjectedPermutation(/*allowZeroInResults=*/true);
  if (auto fill = dyn_cast_or_null<linalg::FillOp>(op->getPrevNode()); fill && coversOutput)
    if (fill.hasPureBufferSemantics() && fill.getDpsInitOperand(0)->get() == init->get() &&
        fill.getDpsInputOperand(0)->get().getDefiningOp<arith::ConstantOp>())
      r.fill = fill;
  return r;
}

Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

/// Writes the row-major coordinates of `linear` (below the product of the sizes) over `dims`
/// (sizes from `sizes`) into `indices`.
void delinearize(OpBuilder &b, Location loc, Value linear, ArrayRef<unsigned> dims,
                 ArrayRef<int64_t> sizes, SmallVectorImpl<Value> &indices) {
  if (dims.empty())
    return;
  for (unsigned dim : llvm::reverse(dims.drop_front())) {
    Value size = indexConstant(b, loc, sizes[dim]);
    indices[dim] = arith::RemUIOp::create(b, loc, linear, size);
    linear = arith::DivUIOp::create(b, loc, linear, size);
  }
  indices[dims.front()] = linear;
}

/// The element of `buffer` that `map` picks at the loop indices `loop`.
SmallVector<Value> applyMap(OpBuilder &b, Location loc, AffineMap map, ArrayRef<Value> loop) {
  SmallVector<Value> indices;
  for (AffineExpr expr : map.getResults())
    indices.push_back(affine::AffineApplyOp::create(
        b, loc, AffineMap::get(map.getNumDims(), 0, expr), loop));
  return indices;
}

/// The generic's folded value at the loop indices `loop`: its inputs loaded, its body (all but
/// the combiner) cloned.
Value valueAt(OpBuilder &b, Location loc, const Reduction &r, ArrayRef<Value> loop) {
  linalg::GenericOp op = r.op;
  IRMapping mapping;
  for (OpOperand *input : op.getDpsInputOperands()) {
    Value value = input->get();
    if (isa<MemRefType>(value.getType()))
      value = memref::LoadOp::create(b, loc, value,
                                     applyMap(b, loc, op.getMatchingIndexingMap(input), loop));
    mapping.map(op.getMatchingBlockArgument(input), value);
  }
  for (Operation &bodyOp : op.getBlock()->without_terminator()) {
    if (&bodyOp == r.combiner)
      continue;
    if (auto index = dyn_cast<linalg::IndexOp>(bodyOp))
      mapping.map(index.getResult(), loop[index.getDim()]);
    else
      b.clone(bodyOp, mapping);
  }
  BlockArgument out = op.getMatchingBlockArgument(op.getDpsInitOperand(0));
  Value folded = r.combiner->getOperand(0) == out ? r.combiner->getOperand(1)
                                                  : r.combiner->getOperand(0);
  return mapping.lookupOrDefault(folded);
}

/// One gpu.launch of `blocks` x `threads` (on x): `fold` gives each thread's value, gpu.all_reduce
/// combines the block's, and thread 0 passes the block's total to `finish`.
void buildBlockReduction(
    OpBuilder &b, Location loc, const Reduction &r, int64_t blocks, int64_t threads,
    function_ref<Value(OpBuilder &, Value block, Value thread, Value identity)> fold,
    function_ref<void(OpBuilder &, Value block, Value total)> finish) {
  Value one = indexConstant(b, loc, 1);
  auto launch = gpu::LaunchOp::create(b, loc, indexConstant(b, loc, blocks), one, one,
                                      indexConstant(b, loc, threads), one, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value block = launch.getBlockIds().x, thread = launch.getThreadIds().x;
  Value start = identity(b, loc, r.kind, b.getF32Type());
  Value partial = fold(b, block, thread, start);
  Value total = gpu::AllReduceOp::create(
      b, loc, partial, gpu::AllReduceOperationAttr::get(b.getContext(), r.kind), /*uniform=*/true);
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, thread,
                                      indexConstant(b, loc, 0));
  scf::IfOp::create(b, loc, first, [&](OpBuilder &b, Location loc) {
    finish(b, block, total);
    scf::YieldOp::create(b, loc);
  });
  gpu::TerminatorOp::create(b, loc);
}

/// Folds `value(i)` for i = begin + t, begin + t + T, ... below `end` into `acc`.
Value foldStrided(OpBuilder &b, Location loc, const Reduction &r, Value begin, Value end,
                  Value thread, int64_t threads, Value acc,
                  function_ref<Value(OpBuilder &, Value)> value) {
  Value from = arith::AddIOp::create(b, loc, begin, thread);
  auto loop = scf::ForOp::create(b, loc, from, end, indexConstant(b, loc, threads), ValueRange{acc});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value next = combine(b, loc, r.combiner, loop.getRegionIterArgs()[0],
                       value(b, loop.getInductionVar()));
  scf::YieldOp::create(b, loc, next);
  return loop.getResult(0);
}

int64_t threadsFor(int64_t elements) {
  return std::clamp<int64_t>(static_cast<int64_t>(llvm::PowerOf2Ceil(elements)), kWarp,
                             kMaxReductionThreads);
}

/// Where output `index` (row-major over the output dimensions) is stored.
SmallVector<Value> outputAt(OpBuilder &b, Location loc, const Reduction &r, Value index) {
  SmallVector<Value> loop(r.loopSizes.size(), indexConstant(b, loc, 0));
  delinearize(b, loc, index, r.outputDims, r.loopSizes, loop);
  linalg::GenericOp op = r.op;
  return applyMap(b, loc, op.getMatchingIndexingMap(op.getDpsInitOperand(0)), loop);
}

/// The value the reduction starts from: the fill's, or what the output holds.
Value initialValue(OpBuilder &b, Location loc, const Reduction &r, ArrayRef<Value> at) {
  linalg::FillOp fill = r.fill;
  if (fill)
    return fill.getDpsInputOperand(0)->get();
  linalg::GenericOp op = r.op;
  return memref::LoadOp::create(b, loc, op.getDpsInitOperand(0)->get(), at);
}

/// Thread 0's last step: the output element of output `index` combined with the block total.
void storeOutput(OpBuilder &b, Location loc, const Reduction &r, Value index, Value total) {
  SmallVector<Value> at = outputAt(b, loc, r, index);
  Value result = combine(b, loc, r.combiner, initialValue(b, loc, r, at), total);
  linalg::GenericOp op = r.op;
  memref::StoreOp::create(b, loc, result, op.getDpsInitOperand(0)->get(), at);
}

/// Short reductions over many outputs: a thread per output folds its elements in order (the
/// CPU's order), consecutive threads on consecutive outputs.
void buildThreadPerOutput(OpBuilder &b, Location loc, const Reduction &r,
                          function_ref<Value(OpBuilder &, Value output, Value i)> value) {
  int64_t threads = threadsFor(r.outputs);
  Value one = indexConstant(b, loc, 1);
  auto launch =
      gpu::LaunchOp::create(b, loc, indexConstant(b, loc, llvm::divideCeil(r.outputs, threads)),
                            one, one, indexConstant(b, loc, threads), one, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value output = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, launch.getBlockIds().x, indexConstant(b, loc, threads)),
      launch.getThreadIds().x);
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, output,
                                        indexConstant(b, loc, r.outputs));
  scf::IfOp::create(b, loc, inRange, [&](OpBuilder &b, Location loc) {
    SmallVector<Value> at = outputAt(b, loc, r, output);
    auto loop = scf::ForOp::create(b, loc, indexConstant(b, loc, 0),
                                   indexConstant(b, loc, r.perOutput), one,
                                   ValueRange{initialValue(b, loc, r, at)});
    {
      OpBuilder::InsertionGuard inLoop(b);
      b.setInsertionPointToStart(loop.getBody());
      Value next = combine(b, loc, r.combiner, loop.getRegionIterArgs()[0],
                           value(b, output, loop.getInductionVar()));
      scf::YieldOp::create(b, loc, next);
    }
    linalg::GenericOp op = r.op;
    memref::StoreOp::create(b, loc, loop.getResult(0), op.getDpsInitOperand(0)->get(), at);
    scf::YieldOp::create(b, loc);
  });
  gpu::TerminatorOp::create(b, loc);
}

/// A module-level buffer in GPU global memory for `size` partial results of `func`.
memref::GlobalOp createPartialsBuffer(func::FuncOp func, int64_t size) {
  OpBuilder b(func);
  auto module = func->getParentOfType<ModuleOp>();
  auto space = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Global);
  auto type = MemRefType::get({size}, b.getF32Type(), MemRefLayoutAttrInterface(), space);
  std::string name;
  for (int n = 0; name.empty() || SymbolTable::lookupSymbolIn(module, name); ++n)
    name = (func.getSymName() + "_partials" + Twine(n)).str();
  return memref::GlobalOp::create(b, func.getLoc(), name, b.getStringAttr("private"), type,
                                  Attribute(), /*constant=*/false, IntegerAttr());
}

void lowerReduction(func::FuncOp func, const Reduction &r) {
  linalg::GenericOp op = r.op;
  OpBuilder b(op);
  Location loc = op.getLoc();
  // The reduced elements of one output, from linear index `i` in [0, perOutput).
  auto elementOf = [&](Value output) {
    return [&, output](OpBuilder &b, Value i) {
      SmallVector<Value> loop(r.loopSizes.size());
      delinearize(b, loc, output, r.outputDims, r.loopSizes, loop);
      delinearize(b, loc, i, r.reducedDims, r.loopSizes, loop);
      return valueAt(b, loc, r, loop);
    };
  };
  int64_t slices = llvm::divideCeil(r.perOutput, kMaxReductionThreads * kElementsPerThread);
  if (r.perOutput <= kElementsPerThread && r.outputs >= kWarp) {
    buildThreadPerOutput(b, loc, r, [&](OpBuilder &b, Value output, Value i) {
      return elementOf(output)(b, i);
    });
  } else if (slices == 1) {
    int64_t threads = threadsFor(r.perOutput);
    buildBlockReduction(
        b, loc, r, r.outputs, threads,
        [&](OpBuilder &b, Value block, Value thread, Value acc) {
          return foldStrided(b, loc, r, indexConstant(b, loc, 0),
                             indexConstant(b, loc, r.perOutput), thread, threads, acc,
                             elementOf(block));
        },
        [&](OpBuilder &b, Value block, Value total) { storeOutput(b, loc, r, block, total); });
  } else {
    // Block (output o, slice s) folds elements [s * sliceSize, (s + 1) * sliceSize) of output o
    // into partials[o * slices + s]; then one block per output reduces its slices.
    int64_t sliceSize = llvm::divideCeil(r.perOutput, slices);
    memref::GlobalOp global = createPartialsBuffer(func, r.outputs * slices);
    auto partialsIn = [&](OpBuilder &b) -> Value {
      return memref::GetGlobalOp::create(b, loc, global.getType(), global.getSymName());
    };
    buildBlockReduction(
        b, loc, r, r.outputs * slices, kMaxReductionThreads,
        [&](OpBuilder &b, Value block, Value thread, Value acc) {
          Value count = indexConstant(b, loc, slices);
          Value output = arith::DivUIOp::create(b, loc, block, count);
          Value slice = arith::RemUIOp::create(b, loc, block, count);
          Value begin = arith::MulIOp::create(b, loc, slice, indexConstant(b, loc, sliceSize));
          Value end = arith::MinUIOp::create(
              b, loc, arith::AddIOp::create(b, loc, begin, indexConstant(b, loc, sliceSize)),
              indexConstant(b, loc, r.perOutput));
          return foldStrided(b, loc, r, begin, end, thread, kMaxReductionThreads, acc,
                             elementOf(output));
        },
        [&](OpBuilder &b, Value block, Value total) {
          memref::StoreOp::create(b, loc, total, partialsIn(b), block);
        });
    int64_t threads = threadsFor(slices);
    buildBlockReduction(
        b, loc, r, r.outputs, threads,
        [&](OpBuilder &b, Value block, Value thread, Value acc) {
          Value partials = partialsIn(b);
          Value begin = arith::MulIOp::create(b, loc, block, indexConstant(b, loc, slices));
          Value end = arith::AddIOp::create(b, loc, begin, indexConstant(b, loc, slices));
          return foldStrided(b, loc, r, begin, end, thread, threads, acc,
                             [&](OpBuilder &b, Value i) -> Value {
                               return memref::LoadOp::create(b, loc, partials, i);
                             });
        },
        [&](OpBuilder &b, Value block, Value total) { storeOutput(b, loc, r, block, total); });
  }
  op->erase();
  if (r.fill)
    r.fill->erase(); // folded into storeOutput
}

} // namespace

void mapReductionsToBlocks(func::FuncOp func) {
  func.getContext()->loadDialect<affine::AffineDialect, arith::ArithDialect, gpu::GPUDialect,
                                 memref::MemRefDialect, scf::SCFDialect>();
  SmallVector<Reduction> reductions;
  for (auto op : func.getBody().front().getOps<linalg::GenericOp>())
    if (std::optional<Reduction> r = matchReduction(op))
      reductions.push_back(*r);
  for (const Reduction &r : reductions)
    lowerReduction(func, r);
}

} // namespace nnc
