// The `nn` dialect's attributes: the training spec's verifier, and the dialect's checks of the
// discardable `nn.*` attributes (AttrNames.h), so a misspelled name or a value of the wrong kind
// is reported where it is written.
#include "dialects/nn/NNDialect.h"

#include "dialects/AttrNames.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace nnc::nn;

namespace {

/// `v` as people write it ("0.1", "1", "inf").
std::string formatNumber(double v) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%g", v);
  return text;
}

/// Fails unless `attr` (when set) lies in [lo, hi); `hi` = 0 means no upper bound.
LogicalResult checkRange(function_ref<InFlightDiagnostic()> emitError, StringRef field,
                         FloatAttr attr, double lo, double hi = 0) {
  if (!attr)
    return success();
  double v = attr.getValueAsDouble();
  if (v >= lo && (hi == 0 || v < hi))
    return success();
  InFlightDiagnostic diag = emitError();
  diag << "training spec expects " << field << " in [" << formatNumber(lo) << ", "
       << (hi == 0 ? std::string("inf") : formatNumber(hi)) << ")";
  return diag << ", got " << formatNumber(v);
}

LogicalResult checkStrings(function_ref<InFlightDiagnostic()> emitError, StringRef field,
                           ArrayAttr array) {
  if (array && !llvm::all_of(array, [](Attribute a) { return isa<StringAttr>(a); }))
    return emitError() << "training spec expects " << field << " to be a list of strings, got "
                       << array;
  return success();
}

} // namespace

LogicalResult TrainingSpecAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                       StringAttr loss, OptimizerKind, FloatAttr learningRate,
                                       FloatAttr momentum, BoolAttr, FloatAttr beta1,
                                       FloatAttr beta2, FloatAttr epsilon, FloatAttr weightDecay,
                                       BoolAttr, FloatAttr gradClipNorm, PrecisionKind,
                                       FloatAttr initialLossScale, int64_t growthInterval,
                                       ArrayAttr fp32Ops, FloatAttr minLossScale,
                                       int64_t accumulationSteps, int64_t worldSize,
                                       int64_t bucketBytes, int64_t pipelineStages,
                                       int64_t microBatches, ArrayAttr stageBoundaries) {
  if (!loss || loss.getValue().empty())
    return emitError() << "training spec expects a loss: the scalar tensor to minimize";
  for (auto [field, value] : {std::pair<StringRef, int64_t>{"growth_interval", growthInterval},
                              {"accumulation_steps", accumulationSteps},
                              {"world_size", worldSize},
                              {"bucket_bytes", bucketBytes},
                              {"pipeline_stages", pipelineStages},
                              {"micro_batches", microBatches}})
    if (value < 0)
      return emitError() << "training spec expects " << field << " >= 0, got " << value;
  if (failed(checkRange(emitError, "learning_rate", learningRate, 0)) ||
      failed(checkRange(emitError, "momentum", momentum, 0, 1)) ||
      failed(checkRange(emitError, "beta1", beta1, 0, 1)) ||
      failed(checkRange(emitError, "beta2", beta2, 0, 1)) ||
      failed(checkRange(emitError, "epsilon", epsilon, 0)) ||
      failed(checkRange(emitError, "weight_decay", weightDecay, 0)) ||
      failed(checkRange(emitError, "grad_clip_norm", gradClipNorm, 0)) ||
      failed(checkRange(emitError, "initial_loss_scale", initialLossScale, 0)) ||
      failed(checkRange(emitError, "min_loss_scale", minLossScale, 0)))
    return failure();
  return failure(failed(checkStrings(emitError, "fp32_ops", fp32Ops)) ||
                 failed(checkStrings(emitError, "stage_boundaries", stageBoundaries)));
}

TrainingSpecAttr TrainingSpecAttr::withAccumulationSteps(int64_t steps) const {
  return get(getContext(), getLoss(), getOptimizer(), getLearningRate(), getMomentum(),
             getNesterov(), getBeta1(), getBeta2(), getEpsilon(), getWeightDecay(),
             getDecayAllParameters(), getGradClipNorm(), getPrecision(), getInitialLossScale(),
             getGrowthInterval(), getFp32Ops(), getMinLossScale(), steps, getWorldSize(),
             getBucketBytes(), getPipelineStages(), getMicroBatches(), getStageBoundaries());
}

//===----------------------------------------------------------------------===//
// Discardable `nn.*` attributes
//===----------------------------------------------------------------------===//

namespace {

/// Checks that `attr` is one of the `allowed` names and that its value has the kind the name
/// calls for; `where` ("argument", "result") is for the message. Names this dialect does not
/// define are errors: a typo would otherwise be ignored by every pass.
LogicalResult verifyBoundaryAttr(Operation *op, StringRef where, NamedAttribute attr,
                                 ArrayRef<StringRef> allowed) {
  StringRef name = attr.getName().strref();
  if (!llvm::is_contained(allowed, name))
    return op->emitOpError("has unknown ") << where << " attribute '" << name << "'";
  namespace a = nnc::attr;
  Attribute value = attr.getValue();
  bool ok = name == a::kTrainable          ? isa<BoolAttr>(value)
            : name == a::kInit             ? isa<DictionaryAttr>(value)
            : name == a::kIndexLimit       ? isa<IntegerAttr>(value)
            : name == a::kRunningStat      ? isa<UnitAttr>(value)
                                           : isa<StringAttr>(value);
  if (!ok)
    return op->emitOpError("expects ") << where << " attribute '" << name << "' to be "
                                       << (name == a::kTrainable    ? "a bool"
                                           : name == a::kInit       ? "a dictionary"
                                           : name == a::kIndexLimit ? "an integer"
                                           : name == a::kRunningStat ? "a unit attribute"
                                                                    : "a string")
                                       << ", got " << value;
  return success();
}

} // namespace

LogicalResult NNDialect::verifyOperationAttribute(Operation *op, NamedAttribute attr) {
  if (attr.getName() != nnc::attr::kTraining)
    return op->emitOpError("has unknown attribute '") << attr.getName().strref() << "'";
  if (!isa<ModuleOp>(op))
    return op->emitOpError("expects '") << nnc::attr::kTraining << "' on a module only";
  if (!isa<TrainingSpecAttr>(attr.getValue()))
    return op->emitOpError("expects '") << nnc::attr::kTraining
                                        << "' to be a #nn.training spec, got " << attr.getValue();
  return success();
}

LogicalResult NNDialect::verifyRegionArgAttribute(Operation *op, unsigned, unsigned,
                                                  NamedAttribute attr) {
  namespace a = nnc::attr;
  return verifyBoundaryAttr(op, "argument", attr,
                            {a::kInput, a::kRole, a::kParam, a::kInit, a::kTrainable,
                             a::kDifferentiable, a::kIndexLimit, a::kIndexReader});
}

LogicalResult NNDialect::verifyRegionResultAttribute(Operation *op, unsigned, unsigned,
                                                     NamedAttribute attr) {
  namespace a = nnc::attr;
  return verifyBoundaryAttr(op, "result", attr, {a::kOutput, a::kUpdates, a::kGradient, a::kRunningStat});
}
