// Phase table and pipeline assembly: the one place that decides which passes run in which order.
#include "compiler/pipeline/Pipeline.h"

#include "compiler/Passes.h"

#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

namespace nnc {

llvm::ArrayRef<PhaseInfo> phases() {
  static const PhaseInfo table[] = {
      {Phase::Import, "import", "model.pb -> verified `nn` IR", true},
      {Phase::Autodiff, "autodiff", "forward + loss -> @train_step (VJPs, train-op updates)", true},
      {Phase::Precision, "precision", "mixed precision: low-precision compute, fp32 allow-list",
       true},
      {Phase::Accumulate, "accumulate", "gradient accumulation over micro-batches", true},
      {Phase::Distribute, "distribute",
       "data-parallel gradient all-reduce (pipeline stages: not built)", true},
      {Phase::Optimize, "optimize", "train ops (updates, clipping) -> nn ops, fused when lowered",
       true},
      {Phase::Lower, "lower", "@predict: nn -> linalg, fusion, kernels + library calls", true},
      {Phase::Codegen, "codegen", "kernels -> native CPU code (prints the kernel IR)", true},
      {Phase::Plan, "plan", "serialized nnc.Plan (buffer assignment, commands, kernels)", true},
  };
  return table;
}

std::optional<PhaseInfo> lookupPhase(llvm::StringRef name) {
  for (const PhaseInfo &info : phases())
    if (info.name == name)
      return info;
  return std::nullopt;
}

void buildPipeline(Phase last, mlir::OpPassManager &pm, bool cpuKernels) {
  // Import is done by the importer itself. Codegen and plan run after `lower` outside the pass
  // manager (they leave MLIR).
  if (last < Phase::Autodiff)
    return;
  pm.addPass(createAutodiff());
  pm.addPass(createOptimizer());
  if (last < Phase::Precision)
    return;
  pm.addPass(createPrecision());
  if (last < Phase::Accumulate)
    return;
  pm.addPass(createAccumulate());
  pm.addPass(createPipelineForward());
  if (last < Phase::Distribute)
    return;
  pm.addPass(createDistribute());
  if (last < Phase::Optimize)
    return;
  pm.addPass(createGuardNonfinite());
  pm.addNestedPass<mlir::func::FuncOp>(createExpandTrainOps());
  pm.addNestedPass<mlir::func::FuncOp>(createFuseGuards());
  if (last < Phase::Lower)
    return;
  pm.addPass(createExtractPredict());
  pm.addNestedPass<mlir::func::FuncOp>(createFuseEpilogues());
  if (cpuKernels)
    pm.addNestedPass<mlir::func::FuncOp>(createFoldMatmulLayouts());
  LowerNNToLinalgOptions lower;
  lower.scatterLoops = cpuKernels;
  lower.softmaxExpsOnce = cpuKernels;
  pm.addNestedPass<mlir::func::FuncOp>(createLowerNNToLinalg(lower));
  pm.addNestedPass<mlir::func::FuncOp>(createFuseElementwise());
  if (cpuKernels)
    pm.addNestedPass<mlir::func::FuncOp>(createSplitColumnReductions());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  OutlineKernelsOptions outline;
  outline.rowGroups = cpuKernels;
  pm.addPass(createOutlineKernels(outline));
  pm.addPass(createDedupKernels());
}

} // namespace nnc
