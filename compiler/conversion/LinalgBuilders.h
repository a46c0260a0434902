// Builders of linalg-on-tensors IR shared by the nn -> linalg lowerings (NNToLinalg.cpp for the
// model ops, GradsToLinalg.cpp for the backward and training ops).
#pragma once

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace nnc::lowering {

using BodyFn = llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

/// An empty tensor of `type`, filled with `fill` when given (the init of a reduction).
mlir::Value emptyTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                        std::optional<double> fill = std::nullopt);

/// One linalg.generic: `body` maps the current input elements (and the output's, last) to the
/// new output element.
mlir::Value generic(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange inputs,
                    llvm::ArrayRef<mlir::AffineMap> inputMaps, mlir::Value init,
                    mlir::AffineMap outputMap,
                    llvm::ArrayRef<mlir::utils::IteratorType> iterators, BodyFn body);

/// The map from an output of rank `rank` to a NumPy-broadcast operand of `shape`.
mlir::AffineMap broadcastMap(mlir::MLIRContext *ctx, int64_t rank, llvm::ArrayRef<int64_t> shape,
                             llvm::ArrayRef<int64_t> outShape);

/// An elementwise generic over `resultType` with broadcasting inputs.
mlir::Value elementwise(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType resultType,
                        mlir::ValueRange inputs, BodyFn body);

/// Reduces `input` over `axes` into a tensor of the remaining dimensions (keeping size-1 dims
/// when `keepdim`), starting from `initValue` and combining with `combine(element, acc)`.
mlir::Value reduce(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                   llvm::ArrayRef<int64_t> axes, bool keepdim, double initValue, BodyFn combine);

mlir::Value constantFloat(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type, double value);

/// max(x, m) as PyTorch's max_pool2d takes it (x > m || isnan(x): a NaN wins): a compare and a
/// select, which vectorize, where maximumf's ordering of -0 and +0 costs a dozen scalar
/// instructions per element.
mlir::Value maxKeepingNaN(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value m);

/// Whether a 2-D pooling's windows tile its (N, C, H, W) input exactly: stride = kernel, no
/// padding, H = OH * KH and W = OW * KW, static shapes. Such pooling runs as passes over
/// contiguous rows and long flattened loops, which vectorize (NNToLinalg.cpp, GradsToLinalg.cpp).
bool tilesExactly(mlir::RankedTensorType input, mlir::RankedTensorType output,
                  llvm::ArrayRef<int64_t> kernel, llvm::ArrayRef<int64_t> stride,
                  llvm::ArrayRef<int64_t> padding);

/// Tiled pooling's row pass over (n, c, oh, w): the KH maps to input[n, c, oh * KH + kh, w].
llvm::SmallVector<mlir::AffineMap> windowRowMaps(mlir::MLIRContext *ctx, int64_t kh);

/// Tiled pooling's column pass: `rows` (N, C, OH, W) viewed as (N, C * OH * OW, KW), each
/// window's KW columns, flattened per sample (one long loop), and the KW maps from that loop's
/// (n, i) to column kw of window i.
mlir::Value windowColumns(mlir::OpBuilder &b, mlir::Location loc, mlir::Value rows, int64_t kw);
llvm::SmallVector<mlir::AffineMap> windowColumnMaps(mlir::MLIRContext *ctx, int64_t kw);

/// Whether `map` indexes the first `depth` tensor dimensions with loops 0..depth-1, in order, and
/// uses those loops nowhere else: iteration (r0, ...) of the first loops touches only the slice
/// (r0, ...). Row groups (nnc-outline-kernels) are built on it with depth 1, and CPU codegen runs
/// their loop nests row by row, as deep as it holds, so both use this one test.
bool indexesLeadingDims(mlir::AffineMap map, int64_t depth);

/// Inside a generic's body: which element of a strided sequence (element i at offset + i *
/// stride, i in [0, extent)) `position` is. Sets `valid` false (and-ing into it) where it is
/// none, and returns 0 there, so a read at the returned index stays in bounds.
mlir::Value stridedIndex(mlir::OpBuilder &b, mlir::Location l, mlir::Value position,
                         int64_t offset, int64_t stride, int64_t extent, mlir::Value &valid);

} // namespace nnc::lowering

namespace nnc {
/// The lowerings of the backward-pass and training ops (GradsToLinalg.cpp); `scatterLoops`: an
/// embedding gradient is a loop over the looked-up rows (CPU kernels), else one linalg op.
void populateGradsToLinalgPatterns(mlir::RewritePatternSet &patterns, bool scatterLoops);
} // namespace nnc
