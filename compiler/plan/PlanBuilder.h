// The plan phase's serializer: builds an nnc.Plan (proto/plan.proto) from a module whose entry
// points the plan passes lowered to a `plan.plan` (buildPlanPipeline in pipeline/Pipeline.h), the
// model it came from, and the CPU target.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

namespace nnc {
class Model;
class Plan;
struct CpuTarget;

/// What executes the plan's kernels: the host CPU (`target`), or an NVIDIA GPU (CUDA).
enum class KernelTarget { Cpu, Cuda };

/// Fills `plan` from the module's plan.plan, one message per op (the model supplies its
/// parameters' stored values and initializers), then compiles the kernel library and sets the
/// metadata (`modelBytes` is hashed into it). Errors are emitted as diagnostics.
mlir::LogicalResult buildPlan(mlir::ModuleOp module, const Model &model,
                              llvm::StringRef modelBytes, const CpuTarget &target, Plan &plan,
                              KernelTarget kernels = KernelTarget::Cpu);

/// A pipelined model (`module` holds one nested module per stage, from nnc-pipeline-split):
/// each stage's plan, built as buildPlan builds one, and its schedule (the stage's
/// plan.pipeline_action ops, from nnc-schedule-pipeline).
mlir::LogicalResult buildPipelinePlan(mlir::ModuleOp module, const Model &model,
                                      llvm::StringRef modelBytes, const CpuTarget &target,
                                      Plan &plan, KernelTarget kernels = KernelTarget::Cpu);
} // namespace nnc
