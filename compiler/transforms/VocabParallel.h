// Tensor parallelism's vocabulary split (part of nnc-tensor-parallel, VocabParallel.cpp).
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace nnc {

/// Splits a language model's output layer, its cross-entropy and the embeddings of its
/// vocabulary over `ranks` in @forward (before autodiff); any vocabulary size (the parts are
/// padded). Returns whether it found such layers.
bool splitVocabulary(mlir::func::FuncOp forward, int64_t ranks);

} // namespace nnc
