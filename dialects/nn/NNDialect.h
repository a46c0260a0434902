// The `nn` dialect: tensor-level neural-network ops (see NNDialect.td).
#pragma once

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <cstdint>

#include "dialects/nn/NNDialect.h.inc"
#include "dialects/nn/NNEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/nn/NNAttrs.h.inc"

namespace nnc::nn::defaults {
// Values of the ops' optional attributes when absent; shared by inference and lowering.
inline constexpr int64_t kUnitPair[] = {1, 1}; // conv2d stride and dilation
inline constexpr int64_t kZeroPair[] = {0, 0}; // conv2d and pooling padding
inline constexpr int64_t kGroups = 1;
inline constexpr int64_t kAxis = -1; // softmax, log_softmax
inline constexpr double kLayerNormEpsilon = 1e-5;
inline constexpr Approximation kGeluApproximate = Approximation::none;
inline constexpr Reduction kReduction = Reduction::mean; // cross_entropy
inline constexpr double kLabelSmoothing = 0.0;
inline constexpr bool kKeepdim = false;
inline constexpr double kBatchNormEpsilon = 1e-5;
inline constexpr double kBatchNormMomentum = 0.1; // PyTorch's: the weight of the new batch
} // namespace nnc::nn::defaults

#include "dialects/nn/NNInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialects/nn/NNOps.h.inc"

namespace nnc::nn {
/// The activation a linear or conv2d applies to its result, if any.
inline std::optional<Activation> fusedActivation(mlir::Operation *op) {
  if (auto linear = llvm::dyn_cast<LinearOp>(op))
    return linear.getActivation();
  if (auto conv = llvm::dyn_cast<Conv2dOp>(op))
    return conv.getActivation();
  return std::nullopt;
}

/// The element type of nn.conv2d_grad_weight's bias gradient for a `grad` of element type
/// `element`: f32 for bf16 and f16 (summed in f32, as mixed precision sums), else the same.
inline mlir::Type convBiasGradElementType(mlir::Type element) {
  return element.getIntOrFloatBitWidth() < 32 ? mlir::Float32Type::get(element.getContext())
                                              : element;
}
} // namespace nnc::nn
