// Mixed precision (see Passes.td): each float nn op computes in the policy's low type unless it
// is on the fp32 allow-list; train ops compute in fp32. Runs after autodiff, so the forward and
// backward ops of @train_step both follow the policy, and the gradients reach the fp32
// optimizer through a cast.
#include "dialects/nn/NNDialect.h"
#include "dialects/AttrNames.h"
#include "dialects/train/TrainDialect.h"

#include "compiler/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

namespace nnc {
#define GEN_PASS_DEF_PRECISION
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

constexpr const char *kDefaultFp32Ops[] = {"softmax",  "log_softmax", "layer_norm",
                                           "cross_entropy", "mse_loss", "reduce_sum",
                                           "reduce_mean", "reduce_max"};

bool isFloatTensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

/// The operands an op computes with: dropout's step number and key only seed its generator.
OperandRange dataOperands(Operation *op) {
  if (isa<nn::DropoutOp>(op))
    return op->getOperands().take_front(1);
  return op->getOperands();
}

/// Operands that stay f32 whatever the policy: the attention's log-sum-exp, from which its
/// backward pass recomputes probabilities (bf16 would lose them to rounding).
bool alwaysF32(OpOperand &operand) {
  auto grad = dyn_cast<nn::CausalAttentionGradOp>(operand.getOwner());
  return grad && operand.get() == grad.getLse();
}

/// fp32 scalar arithmetic in nn ops, for the loss scale's bookkeeping.
struct Math {
  OpBuilder &b;
  Location loc;

  Value constant(double v) const {
    auto type = RankedTensorType::get({}, b.getF32Type());
    return nn::ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, b.getFloatAttr(b.getF32Type(), v)));
  }
  Value add(Value x, Value y) const { return nn::AddOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) const { return nn::SubOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) const { return nn::MulOp::create(b, loc, x, y); }
  Value div(Value x, Value y) const { return nn::DivOp::create(b, loc, x, y); }
  Value where(Value c, Value x, Value y) const { return nn::WhereOp::create(b, loc, c, x, y); }
};

struct PrecisionPass : nnc::impl::PrecisionBase<PrecisionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto spec = module->getAttrOfType<nn::TrainingSpecAttr>(nnc::attr::kTraining);
    if (!spec || spec.getPrecision() == nn::PrecisionKind::fp32)
      return;
    Builder types(&getContext());
    Type low = spec.getPrecision() == nn::PrecisionKind::bf16 ? Type(types.getBF16Type())
                                                              : types.getF16Type();
    llvm::StringSet<> fp32Ops;
    if (ArrayAttr list = spec.getFp32Ops())
      for (Attribute name : list)
        fp32Ops.insert(cast<StringAttr>(name).getValue());
    if (fp32Ops.empty())
      for (const char *name : kDefaultFp32Ops)
        fp32Ops.insert(name);
    for (auto func : module.getOps<func::FuncOp>())
      if (failed(convert(func, low, fp32Ops)))
        return signalPassFailure();
    if (spec.getPrecision() == nn::PrecisionKind::fp16)
      if (auto step = module.lookupSymbol<func::FuncOp>("train_step"))
        addLossScaling(step, spec);
  }

  /// Dynamic loss scaling (PyTorch's GradScaler): the backward pass starts from the scale
  /// instead of 1; the gradients are unscaled in fp32 before clipping and the optimizer; a step
  /// whose gradients hold an Inf or NaN keeps every parameter and state, halves the scale and
  /// counts as skipped; `growth_interval` clean steps in a row double it. The scale, the clean
  /// step count and the skipped count are state in the parameter table (so checkpoints hold
  /// them) and outputs "loss_scale" and "skipped_steps" (for monitoring and the floor check);
  /// "nonfinite_gradient" says which parameter's gradient overflowed first.
  void addLossScaling(func::FuncOp step, nn::TrainingSpecAttr spec) {
    Operation *seed = nullptr;
    step.walk([&](nn::ConstantOp c) {
      if (c->hasAttr(nnc::attr::kLossSeed))
        seed = c;
    });
    SmallVector<Operation *> trainOps;
    step.walk([&](Operation *op) { // the update's (not tensor parallelism's collectives)
      if (isa_and_nonnull<train::TrainDialect>(op->getDialect()) &&
          !isa<train::TensorParallelCopyOp, train::TensorParallelSumOp,
               train::TensorParallelRankOp>(op))
        trainOps.push_back(op);
    });
    if (!seed || trainOps.empty())
      return;
    double initialScale = nn::TrainingSpecAttr::valueOr(spec.getInitialLossScale(), 65536.0);
    double growthInterval =
        spec.getGrowthInterval() > 0 ? static_cast<double>(spec.getGrowthInterval()) : 2000.0;
    Block &body = step.getBody().front();
    OpBuilder b(&getContext());
    Location loc = step.getLoc();
    auto scalarType = RankedTensorType::get({}, b.getF32Type());
    auto addState = [&](StringRef name, double init) -> Value {
      NamedAttrList initAttr;
      initAttr.append("kind", b.getStringAttr(init == 0 ? "zeros" : "constant"));
      if (init != 0)
        initAttr.append("value", b.getF64FloatAttr(init));
      unsigned index = step.getNumArguments();
      (void)step.insertArgument(
          index, scalarType, nnc::attr::stateParam(b, name, b.getDictionaryAttr(initAttr)), loc);
      return body.getArgument(index);
    };
    ScaleState state;
    state.scale = addState(nnc::names::kLossScale, initialScale);
    state.good = addState(nnc::names::kLossScaleGoodSteps, 0.0);
    state.skipped = addState(nnc::names::kSkippedSteps, 0.0);
    // A pipeline stage before the last starts its backward pass from the gradient the next
    // stage sent, already scaled: its seed stays 1, or its gradients would carry the scale twice.
    ModuleOp module = step->getParentOfType<ModuleOp>();
    auto stage = module->getAttrOfType<IntegerAttr>(nnc::attr::kPipelineStage);
    auto stages = module->getAttrOfType<IntegerAttr>(nnc::attr::kPipelineStages);
    bool pipelined = stages && stages.getInt() > 1;
    if (!pipelined || stage.getInt() + 1 == stages.getInt()) {
      seed->getResult(0).replaceAllUsesWith(state.scale);
      seed->erase();
    }

    Math m{b, loc};
    b.setInsertionPoint(trainOps.front());
    Value first = unscaleAndCheck(step, trainOps, m, state.scale);
    Value finite = nn::EqualOp::create(b, loc, first, m.constant(0.0));
    if (isTensorParallel(step))
      finite = agreeOverTensorGroup(m, finite);
    if (pipelined)
      finite = agreeOverStages(m, finite);
    b.setInsertionPoint(body.getTerminator());
    returnScaleStep(step, m, state, first, finite, growthInterval);
  }

  /// The stages of a pipeline skip together and keep one scale: the number of stages that saw a
  /// non-finite gradient, summed over the pipeline, is 0 when all is finite.
  Value agreeOverStages(const Math &m, Value finite) {
    Location loc = NameLoc::get(m.b.getStringAttr("all_reduce.nonfinite_count"), m.loc);
    Math named{m.b, loc};
    Value bad = named.sub(named.constant(1.0), finite);
    auto count = train::AllReduceOp::create(m.b, loc, ValueRange{bad}, m.b.getUnitAttr());
    return nn::EqualOp::create(m.b, loc, count.getResult(0), named.constant(0.0));
  }

  /// Whether `step` runs split layers (tensor parallelism's collectives in its passes).
  static bool isTensorParallel(func::FuncOp step) {
    bool split = false;
    step.walk([&](train::TensorParallelCopyOp) { split = true; });
    return split;
  }

  /// Tensor parallelism: each rank checks its own parts of the split gradients, so the ranks of
  /// a tensor group skip together and keep one scale: the number of them that saw a non-finite
  /// gradient, summed over the group, is 0 when all is finite.
  Value agreeOverTensorGroup(const Math &m, Value finite) {
    Location loc = NameLoc::get(m.b.getStringAttr("tensor_parallel.nonfinite_count"), m.loc);
    Math named{m.b, loc};
    Value bad = named.sub(named.constant(1.0), finite);
    Value count = train::TensorParallelSumOp::create(m.b, loc, bad.getType(), bad,
                                                     m.b.getStringAttr("tensor"));
    return nn::EqualOp::create(m.b, loc, count, named.constant(0.0));
  }

  /// The loss scale's state arguments.
  struct ScaleState {
    Value scale, good, skipped;
  };

  /// Unscales every gradient where it enters the fp32 optimizer and checks them all; returns
  /// the first non-finite gradient's position + 1 (0: all finite), and names the checked
  /// gradients' parameters in `nnc.checked_gradients` so an overflow can be reported by name.
  Value unscaleAndCheck(func::FuncOp step, ArrayRef<Operation *> trainOps, const Math &m,
                        Value scale) {
    Value inverse = m.div(m.constant(1.0), scale);
    llvm::DenseMap<Value, Value> unscaled;
    SmallVector<Value> checked;
    for (Operation *op : trainOps) {
      for (OpOperand &operand : op->getOpOperands()) {
        if (!train::isGradientOperand(operand))
          continue;
        Value &slot = unscaled[operand.get()];
        if (!slot) {
          slot = m.mul(operand.get(), inverse);
          checked.push_back(slot);
        }
        operand.set(slot);
      }
    }
    // Which parameter each checked gradient belongs to.
    llvm::DenseMap<Value, StringRef> owner;
    for (Operation *op : trainOps) {
      if (!isa<train::SgdOp, train::SgdMomentumOp, train::AdamOp>(op))
        continue;
      Value g = op->getOperand(1);
      if (auto clip = g.getDefiningOp<train::ClipOp>())
        g = clip.getGrad();
      if (auto arg = dyn_cast<BlockArgument>(op->getOperand(0)))
        if (auto name = nnc::attr::argString(step, arg.getArgNumber(), nnc::attr::kParam))
          owner[g] = name.getValue();
    }
    Value first = m.constant(0.0);
    for (int64_t i = static_cast<int64_t>(checked.size()) - 1; i >= 0; --i) {
      Value ok = train::AllFiniteOp::create(m.b, m.loc, ValueRange{checked[i]});
      first = m.where(ok, first, m.constant(static_cast<double>(i + 1)));
    }
    SmallVector<Attribute> names;
    for (Value g : checked)
      names.push_back(m.b.getStringAttr(owner.lookup(g)));
    step->setAttr(nnc::attr::kCheckedGradients, m.b.getArrayAttr(names));
    return first;
  }

  /// A skipped step returns every parameter and state unchanged; the scale takes its own step,
  /// returned as outputs and as updates of its state.
  void returnScaleStep(func::FuncOp step, const Math &m, const ScaleState &state, Value first,
                       Value finite, double growthInterval) {
    OpBuilder &b = m.b;
    auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
    llvm::StringMap<Value> byName;
    for (BlockArgument arg : step.getArguments())
      if (auto name = nnc::attr::argString(step, arg.getArgNumber(), nnc::attr::kParam))
        byName[name.getValue()] = arg;
    SmallVector<Value> results(ret.getOperands());
    SmallVector<DictionaryAttr> attrs;
    for (unsigned i = 0; i < results.size(); ++i) {
      attrs.push_back(step.getResultAttrDict(i));
      if (auto target = nnc::attr::resultString(step, i, nnc::attr::kUpdates))
        if (Value old = byName.lookup(target.getValue()))
          results[i] = nn::WhereOp::create(b, m.loc, finite, results[i], old);
    }
    Value goodNext = m.add(state.good, m.constant(1.0));
    Value grow = nn::EqualOp::create(b, m.loc, goodNext, m.constant(growthInterval));
    Value scaleNext = m.where(finite, m.where(grow, m.mul(state.scale, m.constant(2.0)), state.scale),
                              m.mul(state.scale, m.constant(0.5)));
    Value goodAfter = m.where(finite, m.where(grow, m.constant(0.0), goodNext), m.constant(0.0));
    Value skippedNext = m.add(state.skipped, m.sub(m.constant(1.0), finite));
    auto named = [&](StringRef key, StringRef value) {
      return nnc::attr::stringDict(b, key, value);
    };
    for (auto [value, attr] : {std::pair{scaleNext, named(nnc::attr::kOutput, "loss_scale")},
                               {skippedNext, named(nnc::attr::kOutput, "skipped_steps")},
                               {first, named(nnc::attr::kOutput, "nonfinite_gradient")},
                               {scaleNext, named(nnc::attr::kUpdates, nnc::names::kLossScale)},
                               {goodAfter, named(nnc::attr::kUpdates, nnc::names::kLossScaleGoodSteps)},
                               {skippedNext, named(nnc::attr::kUpdates, nnc::names::kSkippedSteps)}}) {
      results.push_back(value);
      attrs.push_back(attr);
    }
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    step.setType(b.getFunctionType(step.getArgumentTypes(), ValueRange(results).getTypes()));
    step.setAllResultAttrs(attrs);
  }

  LogicalResult convert(func::FuncOp func, Type low, const llvm::StringSet<> &fp32Ops) {
    OpBuilder b(&getContext());
    Type f32 = b.getF32Type();
    // One cast per (value, type), placed right after the value's definition.
    llvm::DenseMap<std::pair<Value, Type>, Value> casts;
    auto castTo = [&](Value v, Type element) -> Value {
      if (cast<RankedTensorType>(v.getType()).getElementType() == element)
        return v;
      Value &slot = casts[{v, element}];
      if (!slot) {
        OpBuilder::InsertionGuard guard(b);
        if (Operation *def = v.getDefiningOp())
          b.setInsertionPointAfter(def);
        else
          b.setInsertionPointToStart(cast<BlockArgument>(v).getOwner());
        slot = nn::CastOp::create(b, v.getLoc(), v, element);
      }
      return slot;
    };
    llvm::DenseMap<Location, StringRef> nodeKind;
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      // A tensor-parallel rank is an integer of fixed type: nothing to compute in low precision.
      if (isa<nn::NNDialect, train::TrainDialect>(op->getDialect()) &&
          !isa<nn::CastOp, train::TensorParallelRankOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      bool isTrain = isa<train::TrainDialect>(op->getDialect());
      // fp32 for allow-listed ops, and for every op of an allow-listed node: a backward op
      // follows its forward op, the first op at its node (VJPs are built at the forward op's
      // location), so the gradient of an fp32 softmax is computed in fp32 too.
      StringRef name = op->getName().stripDialect(), node = name;
      if (isa<NameLoc>(op->getLoc()))
        node = nodeKind.try_emplace(op->getLoc(), name).first->second;
      Type compute = isTrain || fp32Ops.contains(name) || fp32Ops.contains(node) ? f32 : low;
      // The fused attention's kernel reads f32 or bf16: under fp16 it computes in f32.
      if (isa<nn::CausalAttentionOp, nn::CausalAttentionGradOp>(op) && !low.isBF16())
        compute = f32;
      for (OpOperand &operand : op->getOpOperands())
        if (isFloatTensor(operand.get()) && operand.getOperandNumber() < dataOperands(op).size() &&
            !alwaysF32(operand))
          operand.set(castTo(operand.get(), compute));
      // Operands may have changed type upstream too, so every op's results are re-inferred.
      if (failed(reinferResultTypes(op)))
        return failure();
    }
    // The function's interface keeps fp32: results computed in low precision are cast back.
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    FunctionType type = func.getFunctionType();
    for (OpOperand &operand : ret->getOpOperands()) {
      Type expected = type.getResult(operand.getOperandNumber());
      if (operand.get().getType() != expected)
        operand.set(castTo(operand.get(), cast<RankedTensorType>(expected).getElementType()));
    }
    return success();
  }

  /// Sets `op`'s result types to what its (inferring) op class says for the new operands.
  LogicalResult reinferResultTypes(Operation *op) {
    auto infer = dyn_cast<InferTypeOpInterface>(op);
    if (!infer)
      return op->emitError("precision: cannot re-infer the result types of ") << op->getName();
    SmallVector<Type> results;
    if (failed(infer.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                      op->getAttrDictionary(), op->getPropertiesStorage(),
                                      op->getRegions(), results)))
      return failure();
    for (auto [result, type] : llvm::zip(op->getResults(), results))
      result.setType(type);
    return success();
  }
};

} // namespace
