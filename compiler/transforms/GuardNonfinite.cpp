// Non-finite values (see Passes.td): the function that updates the parameters (@train_step, or
// @apply_step with accumulation) keeps every parameter and optimizer state when its loss or
// gradients are not all finite, and says so in the output "update_skipped"; @find_nonfinite,
// a copy of the step's forward and backward pass, tells the runtime which user node produced
// the first non-finite value, and runs only after such a step.
//
// 1. Guard: one train.all_finite over the loss and the pre-clip gradient norm (or, without
//    clipping, the gradients), placed as soon as its operands exist; nn.where on each update.
//    Under data parallelism only the reduced gradients count, so all ranks decide alike; the
//    stages of a pipeline sum their verdicts over the pipeline and skip together.
// 2. Diagnosis: clone the step (@train_step or @accumulate_step), drop the update region (the
//    train ops and what they feed), then after every value that can turn non-finite add
//    sum(v * 0) (0, or NaN when v holds an Inf or NaN), reshaped to one element; the
//    concatenation is the output "nonfinite_checks", and `nnc.checked_nodes` names each entry.
//    Ops after the loss seed are the backward pass (autodiff starts it there).
// fp16 plans already skip overflowing steps and name the gradient (Precision.cpp): neither
// part is added twice.
#include "dialects/nn/NNDialect.h"
#include "dialects/AttrNames.h"
#include "dialects/train/TrainDialect.h"

#include "compiler/Passes.h"
#include "compiler/transforms/FunctionSurgery.h"
#include "compiler/plan/Flops.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace nnc {
#define GEN_PASS_DEF_GUARDNONFINITE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

bool isFloatTensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

/// Ops that cannot turn finite inputs into a non-finite result (data movement, selections), and
/// the causal mask, whose -inf is by design: checking them would only cost kernels.
bool neverOriginates(Operation *op) {
  return isa<nn::ConstantOp, nn::CastOp, nn::ReshapeOp, nn::TransposeOp, nn::SliceOp,
             nn::ConcatOp, nn::BroadcastOp, nn::PadOp, nn::StopGradientOp, nn::CausalMaskOp,
             nn::OneHotOp, nn::EqualOp, nn::WhereOp, nn::ReluOp, nn::ReluGradOp,
             nn::ClampOp, nn::ClampGradOp>(op);
}

Value scalar(OpBuilder &b, Location loc, Type element, double v) {
  auto type = RankedTensorType::get({}, element);
  return nn::ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getFloatAttr(element, v)));
}

/// The update region goes: train ops, the accumulators' sums, and what they feed. The backward
/// ops stay although only the update read them: they are what gets checked.
void dropUpdateRegion(func::FuncOp find) {
  Block &body = find.getBody().front();
  llvm::DenseSet<Value> dropped;
  for (BlockArgument arg : body.getArguments())
    if (auto name = find.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kParam))
      if (name.getValue().starts_with(nnc::names::kAccumulatorPrefix))
        dropped.insert(arg);
  SmallVector<Operation *> region;
  for (Operation &op : body.without_terminator())
    // A tensor-parallel sum of the forward or backward pass stays (it is checked like them).
    if ((isa<train::TrainDialect>(op.getDialect()) &&
         !isa<train::TensorParallelSumOp, train::TensorParallelRankOp>(op)) ||
        llvm::any_of(op.getOperands(), [&](Value v) { return dropped.contains(v); })) {
      region.push_back(&op);
      dropped.insert(op.getResults().begin(), op.getResults().end());
    }
  for (Operation *op : llvm::reverse(region))
    op->erase();
}

/// A value @find_nonfinite checks, the node it names and the pass it belongs to.
struct Check {
  Value value;
  Attribute node, pass;
};

/// What to check, in program order: parameters and inputs the step reads, then every op that
/// can originate a non-finite value, named by its node.
SmallVector<Check> collectChecks(func::FuncOp find) {
  Block &body = find.getBody().front();
  Builder b(find.getContext());
  SmallVector<Check> checks;
  for (BlockArgument arg : body.getArguments()) {
    if (arg.use_empty() || !isFloatTensor(arg))
      continue;
    unsigned i = arg.getArgNumber();
    auto param = find.getArgAttrOfType<StringAttr>(i, nnc::attr::kParam);
    auto input = find.getArgAttrOfType<StringAttr>(i, nnc::attr::kInput);
    if (param)
      checks.push_back({arg, param, b.getStringAttr("parameter")});
    else if (input && !input.getValue().starts_with("nnc."))  // not the step number
      checks.push_back({arg, input, b.getStringAttr("input")});
  }
  // Only values computed from float data can hold an Inf or NaN (not label encodings).
  llvm::DenseSet<Value> fromData;
  for (BlockArgument arg : body.getArguments())
    if (isFloatTensor(arg))
      fromData.insert(arg);
  bool backward = false;
  for (Operation &op : body.without_terminator()) {
    if (op.hasAttr(nnc::attr::kLossSeed))
      backward = true;
    if (llvm::none_of(op.getOperands(), [&](Value v) { return fromData.contains(v); }))
      continue;
    fromData.insert(op.getResults().begin(), op.getResults().end());
    auto name = dyn_cast<NameLoc>(op.getLoc());
    if (!name || !isa<nn::NNDialect>(op.getDialect()) || neverOriginates(&op))
      continue;
    for (Value result : op.getResults())
      if (isFloatTensor(result))
        checks.push_back({result, name.getName(),
                          b.getStringAttr(backward ? "backward" : "forward")});
  }
  return checks;
}

/// sum(v * 0) right after each checked v, one element each, concatenated into the output
/// "nonfinite_checks"; `nnc.checked_nodes` names each entry.
void addCheckOutput(func::FuncOp find, ArrayRef<Check> checks) {
  Block &body = find.getBody().front();
  OpBuilder b(find.getContext());
  Type f32 = b.getF32Type();
  auto one = RankedTensorType::get({1}, f32);
  SmallVector<Value> flags;
  SmallVector<Attribute> names;
  Operation *lastArgFlag = nullptr;
  for (const Check &check : checks) {
    Value v = check.value;
    bool isArg = isa<BlockArgument>(v);
    if (isArg && lastArgFlag)
      b.setInsertionPointAfter(lastArgFlag);
    else if (isArg)
      b.setInsertionPointToStart(&body);
    else
      b.setInsertionPointAfter(v.getDefiningOp());
    Location loc = v.getLoc();
    auto type = cast<RankedTensorType>(v.getType());
    Value zeroed = nn::MulOp::create(b, loc, v, scalar(b, loc, type.getElementType(), 0.0));
    Value sum = zeroed;
    if (type.getRank() > 0)
      sum = nn::ReduceSumOp::create(b, loc, zeroed,
                                    llvm::to_vector(llvm::seq<int64_t>(0, type.getRank())),
                                    BoolAttr());
    if (!type.getElementType().isF32())
      sum = nn::CastOp::create(b, loc, sum, f32);
    flags.push_back(nn::ReshapeOp::create(b, loc, one, sum, b.getDenseI64ArrayAttr({1})));
    if (isArg)
      lastArgFlag = flags.back().getDefiningOp();
    names.push_back(b.getDictionaryAttr(
        {b.getNamedAttr("node", check.node), b.getNamedAttr("pass", check.pass)}));
  }
  b.setInsertionPoint(body.getTerminator());
  Value all = flags.size() == 1
                  ? flags.front()
                  : nn::ConcatOp::create(b, find.getLoc(), flags, b.getI64IntegerAttr(0))
                        .getResult();
  setResults(find, {all},
             {b.getDictionaryAttr(
                 b.getNamedAttr(nnc::attr::kOutput, b.getStringAttr("nonfinite_checks")))});
  find->setAttr(nnc::attr::kCheckedNodes, b.getArrayAttr(names));
}

struct GuardNonfinitePass : nnc::impl::GuardNonfiniteBase<GuardNonfinitePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = module.lookupSymbol<func::FuncOp>("train_step");
    auto update = step;
    if (!step) {
      step = module.lookupSymbol<func::FuncOp>("accumulate_step");
      update = module.lookupSymbol<func::FuncOp>("apply_step");
    }
    if (!step || !update || update->hasAttr(nnc::attr::kCheckedGradients))
      return; // no training, or fp16's own check
    buildFindNonfinite(module, step);
    guard(update, /*hasLoss=*/update == step);
  }

  /// Whether `func` sums split layers' parts (tensor parallelism).
  static bool splitsLayers(func::FuncOp func) {
    bool split = false;
    func->getParentOfType<ModuleOp>().walk([&](train::TensorParallelSumOp) { split = true; });
    return split;
  }

  /// 1 when no rank of the tensor group found a non-finite value (`finite` 0 or 1 on each).
  static Value countOverTensorGroup(OpBuilder &b, Location at, Value finite) {
    Type f32 = b.getF32Type();
    Location loc = NameLoc::get(b.getStringAttr("tensor_parallel.nonfinite_count"), at);
    Value bad = nn::SubOp::create(b, loc, scalar(b, loc, f32, 1.0), finite);
    Value count = train::TensorParallelSumOp::create(b, loc, bad.getType(), bad,
                                                     b.getStringAttr("tensor"));
    return nn::EqualOp::create(b, loc, count, scalar(b, loc, f32, 0.0));
  }

  /// The update keeps the old parameters and state unless the loss and gradients are finite.
  void guard(func::FuncOp func, bool hasLoss) {
    Block &body = func.getBody().front();
    // Under data parallelism the loss is this rank's own, while the gradients the update reads
    // are the mean over the ranks: checking only those keeps every rank's decision the same.
    bool reduced = false;
    func.walk([&](train::AllReduceOp) { reduced = true; });
    SmallVector<Value> checked;
    if (hasLoss && !reduced)
      checked.push_back(body.getTerminator()->getOperand(0));
    Value norm;
    func.walk([&](train::GlobalNormOp op) { norm = op.getNorm(); });
    if (norm) {
      checked.push_back(norm); // finite when every gradient is (an overflow of the sum too)
    } else {
      llvm::SetVector<Value> grads;
      func.walk([&](Operation *op) {
        if (isa<train::SgdOp, train::SgdMomentumOp, train::AdamOp>(op))
          grads.insert(op->getOperand(1));
      });
      checked.append(grads.begin(), grads.end());
    }
    if (checked.size() == (hasLoss && !reduced ? 1u : 0u))
      return; // no update to guard
    // Right after the last operand is computed, so the check extends no live range.
    Operation *after = nullptr;
    for (Value v : checked)
      if (Operation *def = v.getDefiningOp())
        if (!after || after->isBeforeInBlock(def))
          after = def;
    OpBuilder b(&getContext());
    if (after)
      b.setInsertionPointAfter(after);
    else
      b.setInsertionPointToStart(&body);
    Location loc = func.getLoc();
    Value finite = train::AllFiniteOp::create(b, loc, checked);
    // Tensor parallelism without clipping: each rank checks its own parts of the split
    // gradients (a norm is summed over the group already); the group skips together.
    if (!norm && splitsLayers(func))
      finite = countOverTensorGroup(b, loc, finite);
    // A pipeline stage holds only some of the gradients: the stages skip together when any of
    // them saw a non-finite one (the number that did, summed over the pipeline, is 0).
    auto stages = func->getParentOfType<ModuleOp>()->getAttrOfType<IntegerAttr>(
        nnc::attr::kPipelineStages);
    // ZeRO-1 (issue 20): each rank checks its own gradient shards: the ranks skip together too.
    bool sharded = false;
    func.walk([&](train::ReduceScatterOp) { sharded = true; });
    if ((stages && stages.getInt() > 1) || sharded) {
      Type f32 = b.getF32Type();
      // Named, so that every stage's runtime tags this sum alike (a command index would not).
      Location countLoc = NameLoc::get(b.getStringAttr("all_reduce.nonfinite_count"), loc);
      Value bad = nn::SubOp::create(b, countLoc, scalar(b, countLoc, f32, 1.0), finite);
      auto count = train::AllReduceOp::create(b, countLoc, ValueRange{bad}, b.getUnitAttr());
      finite = nn::EqualOp::create(b, loc, count.getResult(0), scalar(b, loc, f32, 0.0));
    }

    llvm::StringMap<Value> byName;
    for (BlockArgument arg : body.getArguments())
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kParam))
        byName[name.getValue()] = arg;
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    b.setInsertionPoint(ret);
    SmallVector<Value> results(ret.getOperands());
    SmallVector<DictionaryAttr> attrs;
    for (unsigned i = 0; i < results.size(); ++i) {
      attrs.push_back(func.getResultAttrDict(i));
      auto target = func.getResultAttrOfType<StringAttr>(i, nnc::attr::kUpdates);
      if (!target || target.getValue().starts_with(nnc::names::kAccumulatorPrefix))
        continue; // accumulators restart from zero either way
      if (Value old = byName.lookup(target.getValue())) {
        auto keep = nn::WhereOp::create(b, results[i].getLoc(), finite, results[i], old);
        keep->setAttr(nnc::attr::kGuard, b.getUnitAttr()); // for nnc-fuse-guards
        results[i] = keep;
      }
    }
    Type f32 = b.getF32Type();
    results.push_back(nn::SubOp::create(b, loc, scalar(b, loc, f32, 1.0), finite));
    attrs.push_back(
        b.getDictionaryAttr(b.getNamedAttr(nnc::attr::kOutput, b.getStringAttr("update_skipped"))));
    setResults(func, results, attrs);
  }

  void buildFindNonfinite(ModuleOp module, func::FuncOp step) {
    OpBuilder b(&getContext());
    b.setInsertionPointAfter(step);
    auto find = cast<func::FuncOp>(b.clone(*step));
    find.setSymName("find_nonfinite");
    find->removeAttr(nnc::attr::kFlops);
    setResults(find, {}, {});
    dropUpdateRegion(find);
    SmallVector<Check> checks = collectChecks(find);
    if (checks.empty()) {
      find.erase();
      return;
    }
    addCheckOutput(find, checks);
    // What nothing reads any more goes, and the inputs only the update read (the learning
    // rate) are not fed.
    eraseDeadOps(find.getBody().front(), /*keepEffects=*/true);
    eraseUnusedInputs(find);
    find->setAttr(nnc::attr::kFlops, b.getI64IntegerAttr(countFlops(find)));
  }
};

} // namespace
