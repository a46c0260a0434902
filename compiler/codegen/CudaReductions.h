// Reductions on the GPU as block tree reductions: each output of a linalg reduction gets a block
// (or, for long reductions, several blocks and a second launch over their partial results), the
// block's threads fold strided slices of the reduced elements, and a warp-shuffle/shared-memory
// tree (gpu.all_reduce) combines them. Used by the CUDA backend (CudaCodegen.cpp).
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace nnc {

/// Rewrites every top-level f32 linalg.generic reduction of the bufferized kernel function `func`
/// whose body folds with one associative combiner (add, mul, max, min) into gpu.launch ops, and a
/// linalg.fill of its output just before it into the launch's last step. Reductions of at most 32
/// elements per output over at least 32 outputs get a thread per output instead. Partial results of two-stage reductions live in module-level memref.globals in GPU global
/// memory, named `<func>_partials<N>`.
void mapReductionsToBlocks(mlir::func::FuncOp func);

} // namespace nnc
