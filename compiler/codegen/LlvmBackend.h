// The LLVM end of code generation, shared by the CPU and CUDA backends. The CUDA backend lowers
// and serializes its GPU module to PTX with upstream passes (NVVM's gpu-module-to-binary
// translates, optimizes at -O3 and emits itself), run through runPipeline. The CPU backend
// translates its kernels to LLVM IR and uses the rest: a target machine, the -O3 pipeline, object
// emission and linking into a shared object.
#pragma once

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class Module;
class TargetMachine;
struct VecDesc;
} // namespace llvm

namespace nnc {

/// Runs the textual pass pipeline `pipeline` on `module`; errors are diagnostics.
mlir::LogicalResult runPipeline(mlir::ModuleOp module, llvm::StringRef pipeline);

/// A target machine for `triple`, `cpu` and exactly `features` (LLVM names, without '+'),
/// position-independent code at -O3. Null, with `error` set, when LLVM lacks the target.
std::unique_ptr<llvm::TargetMachine> createTargetMachine(const std::string &triple,
                                                         const std::string &cpu,
                                                         llvm::ArrayRef<std::string> features,
                                                         std::string &error);

/// LLVM's -O3 module pipeline on `module`, for `machine` (whose data layout and triple it takes).
/// `vectorFunctions`: vector variants of library functions that the loop vectorizer may call.
void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine,
                    llvm::ArrayRef<llvm::VecDesc> vectorFunctions);

/// `module` as an object file of `machine`'s target.
mlir::LogicalResult emitObjectFile(llvm::Module &module, llvm::TargetMachine &machine,
                                   std::string &object, std::string &error);

/// Links `objects` into an ELF shared object with lld, in process (through temporary files).
/// `needed`: shared libraries the object records as needed (DT_NEEDED).
mlir::LogicalResult linkSharedObject(const std::vector<std::string> &objects,
                                     llvm::ArrayRef<std::string> needed, std::string &library,
                                     std::string &error);

} // namespace nnc
