// Tensor parallelism's vocabulary split (part of nnc-tensor-parallel, VocabParallel.cpp).
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace nnc {

/// Splits a language model's output layer, its cross-entropy and the embeddings of its
/// vocabulary over `ranks` in @forward (before autodiff). Sets `split` when it split anything;
/// fails, after an error naming the layer, when `ranks` cannot split the vocabulary.
mlir::LogicalResult splitVocabulary(mlir::func::FuncOp forward, int64_t ranks, bool &split);

} // namespace nnc
