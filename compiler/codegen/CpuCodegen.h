// CPU code generation: the kernel functions of a lowered module become one shared object.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>
#include <vector>

namespace nnc {

/// What the kernels are compiled for; recorded in the plan, checked by the runtime.
struct CpuTarget {
  std::string triple;
  std::string cpu;
  std::vector<std::string> features; // LLVM names, e.g. "avx512f"
};

/// The machine nnc runs on.
CpuTarget hostCpuTarget();

/// Whether the machine nnc runs on has AMX bf16 tiles (which oneDNN's GEMMs use at run time; the
/// plan's own kernels do not, so CpuTarget does not list it).
bool hostHasAmxBf16();

/// Each kernel `@name` is exported from the library as `void <prefix>name(void **args)`.
inline constexpr const char *kKernelEntryPrefix = "nnc_";

/// A kernel whose work splits into shares of its rows (the first loop of each of its loop nests)
/// is also exported as `void <prefix>name<suffix>(void **args, int64_t part, int64_t parts)`,
/// which runs share `part` of `parts`; the shares write disjoint memory, so they may run on
/// different threads at once. The runtime looks the symbol up and may use either entry.
inline constexpr const char *kPartSuffix = "_part";

/// On a kernel that computes results over some of its inputs (updated parameters written over the
/// old values, elementwise): per result, the position of the input it overwrites, or -1. Such a
/// result's argument and that input point at the same buffer; the library makes them one
/// pointer, so that LLVM sees each element read before it is written and vectorizes without
/// overlap checks.
inline constexpr const char *kInPlaceAttr = "nnc.in_place";

/// The kernels that the codegen pipeline (buildCodegenPipeline) lowered to the LLVM dialect in a
/// module nested in `module`, as a module of their own (what `--compile-to=codegen` prints). Null
/// when `module` holds none (the pipeline did not run on it).
mlir::OwningOpRef<mlir::ModuleOp> loweredKernels(mlir::ModuleOp module);

/// Compiles every `nnc.kernel` function of `module` into an ELF shared object (`library`), from
/// the lowered kernels the codegen pipeline nested in `module`. Errors are emitted as diagnostics.
mlir::LogicalResult compileKernels(mlir::ModuleOp module, const CpuTarget &target,
                                   std::string &library);

} // namespace nnc
