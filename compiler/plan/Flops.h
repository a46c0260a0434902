// FLOPs per call of a function of nn ops: exact for contractions, one per output element for
// everything else (a lower bound that the contractions dominate in every model we build).
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cstdint>

namespace nnc {
int64_t countFlops(mlir::func::FuncOp func);
/// One op's share (0 for ops of other dialects, constants and reshapes).
int64_t countFlops(mlir::Operation *op);
} // namespace nnc
