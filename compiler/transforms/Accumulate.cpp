// Gradient accumulation (see Passes.td): @train_step splits at the values its backward pass
// hands to the update region — the `train` ops and everything computed from their results.
// Those values that vary per micro-batch are summed into accumulators by @accumulate_step and
// read back as their mean by @apply_step; everything else each half recomputes from its own
// arguments (a constant, the loss scale's bookkeeping).
#include "dialects/nn/NNDialect.h"
#include "dialects/AttrNames.h"
#include "dialects/train/TrainDialect.h"

#include "compiler/Passes.h"
#include "compiler/transforms/FunctionSurgery.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

namespace nnc {
#define GEN_PASS_DEF_ACCUMULATE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

struct AccumulatePass : nnc::impl::AccumulateBase<AccumulatePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto spec = module->getAttrOfType<nn::TrainingSpecAttr>(nnc::attr::kTraining);
    auto step = module.lookupSymbol<func::FuncOp>("train_step");
    if (!spec || spec.getAccumulationSteps() <= 1 || !step)
      return;
    Block &body = step.getBody().front();

    // The update region, and the values that vary per micro-batch: those computed from an
    // input the runtime feeds per micro-batch (everything but the learning rate).
    llvm::DenseSet<Operation *> update;
    llvm::DenseSet<Value> varies;
    for (BlockArgument arg : body.getArguments()) {
      auto input = step.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kInput);
      if (input && input.getValue() != nnc::names::kLearningRate)
        varies.insert(arg);
    }
    // Tensor parallelism's collectives belong to the forward and backward passes, not the update.
    auto updates = [](Operation &op) {
      return isa<train::TrainDialect>(op.getDialect()) &&
             !isa<train::TensorParallelCopyOp, train::TensorParallelSumOp,
                  train::TensorParallelRankOp>(op);
    };
    for (Operation &op : body.without_terminator()) {
      auto fromUpdate = [&](Value v) { return update.contains(v.getDefiningOp()); };
      if (updates(op) || llvm::any_of(op.getOperands(), fromUpdate))
        update.insert(&op);
      else if (llvm::any_of(op.getOperands(), [&](Value v) { return varies.contains(v); }))
        varies.insert(op.getResults().begin(), op.getResults().end());
    }
    llvm::SetVector<Value> boundary;
    for (Operation *op : update)
      for (Value operand : op->getOperands())
        if (varies.contains(operand) && operand.getDefiningOp() &&
            !update.contains(operand.getDefiningOp()))
          boundary.insert(operand); // arguments (the step number) both halves take themselves
    // Deterministic order (the accumulators' names): by position in the body.
    SmallVector<Value> crossing(boundary.begin(), boundary.end());
    llvm::sort(crossing, [](Value a, Value b) {
      return a.getDefiningOp()->isBeforeInBlock(b.getDefiningOp());
    });

    // Results computed outside the update region belong to the micro-batch: the loss, and a
    // pipeline stage's gradient for the stage before.
    auto ret = body.getTerminator();
    llvm::BitVector perMicroBatch(ret->getNumOperands());
    for (auto [i, value] : llvm::enumerate(ret->getOperands()))
      perMicroBatch[i] = i == 0 || !update.contains(value.getDefiningOp());

    OpBuilder b(&getContext());
    b.setInsertionPointAfter(step);
    auto accumulate = cast<func::FuncOp>(b.clone(*step));
    accumulate.setSymName("accumulate_step");
    auto apply = cast<func::FuncOp>(b.clone(*step));
    apply.setSymName("apply_step");
    buildAccumulate(accumulate, step, crossing, perMicroBatch);
    buildApply(apply, step, crossing, static_cast<double>(spec.getAccumulationSteps()), perMicroBatch);
    step.erase();
  }

  /// "nnc.accumulator.<i>"; a pipeline stage's carry the stage ("nnc.accumulator.stage1.<i>"),
  /// so the stages' parameter tables (dumps, checkpoints) never share a name.
  std::string accumulatorName(size_t i) {
    auto stage = getOperation()->getAttrOfType<IntegerAttr>(nnc::attr::kPipelineStage);
    return nnc::names::kAccumulatorPrefix.str() +
           (stage ? "stage" + std::to_string(stage.getInt()) + "." : std::string()) +
           std::to_string(i);
  }

  /// Appends one accumulator argument per crossing value to `func`.
  SmallVector<Value> addAccumulators(func::FuncOp func, ArrayRef<Value> crossing) {
    OpBuilder b(&getContext());
    SmallVector<Value> accumulators;
    for (auto [i, value] : llvm::enumerate(crossing)) {
      unsigned index = func.getNumArguments();
      std::string name = accumulatorName(i);
      (void)func.insertArgument(
          index, value.getType(),
          nnc::attr::stateParam(b, name, nnc::attr::stringDict(b, "kind", "zeros")),
          value.getLoc());
      accumulators.push_back(func.getArgument(index));
    }
    return accumulators;
  }

  /// The value in `clone` at the position of `original`'s `value` (same op order).
  static Value mapped(func::FuncOp original, func::FuncOp clone, Value value) {
    Operation *def = value.getDefiningOp();
    auto &ops = original.getBody().front().getOperations();
    auto &cloneOps = clone.getBody().front().getOperations();
    auto index = std::distance(ops.begin(), def->getIterator());
    return std::next(cloneOps.begin(), index)->getResult(cast<OpResult>(value).getResultNumber());
  }

  DictionaryAttr attr(StringRef key, StringRef value) {
    Builder b(&getContext());
    return nnc::attr::stringDict(b, key, value);
  }

  /// (loss, ..., acc_i + crossing_i): the micro-batch's results and the running sums.
  void buildAccumulate(func::FuncOp func, func::FuncOp original, ArrayRef<Value> crossing,
                       const llvm::BitVector &perMicroBatch) {
    SmallVector<Value> values;
    for (Value v : crossing)
      values.push_back(mapped(original, func, v));
    SmallVector<Value> accumulators = addAccumulators(func, crossing);
    auto ret = func.getBody().front().getTerminator();
    OpBuilder b(ret);
    SmallVector<Value> results;
    SmallVector<DictionaryAttr> attrs;
    for (unsigned i : perMicroBatch.set_bits()) {
      results.push_back(ret->getOperand(i));
      attrs.push_back(func.getResultAttrDict(i));
    }
    for (auto [i, pair] : llvm::enumerate(llvm::zip(values, accumulators))) {
      auto [value, accumulator] = pair;
      results.push_back(nn::AddOp::create(b, value.getLoc(), accumulator, value));
      attrs.push_back(attr(nnc::attr::kUpdates, accumulatorName(i)));
    }
    setResults(func, results, attrs);
    eraseDeadOps(func.getBody().front(), /*keepEffects=*/false);
    eraseUnusedInputs(func);
  }

  /// The update from the accumulators' mean; every result but the micro-batch's; zeroed
  /// accumulators.
  void buildApply(func::FuncOp func, func::FuncOp original, ArrayRef<Value> crossing,
                  double steps, const llvm::BitVector &perMicroBatch) {
    SmallVector<Value> values;
    for (Value v : crossing)
      values.push_back(mapped(original, func, v));
    SmallVector<Value> accumulators = addAccumulators(func, crossing);
    Block &body = func.getBody().front();
    OpBuilder b(&getContext());
    b.setInsertionPointToStart(&body);
    SmallVector<Value> zeros;
    for (auto [value, accumulator] : llvm::zip(values, accumulators)) {
      auto type = cast<RankedTensorType>(value.getType());
      Type element = type.getElementType();
      auto scalar = RankedTensorType::get({}, element);
      Value count = nn::ConstantOp::create(
          b, value.getLoc(), DenseElementsAttr::get(scalar, b.getFloatAttr(element, steps)));
      Value mean = nn::DivOp::create(b, value.getLoc(), accumulator, count);
      value.replaceAllUsesWith(mean);
      zeros.push_back(nn::ConstantOp::create(
          b, value.getLoc(), DenseElementsAttr::get(type, b.getFloatAttr(element, 0.0))));
    }
    auto ret = body.getTerminator();
    SmallVector<Value> results;
    SmallVector<DictionaryAttr> attrs;
    for (unsigned i = 0; i < ret->getNumOperands(); ++i) {
      if (perMicroBatch[i])
        continue;
      results.push_back(ret->getOperand(i));
      attrs.push_back(func.getResultAttrDict(i));
    }
    for (auto [i, zero] : llvm::enumerate(zeros)) {
      results.push_back(zero);
      attrs.push_back(attr(nnc::attr::kUpdates, accumulatorName(i)));
    }
    setResults(func, results, attrs);
    eraseDeadOps(body, /*keepEffects=*/false);
    eraseUnusedInputs(func);
  }
};

} // namespace
