// The attribute names that the CPU codegen passes hand to each other and to the library builder
// (CpuCodegen.cpp), in one place.
#pragma once

#include "dialects/AttrNames.h"

#include "llvm/ADT/StringRef.h"

namespace nnc {

/// On the kernel functions nnc-outline-kernels creates (named with the passes' attributes).
inline constexpr llvm::StringLiteral kKernelAttr = attr::kKernel;

/// On the module nnc-extract-kernels nests the kernels' copies in, which the codegen pipeline
/// lowers to the LLVM dialect.
inline constexpr llvm::StringLiteral kKernelModuleAttr = "nnc.kernels";

/// nnc-mark-rows: on a kernel whose work splits into row shares, the number of rows (its last
/// two arguments are the share `part` and the number of shares `parts`).
inline constexpr llvm::StringLiteral kRowsAttr = "nnc.rows";

/// nnc-mark-rows: on a kernel of several loop nests over the same rows, the number of leading
/// loops they share (nnc-fuse-row-loops merges them).
inline constexpr llvm::StringLiteral kFuseRowsAttr = "nnc.fuse_rows";

} // namespace nnc
