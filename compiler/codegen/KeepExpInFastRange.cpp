// f32 exp with its inputs kept where glibc's vector expf stays on its fast path.
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace nnc {
#define GEN_PASS_DEF_KEEPEXPINFASTRANGE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// glibc's vector expf computes a vector with any lane below ln(FLT_MIN) through the scalar
/// function, about 25 times slower (a causal mask's -inf in every row made softmax three times
/// slower). Those inputs give a subnormal or zero, which the runtime flushes to zero anyway
/// (CpuDevice): so exp(x) = x < ln(FLT_MIN) ? 0 : exp(max(x, ln(FLT_MIN))), always on the fast
/// path. NaN stays NaN.
void keepExpInFastRange(func::FuncOp func) {
  SmallVector<math::ExpOp> exps;
  func.walk([&](math::ExpOp exp) {
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

struct KeepExpInFastRangePass : nnc::impl::KeepExpInFastRangeBase<KeepExpInFastRangePass> {
  void runOnOperation() override { keepExpInFastRange(getOperation()); }
};

} // namespace
