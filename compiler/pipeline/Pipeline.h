// The compilation phases behind `nnc compile --compile-to=<phase>`, in pipeline order, and the
// pass pipeline that takes imported IR to the end of each phase.
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir {
class OpPassManager;
}

namespace nnc {

/// Which models' causal attention nnc-fuse-attention fuses.
enum class AttentionFusion { None, Fp32Models, AllModels };

enum class Phase { Import, Autodiff, Precision, Accumulate, Distribute, Optimize, Lower, Codegen, Plan };

struct PhaseInfo {
  Phase phase;
  llvm::StringRef name;
  llvm::StringRef summary;
  bool implemented;
};

/// All phases in pipeline order.
llvm::ArrayRef<PhaseInfo> phases();

/// The phase named `name`, if any.
std::optional<PhaseInfo> lookupPhase(llvm::StringRef name);

/// Appends the passes that run after import up to and including `last` (which must be
/// implemented) to `pm`. `cpuKernels`: the kernels are for the CPU, which runs row groups of ops
/// as one kernel (nnc-outline-kernels' row-groups; CUDA kernels cannot hold the temporary buffers
/// they need), and whose codegen phase is passes (buildCodegenPipeline; CUDA's runs after the
/// pass manager). `modelParameters`: the model's parameter names, which the plan initializes
/// from the model (other parameters are optimizer state). `memoryBudget`: the arena's limit in
/// bytes, met by recomputation (nnc-recompute; 0: none). `attention` (CPU only): which models
/// nnc-fuse-attention fuses before autodiff.
void buildPipeline(Phase last, mlir::OpPassManager &pm, bool cpuKernels = true,
                   llvm::ArrayRef<std::string> modelParameters = {}, int64_t memoryBudget = 0,
                   AttentionFusion attention = AttentionFusion::Fp32Models);

/// Appends the plan phase's passes to `pm` (anchored on the module the codegen phase produced):
/// nnc-recompute (under a memory budget), nnc-lower-to-plan, then nnc-assign-buffers. A
/// pipelined model runs them per stage, then nnc-schedule-pipeline on the outer module.
void buildPlanPipeline(mlir::OpPassManager &pm, llvm::ArrayRef<std::string> modelParameters,
                       int64_t memoryBudget = 0);

/// Appends the CPU codegen phase to `pm` (anchored on the module the lower phase produced): the
/// kernels are copied into a nested module (nnc-extract-kernels), which is bufferized and lowered
/// to the LLVM dialect with nnc's row and math rewrites between the upstream passes. The plan
/// phase then compiles that module to native code (codegen/CpuCodegen.h). The upstream passes
/// are named by their registered arguments: call registerPasses() (Registration.h) first.
void buildCodegenPipeline(mlir::OpPassManager &pm);

} // namespace nnc
