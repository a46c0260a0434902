// f32 erf as a rational approximation inline, instead of a call of glibc's erff.
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace nnc {
#define GEN_PASS_DEF_EXPANDERFRATIONAL
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// glibc's vector erff costs about 0.8 ns a value (16 lanes in 13 ns), which made GELU's forward
/// and backward kernels 10% of the char-GPT's step. Eigen's and XLA's f32 erf instead: x clamped
/// to [-4, 4] (erf is +-1 in f32 beyond), then an odd polynomial over an even one in x^2, straight
/// FMAs and one division that vectorize in the loop. Measured against double erf over [-6, 6] in
/// steps of 1e-5: at most 3.7e-7 absolute error (3 ulp near 1).
void expandErfRational(func::FuncOp func) {
  SmallVector<math::ErfOp> erfs;
  func.walk([&](math::ErfOp erf) {
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

struct ExpandErfRationalPass : nnc::impl::ExpandErfRationalBase<ExpandErfRationalPass> {
  void runOnOperation() override { expandErfRational(getOperation()); }
};

} // namespace
