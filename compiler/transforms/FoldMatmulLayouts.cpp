// Transposes folded into the strided operands and result of nn.matmul (see Passes.td).
#include "compiler/Passes.h"

#include "dialects/nn/NNDialect.h"

#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace nnc {
#define GEN_PASS_DEF_FOLDMATMULLAYOUTS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc::nn;

namespace {

/// A permutation attribute's entries; absent is the identity of `rank` dimensions.
SmallVector<int64_t> entriesOf(DenseI64ArrayAttr perm, int64_t rank) {
  if (!perm)
    return llvm::to_vector(llvm::seq<int64_t>(0, rank));
  return SmallVector<int64_t>(perm.asArrayRef());
}

/// Transposing by `first`, then by `second`, is transposing by the result.
SmallVector<int64_t> compose(ArrayRef<int64_t> first, ArrayRef<int64_t> second) {
  return applyPermutation(first, second);
}

/// The attribute of `perm`; none for the identity.
DenseI64ArrayAttr attrOf(PatternRewriter &rewriter, ArrayRef<int64_t> perm) {
  return isIdentityPermutation(perm) ? DenseI64ArrayAttr() : rewriter.getDenseI64ArrayAttr(perm);
}

struct FoldTransposes : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp matmul, PatternRewriter &rewriter) const override {
    auto shapeOf = [](Value v) { return cast<RankedTensorType>(v.getType()).getShape(); };
    ArrayRef<int64_t> result = shapeOf(matmul.getResult());
    int64_t rank = result.size();
    int64_t rhsRank = shapeOf(matmul.getRhs()).size();
    SmallVector<int64_t> lhsPerm = entriesOf(matmul.getLhsPermutationAttr(), rank);
    SmallVector<int64_t> rhsPerm = entriesOf(matmul.getRhsPermutationAttr(), rhsRank);
    SmallVector<int64_t> resultPerm = entriesOf(matmul.getResultPermutationAttr(), rank);
    // Strided operands describe every batch dimension of the product, and the library call
    // broadcasts only b, by a batch stride 0: the lhs's batch dimensions must be the
    // product's, and the rhs's too unless it is one matrix.
    if (static_cast<int64_t>(shapeOf(matmul.getLhs()).size()) != rank ||
        (rhsRank != rank && rhsRank != 2))
      return failure();
    for (int64_t i = 0; i < rank - 2; ++i) {
      int64_t dim = result[llvm::find(resultPerm, i) - resultPerm.begin()];
      if (shapeOf(matmul.getLhs())[lhsPerm[i]] != dim ||
          (rhsRank == rank && shapeOf(matmul.getRhs())[rhsPerm[i]] != dim))
        return failure();
    }

    Value lhs = matmul.getLhs(), rhs = matmul.getRhs();
    bool changed = false;
    // An operand that is a transpose: read the transpose's input, as long as the matrix keeps
    // its unit-stride (last stored) dimension as a row or a column.
    auto foldOperand = [&](Value &operand, SmallVector<int64_t> &perm) {
      auto transpose = operand.getDefiningOp<TransposeOp>();
      if (!transpose)
        return;
      SmallVector<int64_t> composed = compose(transpose.getPermutation(), perm);
      int64_t last = static_cast<int64_t>(composed.size()) - 1;
      if (composed[last] != last && composed[last - 1] != last)
        return;
      operand = transpose.getInput();
      perm = std::move(composed);
      changed = true;
    };
    foldOperand(lhs, lhsPerm);
    foldOperand(rhs, rhsPerm);

    // A result read only by a transpose: write it transposed. Stored R[j] = C[q[j]], then
    // T[j] = R[t[j]] = C[q[t[j]]].
    TransposeOp user;
    if (matmul->hasOneUse())
      user = dyn_cast<TransposeOp>(*matmul->getUsers().begin());
    if (user) {
      SmallVector<int64_t> composed = compose(resultPerm, user.getPermutation());
      // oneDNN writes only row-major matrices fast (its reference kernel does the others,
      // 1000x slower): a column-major product is stored as the row-major C^T = rhs^T lhs^T.
      if (composed[rank - 1] == rank - 2 && rhsRank == rank) {
        SmallVector<int64_t> swap = llvm::to_vector(llvm::seq<int64_t>(0, rank));
        std::swap(swap[rank - 1], swap[rank - 2]);
        composed = compose(swap, composed);
        std::swap(lhs, rhs);
        std::swap(lhsPerm, rhsPerm);
        lhsPerm = compose(lhsPerm, swap);
        rhsPerm = compose(rhsPerm, swap);
      }
      if (composed[rank - 1] == rank - 1) {
        resultPerm = std::move(composed);
        changed = true;
      } else {
        user = nullptr;
      }
    }
    if (!changed)
      return failure();

    Operation *replaced = user ? user.getOperation() : matmul.getOperation();
    Location loc = user ? rewriter.getFusedLoc({matmul.getLoc(), user.getLoc()}) : matmul.getLoc();
    rewriter.setInsertionPoint(replaced);
    auto folded = MatmulOp::create(rewriter, loc, lhs, rhs, attrOf(rewriter, lhsPerm),
                                   attrOf(rewriter, rhsPerm), attrOf(rewriter, resultPerm));
    rewriter.replaceOp(replaced, folded.getResult());
    if (user)
      rewriter.eraseOp(matmul);
    return success();
  }
};

struct FoldMatmulLayoutsPass : nnc::impl::FoldMatmulLayoutsBase<FoldMatmulLayoutsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldTransposes>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
