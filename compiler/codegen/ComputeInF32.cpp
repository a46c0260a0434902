// bf16 and f16 kernels compute in f32: the low-precision types stay only where values are loaded
// and stored. LLVM lowers each bf16 arith op as extend, f32 op, truncate, so a chain of them
// rounded after every op and converted back and forth; and math ops on bf16 missed the f32
// rewrites (erf became calls of glibc's erff).
//
// 1. Walk the function in order. An arith/math op whose float operands and results are all one
//    low-precision type is cloned at f32, its operands replaced by their f32 versions (the value
//    an earlier clone computed, else an arith.extf made once per value).
// 2. The low-precision result is the clone's result truncated (arith.truncf), for the users that
//    need that type (stores, yields); an arith.extf of it to f32 becomes the f32 value itself.
// 3. Truncations nothing uses are erased.
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/IRMapping.h"

namespace nnc {
#define GEN_PASS_DEF_COMPUTEINF32
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

bool isLowPrecision(Type type) { return isa<BFloat16Type, Float16Type>(type); }

/// The low-precision float type all of `op`'s float operands and results share, if `op` is an
/// arith or math computation (not a constant or a conversion) on one.
Type lowPrecisionType(Operation *op) {
  if (!isa<arith::ArithDialect, math::MathDialect>(op->getDialect()) ||
      isa<arith::ConstantOp, arith::ExtFOp, arith::TruncFOp, arith::BitcastOp>(op) ||
      op->getNumRegions() != 0)
    return {};
  Type low;
  for (Type type : llvm::concat<const Type>(op->getOperandTypes(), op->getResultTypes())) {
    if (!isa<FloatType>(type))
      continue;
    if (!isLowPrecision(type) || (low && type != low))
      return {};
    low = type;
  }
  return low;
}

void computeInF32(func::FuncOp func) {
  Type f32 = Float32Type::get(func.getContext());
  llvm::DenseMap<Value, Value> wide; // low-precision value -> the same value in f32
  SmallVector<arith::TruncFOp> truncations;
  // Extended right after its definition, so that the one extf serves every use, in any region.
  auto widen = [&](Value low) {
    Value &w = wide[low];
    if (!w) {
      OpBuilder b(low.getContext());
      b.setInsertionPointAfterValue(low);
      w = arith::ExtFOp::create(b, low.getLoc(), f32, low);
    }
    return w;
  };
  func.walk([&](Operation *op) {
    if (auto ext = dyn_cast<arith::ExtFOp>(op)) {
      if (Value w = wide.lookup(ext.getIn()); w && ext.getType() == f32) {
        ext.replaceAllUsesWith(w);
        ext.erase();
      }
      return;
    }
    Type low = lowPrecisionType(op);
    if (!low)
      return;
    OpBuilder b(op);
    Operation *clone = b.clone(*op);
    for (OpOperand &operand : clone->getOpOperands())
      if (operand.get().getType() == low)
        operand.set(widen(operand.get()));
    for (auto [result, wideResult] : llvm::zip(op->getResults(), clone->getResults())) {
      if (result.getType() != low)
        continue;
      wideResult.setType(f32);
      auto narrow = arith::TruncFOp::create(b, op->getLoc(), low, wideResult);
      truncations.push_back(narrow);
      result.replaceAllUsesWith(narrow.getResult());
      wide[narrow.getResult()] = wideResult;
    }
    for (auto [result, cloneResult] : llvm::zip(op->getResults(), clone->getResults()))
      if (result.getType() != low)
        result.replaceAllUsesWith(cloneResult);
    op->erase();
  });
  for (arith::TruncFOp narrow : truncations)
    if (narrow->use_empty())
      narrow->erase();
}

struct ComputeInF32Pass : nnc::impl::ComputeInF32Base<ComputeInF32Pass> {
  void runOnOperation() override { computeInF32(getOperation()); }
};

} // namespace
