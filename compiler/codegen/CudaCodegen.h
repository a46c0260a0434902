// CUDA code generation: the kernel functions of a lowered module become one PTX module plus, for
// each kernel, the grid/block launches that run it (proto/plan.proto's CudaKernelLibrary).
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace nnc {
class CudaKernelLibrary;

/// The GPU the PTX is generated for. sm_90 needs PTX ISA 8.0 (MLIR 22 defaults to 6.0, which
/// cannot name sm_90).
struct CudaTarget {
  std::string chip = "sm_90";
  std::string features = "+ptx80";
};

/// The `nnc.kernel` functions of `module`, bufferized and mapped onto the GPU, in a module of
/// their own: each kernel is a host function of `gpu.launch_func`s into one `gpu.module
/// @nnc_kernels`. Null after a diagnostic on failure.
mlir::OwningOpRef<mlir::ModuleOp> lowerKernelsToGpu(mlir::ModuleOp module);

/// Compiles every `nnc.kernel` function of `module` to PTX and records its launches in `library`
/// (symbols as the CPU backend names them: kKernelEntryPrefix + name). Errors are diagnostics.
mlir::LogicalResult compileCudaKernels(mlir::ModuleOp module, const CudaTarget &target,
                                       CudaKernelLibrary &library);

/// The library as `nnc compile --target cuda --compile-to=codegen` prints it: the launches as
/// `//` comments, then the PTX. The whole text is still valid PTX (ptxas accepts it).
std::string printCudaKernelLibrary(const CudaKernelLibrary &library);

} // namespace nnc
