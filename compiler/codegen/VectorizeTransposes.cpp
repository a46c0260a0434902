// Transposes that move the innermost dimension, as 16 x 16 tiles transposed in registers.
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace nnc {
#define GEN_PASS_DEF_VECTORIZETRANSPOSES
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// A transpose that moves the innermost dimension (a weight gradient's x^T before its GEMM,
/// attention's K^T), f32, the two dimensions it exchanges with the innermost multiples of 16:
/// loops over 16 x 16 tiles, each read as 16 rows, transposed in registers (vector.transpose,
/// lowered to AVX-512 shuffles) and written as 16 rows. Element by element, every read of a column touches a new cache line and
/// LLVM vectorizes with scatters. The loops follow the output's dimensions, first one first, so
/// row shares still apply.
void vectorizeTransposes(func::FuncOp func) {
  SmallVector<linalg::TransposeOp> transposes;
  func.walk([&](linalg::TransposeOp op) { transposes.push_back(op); });
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

struct VectorizeTransposesPass : nnc::impl::VectorizeTransposesBase<VectorizeTransposesPass> {
  void runOnOperation() override { vectorizeTransposes(getOperation()); }
};

} // namespace
