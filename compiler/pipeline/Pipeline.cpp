// Phase table and pipeline assembly: the one place that decides which passes run in which order.
#include "compiler/pipeline/Pipeline.h"

#include "mlir/Pass/PassManager.h"

namespace nnc {

llvm::ArrayRef<PhaseInfo> phases() {
  static const PhaseInfo table[] = {
      {Phase::Import, "import", "model.pb -> verified `nn` IR", true},
      {Phase::Autodiff, "autodiff", "forward + loss -> train step with gradients", false},
      {Phase::Precision, "precision", "mixed-precision casts and loss scaling", false},
      {Phase::Accumulate, "accumulate", "gradient accumulation over micro-batches", false},
      {Phase::Distribute, "distribute", "data-parallel all-reduce, pipeline stages", false},
      {Phase::Optimize, "optimize", "fused optimizer updates, elementwise fusion", false},
      {Phase::Lower, "lower", "nn -> linalg, bufferization, buffer assignment", false},
      {Phase::Codegen, "codegen", "native CPU code / PTX", false},
      {Phase::Plan, "plan", "serialized nnc.Plan", false},
  };
  return table;
}

std::optional<PhaseInfo> lookupPhase(llvm::StringRef name) {
  for (const PhaseInfo &info : phases())
    if (info.name == name)
      return info;
  return std::nullopt;
}

void buildPipeline(Phase last, mlir::OpPassManager &pm) {
  // Import is done by the importer itself; later phases append their passes here in order,
  // each stopping when `last` is reached.
  (void)last;
  (void)pm;
}

} // namespace nnc
