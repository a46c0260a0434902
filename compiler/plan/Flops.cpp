// FLOP counting over nn ops (see Flops.h).
#include "compiler/plan/Flops.h"

#include "dialects/nn/NNDialect.h"

using namespace mlir;

namespace nnc {

int64_t countFlops(func::FuncOp func) {
  int64_t flops = 0;
  func.walk([&](Operation *op) {
    if (op->getDialect() == nullptr || !isa<nn::NNDialect>(op->getDialect()) ||
        isa<nn::ConstantOp, nn::ReshapeOp>(op))
      return;
    auto result = cast<RankedTensorType>(op->getResult(0).getType());
    auto operandType = [&](int i) { return cast<RankedTensorType>(op->getOperand(i).getType()); };
    if (isa<nn::LinearOp, nn::MatmulOp>(op)) {
      // 2 * (result elements) * K, K the contracted dimension of the first operand.
      flops += 2 * result.getNumElements() * operandType(0).getShape().back();
    } else if (auto conv = dyn_cast<nn::Conv2dOp>(op)) {
      auto weight = operandType(1); // (O, C / groups, KH, KW)
      flops += 2 * result.getNumElements() * weight.getDimSize(1) * weight.getDimSize(2) *
               weight.getDimSize(3);
    } else {
      flops += std::max<int64_t>(result.getNumElements(), operandType(0).getNumElements());
    }
  });
  return flops;
}

} // namespace nnc
