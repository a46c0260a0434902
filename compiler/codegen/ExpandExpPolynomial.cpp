// f32 exp as a polynomial inline, instead of a call of glibc's vector expf.
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

namespace nnc {
#define GEN_PASS_DEF_EXPANDEXPPOLYNOMIAL
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// A loop that calls glibc's vector expf spills and reloads every vector it keeps live around the
/// call (all zmm registers are caller-saved): in GELU's backward kernel, 20 constants reloaded and
/// 4 values spilled per 16 lanes, half of the kernel's time. Cephes' expf instead, straight-line
/// arithmetic that vectorizes in the loop:
///   n = round(x / ln 2), r = x - n ln 2 (in two parts, Cody and Waite),
///   exp(x) = 2^n (1 + r + r^2 P(r)), 2^n built in the exponent bits, as 2^(n/2) 2^(n - n/2)
///   so that both halves stay normal at n = -126 and n = 128.
/// Outside [ln(FLT_MIN), ln(FLT_MAX)] the result is 0 (a subnormal, which the runtime flushes
/// anyway) or +inf; NaN stays NaN. Only arith ops: math.roundeven would become a libm call.
void expandExpPolynomial(func::FuncOp func) {
  SmallVector<math::ExpOp> exps;
  func.walk([&](math::ExpOp exp) {
    if (exp.getType().isF32())
      exps.push_back(exp);
  });
  static constexpr float kPolynomial[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3333452701e-3f,
                                          4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
  constexpr float kLow = -87.33654f, kHigh = 88.72283f; // ln(FLT_MIN), ln(FLT_MAX)
  for (math::ExpOp exp : exps) {
    OpBuilder b(exp);
    Location loc = exp.getLoc();
    auto contract = arith::FastMathFlags::contract;
    Type i32 = b.getI32Type();
    auto constant = [&](float value) {
      return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value)).getResult();
    };
    auto integer = [&](int32_t value) {
      return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(value)).getResult();
    };
    auto mul = [&](Value l, Value r) { return arith::MulFOp::create(b, loc, l, r, contract); };
    auto add = [&](Value l, Value r) { return arith::AddFOp::create(b, loc, l, r, contract); };
    auto cmp = [&](arith::CmpFPredicate p, Value l, Value r) {
      return arith::CmpFOp::create(b, loc, p, l, r).getResult();
    };
    Value x = exp.getOperand();
    Value clamped = arith::MinNumFOp::create(
        b, loc, arith::MaxNumFOp::create(b, loc, x, constant(kLow)), constant(kHigh));
    // n = round(x / ln 2): truncation of x / ln 2 +- 0.5.
    Value half = arith::SelectOp::create(b, loc, cmp(arith::CmpFPredicate::OLT, clamped,
                                                     constant(0.0f)),
                                         constant(-0.5f), constant(0.5f));
    Value n = arith::FPToSIOp::create(b, loc, i32,
                                      add(mul(clamped, constant(1.44269504088896341f)), half));
    Value nf = arith::SIToFPOp::create(b, loc, b.getF32Type(), n);
    Value r = add(add(clamped, mul(nf, constant(-0.693359375f))),
                  mul(nf, constant(2.12194440e-4f))); // x - n ln 2, ln 2 in two parts
    Value p = constant(kPolynomial[0]);
    for (float c : ArrayRef<float>(kPolynomial).drop_front())
      p = add(mul(p, r), constant(c));
    Value y = add(add(mul(mul(p, r), r), r), constant(1.0f));
    auto powerOfTwo = [&](Value e) { // 2^e for e in [-126, 127], in the exponent bits
      Value bits = arith::ShLIOp::create(b, loc, arith::AddIOp::create(b, loc, e, integer(127)),
                                         integer(23));
      return arith::BitcastOp::create(b, loc, b.getF32Type(), bits).getResult();
    };
    Value n1 = arith::ShRSIOp::create(b, loc, n, integer(1));
    Value n2 = arith::SubIOp::create(b, loc, n, n1);
    Value result = mul(mul(y, powerOfTwo(n1)), powerOfTwo(n2));
    result = arith::SelectOp::create(b, loc, cmp(arith::CmpFPredicate::OLT, x, constant(kLow)),
                                     constant(0.0f), result);
    result = arith::SelectOp::create(b, loc, cmp(arith::CmpFPredicate::OGT, x, constant(kHigh)),
                                     constant(INFINITY), result);
    result = arith::SelectOp::create(b, loc, cmp(arith::CmpFPredicate::UNO, x, x), x, result);
    exp.replaceAllUsesWith(result);
    exp.erase();
  }
}

struct ExpandExpPolynomialPass : nnc::impl::ExpandExpPolynomialBase<ExpandExpPolynomialPass> {
  void runOnOperation() override { expandExpPolynomial(getOperation()); }
};

} // namespace
