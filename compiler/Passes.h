// Declarations of nnc's passes and pattern sets (see Passes.td).
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
}

namespace nnc {

#define GEN_PASS_DECL
#include "compiler/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Passes.h.inc"

/// nn -> linalg/tensor/arith/math patterns for every op but contractions and constants
/// (`scatterLoops`, `softmaxExpsOnce`: see the nnc-lower-nn-to-linalg options).
void populateNNToLinalgPatterns(mlir::RewritePatternSet &patterns, bool scatterLoops,
                                bool softmaxExpsOnce);

} // namespace nnc
