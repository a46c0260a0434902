// nnc-fuse-attention: causal attention written out as separate nn ops becomes one
// nn.causal_attention (see Passes.td). It runs before autodiff, so the backward pass is the fused
// op's own (nn.causal_attention_grad), and only where the rewrite is exact in intent:
//
// 1. start at an nn.softmax over the last axis whose input is an nn.causal_mask filling with
//    -inf (or a fill so negative that exp gives 0);
// 2. below the mask, an optional scale: nn.mul by a scalar constant (either side) or nn.div by
//    one; below that, nn.matmul(q, kT) without folded layouts, kT (..., D, T);
// 3. the probabilities feed exactly one nn.matmul(probs, v), v (..., T, D);
// 4. every intermediate has that one use (nothing else reads the scores or probabilities), q,
//    k and v share shape and dtype.
// k is kT transposed back; a transpose that made kT composes into it. bf16 and fp16 models are
// left alone (slower fused on this CPU today, see runOnOperation).
#include "compiler/Passes.h"

#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"

#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/IR/Builders.h"

#include <cmath>

namespace nnc {
#define GEN_PASS_DEF_FUSEATTENTION
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc::nn;

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// A splat float constant's value (a scalar, or any shape of one repeated value).
std::optional<double> splatValue(Value v) {
  auto constant = v.getDefiningOp<ConstantOp>();
  if (!constant)
    return std::nullopt;
  auto dense = dyn_cast<DenseFPElementsAttr>(constant.getValue());
  if (!dense || !dense.isSplat() || typeOf(v).getNumElements() != 1)
    return std::nullopt;
  return dense.getSplatValue<APFloat>().convertToDouble();
}

/// Fills that make a masked score's exp exactly 0 in f32 (and bf16) for any finite score.
bool masksCompletely(CausalMaskOp mask) {
  std::optional<APFloat> fill = mask.getFill();
  return !fill || fill->convertToDouble() <= -1e9;
}

/// The pieces of one matched attention.
struct Match {
  MatmulOp scores, output;
  Operation *scaleOp = nullptr; // nn.mul or nn.div, or none
  CausalMaskOp mask;
  SoftmaxOp softmax;
  double scale = 1.0;
};

/// Peels the optional scale off the masked value; fails on anything else.
LogicalResult matchScale(Value scaled, Match &m) {
  Operation *def = scaled.getDefiningOp();
  if (isa_and_nonnull<MatmulOp>(def)) {
    m.scores = cast<MatmulOp>(def);
    return success();
  }
  if (!isa_and_nonnull<MulOp, DivOp>(def) || !def->hasOneUse())
    return failure();
  Value lhs = def->getOperand(0), rhs = def->getOperand(1);
  std::optional<double> factor = splatValue(rhs);
  Value product = lhs;
  if (!factor && isa<MulOp>(def)) { // the constant on the left
    factor = splatValue(lhs);
    product = rhs;
  }
  if (!factor || *factor == 0.0 || !std::isfinite(*factor))
    return failure();
  m.scaleOp = def;
  m.scale = isa<DivOp>(def) ? 1.0 / *factor : *factor;
  m.scores = product.getDefiningOp<MatmulOp>();
  // The scale must not broadcast the scores to a larger shape.
  return success(m.scores && typeOf(def->getResult(0)) == typeOf(product));
}

FailureOr<Match> matchAttention(SoftmaxOp softmax) {
  Match m;
  m.softmax = softmax;
  int64_t rank = typeOf(softmax.getResult()).getRank();
  int64_t axis = softmax.getAxis().value_or(defaults::kAxis);
  if (rank < 2 || (axis != -1 && axis != rank - 1))
    return failure();
  m.mask = softmax.getInput().getDefiningOp<CausalMaskOp>();
  if (!m.mask || !m.mask->hasOneUse() || !masksCompletely(m.mask) ||
      failed(matchScale(m.mask.getInput(), m)))
    return failure();
  if (!m.scores->hasOneUse() || m.scores.hasFoldedLayouts() || !softmax->hasOneUse())
    return failure();
  m.output = dyn_cast<MatmulOp>(*softmax->getUsers().begin());
  if (!m.output || m.output.getLhs() != softmax.getResult() || m.output.hasFoldedLayouts())
    return failure();
  // q (..., T, D), kT (..., D, T), v (..., T, D): one shape for q, k and v, no broadcasting.
  RankedTensorType q = typeOf(m.scores.getLhs()), kT = typeOf(m.scores.getRhs()),
                   v = typeOf(m.output.getRhs());
  if (q.getRank() != rank || kT.getRank() != rank || v != q ||
      kT.getElementType() != q.getElementType())
    return failure();
  SmallVector<int64_t> kShape(kT.getShape());
  std::swap(kShape[rank - 1], kShape[rank - 2]);
  if (ArrayRef<int64_t>(kShape) != q.getShape())
    return failure();
  return m;
}

/// k (..., T, D) from kT (..., D, T): one transpose, composed with the one that made kT.
Value untransposeKey(OpBuilder &b, Location loc, Value kT) {
  int64_t rank = typeOf(kT).getRank();
  SmallVector<int64_t> swap = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(swap[rank - 1], swap[rank - 2]);
  Value source = kT;
  SmallVector<int64_t> perm = swap;
  if (auto transpose = kT.getDefiningOp<TransposeOp>()) {
    source = transpose.getInput();
    perm = applyPermutation(transpose.getPermutation(), swap);
  }
  if (isIdentityPermutation(perm))
    return source;
  return TransposeOp::create(b, loc, source, perm);
}

void rewrite(Match &m) {
  OpBuilder b(m.output);
  Location loc = m.softmax.getLoc();
  Value k = untransposeKey(b, m.scores.getLoc(), m.scores.getRhs());
  auto fused = CausalAttentionOp::create(b, loc, m.scores.getLhs(), k, m.output.getRhs(),
                                         b.getF64FloatAttr(m.scale));
  m.output.getResult().replaceAllUsesWith(fused.getResult());
  Value kT = m.scores.getRhs();
  m.output.erase();
  m.softmax.erase();
  m.mask.erase();
  if (m.scaleOp) {
    SmallVector<Value> operands(m.scaleOp->getOperands());
    m.scaleOp->erase();
    for (Value operand : operands) // the scale's constant, unless something else reads it
      if (Operation *def = operand.getDefiningOp(); def && isa<ConstantOp>(def) && def->use_empty())
        def->erase();
  }
  m.scores.erase();
  if (Operation *def = kT.getDefiningOp(); def && isa<TransposeOp>(def) && def->use_empty())
    def->erase();
}

/// Whether the model trains in bf16 or fp16 (its training spec, on the enclosing module).
bool lowPrecisionModel(Operation *op) {
  auto module = op->getParentOfType<ModuleOp>();
  auto spec = module ? module->getAttrOfType<TrainingSpecAttr>(nnc::attr::kTraining)
                     : TrainingSpecAttr();
  return spec && spec.getPrecision() != PrecisionKind::fp32;
}

struct FuseAttentionPass : nnc::impl::FuseAttentionBase<FuseAttentionPass> {
  using FuseAttentionBase::FuseAttentionBase;
  void runOnOperation() override {
    // On an AMX CPU, bf16 and fp16 models keep the unfused graph: its AMX GEMMs beat the fused
    // op's f32 loops (bench/RESULTS.md). The fused op itself handles bf16 (and fp16 in f32).
    if (!lowPrecision && lowPrecisionModel(getOperation()))
      return;
    SmallVector<Match> matches;
    getOperation().walk([&](SoftmaxOp softmax) {
      if (FailureOr<Match> m = matchAttention(softmax); succeeded(m))
        matches.push_back(*m);
    });
    for (Match &m : matches)
      rewrite(m);
  }
};

} // namespace
