// The plan phase: builds an nnc.Plan (proto/plan.proto) from a module lowered through kernel
// outlining, the model it came from, and the CPU target.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

namespace nnc {
class Model;
class Plan;
struct CpuTarget;

/// What executes the plan's kernels: the host CPU (`target`), or an NVIDIA GPU (CUDA).
enum class KernelTarget { Cpu, Cuda };

/// Fills `plan`: buffer assignment, init and predict command lists, the kernel library, and
/// metadata (`modelBytes` is hashed into it). Errors are emitted as diagnostics.
mlir::LogicalResult buildPlan(mlir::ModuleOp module, const Model &model,
                              llvm::StringRef modelBytes, const CpuTarget &target, Plan &plan,
                              KernelTarget kernels = KernelTarget::Cpu);

/// A pipelined model (`module` holds one nested module per stage, from nnc-pipeline-split):
/// each stage's plan, built as buildPlan builds one, and its 1F1B schedule.
mlir::LogicalResult buildPipelinePlan(mlir::ModuleOp module, const Model &model,
                                      llvm::StringRef modelBytes, const CpuTarget &target,
                                      Plan &plan, KernelTarget kernels = KernelTarget::Cpu);
} // namespace nnc
