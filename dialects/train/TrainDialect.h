// The `train` dialect: optimizer updates, gradient clipping, all-reduce (see TrainOps.td).
#pragma once

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/nn/NNDialect.h" // DifferentiableOpInterface

#include "dialects/train/TrainDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/train/TrainOps.h.inc"

namespace nnc::train {
/// Whether `operand` is where a parameter's gradient enters the update: global_norm's operands,
/// clip's gradient, an optimizer's gradient unless a clip produced it.
bool isGradientOperand(mlir::OpOperand &operand);
/// ZeRO-1: one rank's shard of a tensor of type `whole` over `shards` ranks: 1-D, ceil(n /
/// shards) elements of its element type.
mlir::RankedTensorType shardType(mlir::RankedTensorType whole, int64_t shards);
} // namespace nnc::train
