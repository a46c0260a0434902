// Phase table and pipeline assembly: the one place that decides which passes run in which order.
#include "compiler/pipeline/Pipeline.h"

#include "compiler/Passes.h"

#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/ErrorHandling.h"

namespace nnc {

llvm::ArrayRef<PhaseInfo> phases() {
  static const PhaseInfo table[] = {
      {Phase::Import, "import", "model.pb / ONNX -> verified `nn` IR", true},
      {Phase::Autodiff, "autodiff", "forward + loss -> @train_step (VJPs, then train-op updates)",
       true},
      {Phase::Precision, "precision", "mixed precision: low-precision compute, fp32 allow-list",
       true},
      {Phase::Accumulate, "accumulate", "gradient accumulation over micro-batches", true},
      {Phase::Distribute, "distribute",
       "data-parallel gradient all-reduce, BatchNorm statistics averaged; pipeline stages "
       "(split before autodiff, 1F1B schedule in the plan)",
       true},
      {Phase::Optimize, "optimize", "train ops (updates, clipping) -> nn ops, fused when lowered",
       true},
      {Phase::Lower, "lower", "@predict: nn -> linalg, fusion, kernels + library calls", true},
      {Phase::Codegen, "codegen", "kernels -> LLVM dialect (CPU; prints the kernel IR), PTX (CUDA)",
       true},
      {Phase::Plan, "plan",
       "`plan` IR (buffers placed, commands, 1F1B schedule), serialized to nnc.Plan with the "
       "kernels (-o file; on stdout, the plan IR)",
       true},
  };
  return table;
}

std::optional<PhaseInfo> lookupPhase(llvm::StringRef name) {
  for (const PhaseInfo &info : phases())
    if (info.name == name)
      return info;
  return std::nullopt;
}

namespace {

/// Appends upstream passes written as a textual pipeline (the form their documentation and
/// mlir-opt use, options included). The texts are constants of this file: one that does not
/// parse is a bug.
void addTextualPipeline(mlir::OpPassManager &pm, llvm::StringRef pipeline) {
  std::string error;
  llvm::raw_string_ostream errorStream(error);
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, errorStream)))
    llvm::report_fatal_error(llvm::Twine("nnc: invalid codegen pipeline: ") + error);
}

} // namespace

void buildCodegenPipeline(mlir::OpPassManager &pm) {
  pm.addPass(createExtractKernels());
  mlir::OpPassManager &kernels = pm.nest<mlir::ModuleOp>();
  kernels.addPass(createWriteViewResultsDirectly());
  addTextualPipeline(kernels, "one-shot-bufferize{bufferize-function-boundaries "
                              "function-boundary-type-conversion=identity-layout-map}");
  kernels.addPass(createFoldLoopResults());
  addTextualPipeline(kernels, "drop-equivalent-buffer-results,buffer-results-to-out-params,"
                              "buffer-deallocation-pipeline");
  kernels.addNestedPass<mlir::func::FuncOp>(createCopiesToLinalg());
  kernels.addPass(createMarkRows());
  kernels.addNestedPass<mlir::func::FuncOp>(createVectorizeTransposes());
  kernels.addNestedPass<mlir::func::FuncOp>(createComputeInF32());
  kernels.addNestedPass<mlir::func::FuncOp>(createExpandExpPolynomial());
  kernels.addNestedPass<mlir::func::FuncOp>(createExpandErfRational());
  addTextualPipeline(kernels, "func.func(convert-linalg-to-loops)");
  kernels.addNestedPass<mlir::func::FuncOp>(createFuseRowLoops());
  kernels.addNestedPass<mlir::func::FuncOp>(createCutRowLoops());
  kernels.addPass(createMarkOuterLoopsScalar());
  addTextualPipeline(
      kernels, "convert-math-to-libm,convert-vector-to-scf{full-unroll},"
               "convert-vector-to-llvm{vector-transpose-lowering=shuffle16x16},"
               "convert-scf-to-cf,expand-strided-metadata,lower-affine,"
               "finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,"
               "convert-func-to-llvm{use-bare-ptr-memref-call-conv},convert-cf-to-llvm,"
               "convert-ub-to-llvm,reconcile-unrealized-casts");
  kernels.addPass(createMoveLoopAnnotations());
}

void buildPlanPipeline(mlir::OpPassManager &pm, llvm::ArrayRef<std::string> modelParameters,
                       int64_t memoryBudget) {
  if (memoryBudget > 0) {
    RecomputeOptions recompute;
    recompute.memoryBudget = memoryBudget;
    pm.addPass(createRecompute(recompute));
  }
  LowerToPlanOptions lower;
  lower.modelParameters.assign(modelParameters.begin(), modelParameters.end());
  pm.addPass(createLowerToPlan(lower));
  pm.addPass(createAssignBuffers());
}

void buildPipeline(Phase last, mlir::OpPassManager &pm, bool cpuKernels,
                   llvm::ArrayRef<std::string> modelParameters, int64_t memoryBudget,
                   AttentionFusion attention) {
  // Import is done by the importer itself. CUDA codegen and the plan's serialization run after
  // the pass manager (they leave MLIR: PTX, the plan's protobuf and the CPU kernels' shared
  // object).
  if (last < Phase::Autodiff)
    return;
  // Fused before differentiating, so the backward pass is the fused op's own. CUDA plans keep
  // the unfused graph (the CUDA driver has no fused attention).
  if (cpuKernels && attention != AttentionFusion::None) {
    FuseAttentionOptions fuse;
    fuse.lowPrecision = attention == AttentionFusion::AllModels;
    pm.addNestedPass<mlir::func::FuncOp>(createFuseAttention(fuse));
  }
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
  pm.addPass(createTensorParallelUpdate());
  if (last < Phase::Optimize)
    return;
  pm.addPass(createGuardNonfinite());
  pm.addNestedPass<mlir::func::FuncOp>(createExpandTrainOps());
  pm.addNestedPass<mlir::func::FuncOp>(createFuseGuards());
  if (last < Phase::Lower)
    return;
  pm.addPass(createExtractPredict());
  FuseEpiloguesOptions epilogues;
  epilogues.convBiasGradients = cpuKernels; // the CUDA driver's backward weights has no bias
  pm.addNestedPass<mlir::func::FuncOp>(createFuseEpilogues(epilogues));
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
  if (last < Phase::Codegen)
    return;
  if (cpuKernels)
    buildCodegenPipeline(pm);
  if (last < Phase::Plan)
    return;
  buildPlanPipeline(pm, modelParameters, memoryBudget);
}

} // namespace nnc
