// Small edits the training passes make to the functions they derive (@accumulate_step,
// @apply_step, @find_nonfinite, @forward_step): new results, dead ops gone, unread inputs gone.
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace nnc {

/// Replaces `func`'s results by `values`, with `attrs` (one per value, or none).
void setResults(mlir::func::FuncOp func, mlir::ArrayRef<mlir::Value> values,
                mlir::ArrayRef<mlir::DictionaryAttr> attrs);

/// Erases the ops whose results end up unused, last first, so a use is gone before its
/// definition is looked at; with `keepEffects`, not those that may have side effects (ops
/// without a memory-effect interface count as such).
void eraseDeadOps(mlir::Block &body, bool keepEffects);

/// Removes the unused `nn.input` arguments: a plan function's inputs are what the runtime must
/// feed. Parameters stay, used or not, so every function sees the whole parameter table.
void eraseUnusedInputs(mlir::func::FuncOp func);

} // namespace nnc
