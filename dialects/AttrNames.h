// The discardable attributes and well-known value names the passes hand to each other: every
// name is spelled once, here, so a typo is a compile error rather than a lookup that silently
// finds nothing. Typed get/set helpers cover the function-boundary attributes most passes read.
#pragma once

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringRef.h"

namespace nnc::attr {

// Function arguments (the plan's inputs and parameters).
inline constexpr llvm::StringLiteral kInput = "nn.input";     // graph input name (StringAttr)
inline constexpr llvm::StringLiteral kRole = "nn.role";       // "features" / "labels"
inline constexpr llvm::StringLiteral kParam = "nn.param";     // parameter name (StringAttr)
inline constexpr llvm::StringLiteral kInit = "nn.init";       // initializer (DictionaryAttr)
inline constexpr llvm::StringLiteral kTrainable = "nn.trainable"; // BoolAttr; absent = true
// An input whose gradient the step returns as the named output (a pipeline stage's activation).
inline constexpr llvm::StringLiteral kDifferentiable = "nn.differentiable";
// Ids checked by nnrun against the rows / classes of their reader (IntegerAttr, StringAttr).
inline constexpr llvm::StringLiteral kIndexLimit = "nn.index_limit";
inline constexpr llvm::StringLiteral kIndexReader = "nn.index_reader";
// Tensor parallelism: a parameter held in parts, [axis, shards] (DenseI64ArrayAttr); this
// rank's argument is the part along `axis`.
inline constexpr llvm::StringLiteral kShard = "nnc.shard";

// Function results.
inline constexpr llvm::StringLiteral kOutput = "nn.output";   // output name (StringAttr)
inline constexpr llvm::StringLiteral kUpdates = "nn.updates"; // the new value of a parameter
inline constexpr llvm::StringLiteral kGradient = "nn.gradient"; // a parameter's gradient
// An update that is a BatchNorm running statistic (UnitAttr): averaged over data-parallel ranks.
inline constexpr llvm::StringLiteral kRunningStat = "nn.running_stat";

// Modules.
inline constexpr llvm::StringLiteral kTraining = "nn.training"; // train::TrainingSpecAttr
// `nnc compile --inference` (UnitAttr): @forward returns the outputs only, there is no loss.
inline constexpr llvm::StringLiteral kInference = "nnc.inference";
inline constexpr llvm::StringLiteral kPipelineStage = "nnc.pipeline_stage";   // this stage
inline constexpr llvm::StringLiteral kPipelineStages = "nnc.pipeline_stages"; // their number
inline constexpr llvm::StringLiteral kPipelineFirstNode = "nnc.pipeline_first_node";
inline constexpr llvm::StringLiteral kPipelineLastNode = "nnc.pipeline_last_node";
// What nnc-recompute computed twice to fit --memory-budget: per function that recomputed
// anything, {function, nodes (the user's node of each recomputed op), flops (more per call)}.
inline constexpr llvm::StringLiteral kRecomputed = "nnc.recomputed";

// Functions.
inline constexpr llvm::StringLiteral kFlops = "nnc.flops";   // FLOPs per call (IntegerAttr)
inline constexpr llvm::StringLiteral kKernel = "nnc.kernel"; // an outlined kernel (UnitAttr)
inline constexpr llvm::StringLiteral kCheckedGradients = "nnc.checked_gradients";
inline constexpr llvm::StringLiteral kCheckedNodes = "nnc.checked_nodes";

// Ops.
// The constant 1 that seeds the backward pass, which loss scaling replaces by the scale.
inline constexpr llvm::StringLiteral kLossSeed = "nnc.loss_seed";
inline constexpr llvm::StringLiteral kGuard = "nnc.guard";               // an all-finite check
// A dropout's mask op, marked {rate, stream}: equal marks, operands (step, key) and types are
// equal masks.
inline constexpr llvm::StringLiteral kDropoutMask = "nnc.dropout_mask";
inline constexpr llvm::StringLiteral kPipeOut = "nnc.pipe_out";          // the stage's output

/// The StringAttr `name` of argument `index`, or null.
inline mlir::StringAttr argString(mlir::FunctionOpInterface func, unsigned index,
                                  llvm::StringRef name) {
  return func.getArgAttrOfType<mlir::StringAttr>(index, name);
}
/// The StringAttr `name` of result `index`, or null.
inline mlir::StringAttr resultString(mlir::FunctionOpInterface func, unsigned index,
                                     llvm::StringRef name) {
  return func.getResultAttrOfType<mlir::StringAttr>(index, name);
}
/// `{name = "value"}`, the attribute dictionary of an input, output or update.
inline mlir::DictionaryAttr stringDict(mlir::Builder &b, llvm::StringRef name,
                                       llvm::StringRef value) {
  return b.getDictionaryAttr(b.getNamedAttr(name, b.getStringAttr(value)));
}
/// The attributes of optimizer, loss-scale or accumulator state: a parameter named `name`,
/// initialized by `init`, that no optimizer updates.
inline mlir::DictionaryAttr stateParam(mlir::Builder &b, llvm::StringRef name,
                                       mlir::DictionaryAttr init) {
  return b.getDictionaryAttr({b.getNamedAttr(kParam, b.getStringAttr(name)),
                              b.getNamedAttr(kInit, init),
                              b.getNamedAttr(kTrainable, b.getBoolAttr(false))});
}

// ZeRO-1 (issue 20), module attributes: the stage the model asks for (IntegerAttr, set at
// import), and, once distribute sharded the optimizer state, each sharded state parameter's
// logical type ({name = tensor<...>}, TypeAttrs) for the plan's parameter table.
inline constexpr llvm::StringLiteral kZeroStage = "nnc.zero_stage";
inline constexpr llvm::StringLiteral kZeroLogicalTypes = "nnc.zero_logical_types";

} // namespace nnc::attr

namespace nnc::names {
// Per-step plan inputs the runtime feeds by name.
inline constexpr llvm::StringLiteral kLearningRate = "nnc.learning_rate";
inline constexpr llvm::StringLiteral kStep = "nnc.step";
inline constexpr llvm::StringLiteral kRngKey = "nnc.rng_key";
// Plan state kept by loss scaling and accumulation.
inline constexpr llvm::StringLiteral kLossScale = "nnc.loss_scale";
inline constexpr llvm::StringLiteral kLossScaleGoodSteps = "nnc.loss_scale.good_steps";
inline constexpr llvm::StringLiteral kSkippedSteps = "nnc.skipped_steps";
inline constexpr llvm::StringLiteral kAccumulatorPrefix = "nnc.accumulator.";
// A pipeline stage's boundary values.
inline constexpr llvm::StringLiteral kPipeIn = "nnc.pipe.in";
inline constexpr llvm::StringLiteral kPipeOut = "nnc.pipe.out";
inline constexpr llvm::StringLiteral kPipeGradIn = "nnc.pipe.grad_in";
inline constexpr llvm::StringLiteral kPipeGradOut = "nnc.pipe.grad_out";
inline constexpr llvm::StringLiteral kPipeLoss = "nnc.pipe.loss";
} // namespace nnc::names
