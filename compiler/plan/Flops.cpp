// FLOP counting over nn ops (see Flops.h).
#include "compiler/plan/Flops.h"

#include "dialects/nn/NNDialect.h"

using namespace mlir;

namespace nnc {

int64_t countFlops(Operation *op) {
  if (op->getDialect() == nullptr || !isa<nn::NNDialect>(op->getDialect()) ||
      isa<nn::ConstantOp, nn::ReshapeOp>(op))
    return 0;
  int64_t flops = 0;
  {
    auto result = cast<RankedTensorType>(op->getResult(0).getType());
    auto operandType = [&](int i) { return cast<RankedTensorType>(op->getOperand(i).getType()); };
    if (auto matmul = dyn_cast<nn::MatmulOp>(op)) {
      // 2 * (result elements) * K, K the contracted (last) dimension of the product's lhs.
      flops += 2 * result.getNumElements() * matmul.getContractedSize();
    } else if (isa<nn::LinearOp>(op)) {
      flops += 2 * result.getNumElements() * operandType(0).getShape().back();
    } else if (isa<nn::Conv2dOp, nn::Conv2dGradInputOp, nn::Conv2dGradWeightOp>(op)) {
      // Each pass costs the forward's 2 * (output elements) * (C / groups) KH KW.
      bool gradWeight = isa<nn::Conv2dGradWeightOp>(op);
      auto output = isa<nn::Conv2dOp>(op) ? result : operandType(gradWeight ? 1 : 0);
      auto weight = gradWeight ? result : operandType(1); // (O, C / groups, KH, KW)
      flops += 2 * output.getNumElements() * weight.getDimSize(1) * weight.getDimSize(2) *
               weight.getDimSize(3);
    } else if (isa<nn::CausalAttentionOp, nn::CausalAttentionGradOp>(op)) {
      // Counted as the unfused graph's products over the full T x T scores (2 forward, 4
      // backward), so FLOP rates stay comparable; recomputation and the skipped upper
      // triangle are not counted.
      auto q = operandType(0); // (..., T, D)
      int64_t products = isa<nn::CausalAttentionOp>(op) ? 2 : 4;
      flops += products * 2 * q.getNumElements() * q.getShape()[q.getRank() - 2];
    } else {
      flops += std::max<int64_t>(result.getNumElements(), operandType(0).getNumElements());
    }
  }
  return flops;
}

int64_t countFlops(func::FuncOp func) {
  int64_t flops = 0;
  func.walk([&](Operation *op) { flops += countFlops(op); });
  return flops;
}

} // namespace nnc
