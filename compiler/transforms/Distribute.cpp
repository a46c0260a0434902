// Data parallelism (see Passes.td): the gradients the update reads become their mean over the
// ranks, one `train.all_reduce` per bucket, each placed as early as its gradients allow. With
// ZeRO-1 (`nnc.zero_stage` = 1) each gradient is reduce-scattered instead and every rank updates
// only its shard of each parameter, with optimizer state for that shard alone (shardUpdates).
//
// Every rank runs the same plan, so the collectives are the same on every rank and in the same
// order by construction; the runtime still checks each one's sequence against its peers.
#include "dialects/nn/NNDialect.h"
#include "dialects/AttrNames.h"
#include "dialects/train/TrainDialect.h"

#include "compiler/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

namespace nnc {
#define GEN_PASS_DEF_DISTRIBUTE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

constexpr int64_t kDefaultBucketBytes = 25 << 20; // PyTorch DDP's default

int64_t byteSize(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  return type.getNumElements() * type.getElementTypeBitWidth() / 8;
}

/// sqrt(sum over the ranks of `norm`^2), in place of `norm` for every op that reads it: the
/// global norm when each rank holds some of the gradients (pipeline stages, ZeRO shards).
void sumNormOverRanks(train::GlobalNormOp norm) {
  OpBuilder b(norm->getContext());
  b.setInsertionPointAfter(norm);
  Location loc = NameLoc::get(b.getStringAttr("all_reduce.grad_norm"), norm.getLoc());
  Value local = norm.getNorm();
  Value squared = nn::MulOp::create(b, loc, local, local);
  auto sum = train::AllReduceOp::create(b, loc, ValueRange{squared}, b.getUnitAttr());
  Value global = nn::SqrtOp::create(b, loc, sum.getResult(0));
  local.replaceAllUsesExcept(global, squared.getDefiningOp());
}

/// A pipeline stage holds some of the parameters: the global norm that clipping compares with is
/// sqrt(sum over the stages of each stage's squared norm).
void sumNormsOverStages(ModuleOp module) {
  auto stages = module->getAttrOfType<IntegerAttr>(nnc::attr::kPipelineStages);
  auto step = module.lookupSymbol<func::FuncOp>("apply_step");
  if (!stages || stages.getInt() <= 1 || !step)
    return;
  step.walk([&](train::GlobalNormOp norm) { sumNormOverRanks(norm); });
}

/// BatchNorm's running statistics become their mean over the ranks each step (one all-reduce
/// before the step returns), so every replica keeps the same ones, and evaluation on any rank
/// uses statistics of the whole global batch's history.
void averageRunningStats(ModuleOp module) {
  for (StringRef name : {"train_step", "accumulate_step"}) {
    auto step = module.lookupSymbol<func::FuncOp>(name);
    if (!step)
      continue;
    auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
    SmallVector<unsigned> positions;
    SmallVector<Value> stats;
    for (auto [i, value] : llvm::enumerate(ret.getOperands()))
      if (step.getResultAttr(i, nnc::attr::kRunningStat)) {
        positions.push_back(i);
        stats.push_back(value);
      }
    if (stats.empty())
      continue;
    OpBuilder b(ret);
    Location loc = NameLoc::get(b.getStringAttr("all_reduce.running_stats"), ret.getLoc());
    auto reduce = train::AllReduceOp::create(b, loc, ValueRange(stats), UnitAttr());
    for (auto [i, mean] : llvm::zip(positions, reduce.getResults()))
      ret.setOperand(i, mean);
  }
}


// --- ZeRO-1 ------------------------------------------------------------------------------
// 1. Each gradient the `train` ops read becomes train.reduce_scatter: this rank's shard of its
//    mean (placed right after the gradient is final); clipping keeps the shard's type.
// 2. Each optimizer op updates train.take_shard of its parameter; its state arguments (and
//    results) shrink to the shard's type, so each rank allocates 1/R of the state.
// 3. The new parameter shard is train.all_gather'ed into the whole parameter, which the step
//    returns as before.
// 4. What decides for every rank is summed over the ranks: the global norm of the shards, and
//    fp16's overflow check (any rank's overflow skips the step everywhere).

Value scalar(OpBuilder &b, Location loc, double v) {
  auto type = RankedTensorType::get({}, b.getF32Type());
  return nn::ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getF32FloatAttr(v)));
}

/// The parameter whose update reads gradient `g` (through a clip), for naming collectives.
std::string parameterOf(func::FuncOp step, Value g) {
  for (OpOperand &use : g.getUses()) {
    Operation *user = use.getOwner();
    if (auto clip = dyn_cast<train::ClipOp>(user); clip && use.getOperandNumber() == 0)
      if (!clip.getResult().use_empty())
        user = *clip.getResult().getUsers().begin();
    if (!isa<train::SgdOp, train::SgdMomentumOp, train::AdamOp>(user))
      continue;
    if (auto param = dyn_cast<BlockArgument>(user->getOperand(0)))
      if (auto name = step.getArgAttrOfType<StringAttr>(param.getArgNumber(), nnc::attr::kParam))
        return name.str();
  }
  return "gradient";
}

void reduceScatterGradients(func::FuncOp step, int64_t ranks) {
  Block &body = step.getBody().front();
  llvm::SetVector<Value> grads;
  for (Operation &op : body)
    for (OpOperand &operand : op.getOpOperands())
      if (train::isGradientOperand(operand))
        grads.insert(operand.get());
  OpBuilder b(step.getContext());
  for (Value g : grads) {
    if (Operation *def = g.getDefiningOp())
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(&body);
    Location loc = NameLoc::get(b.getStringAttr(parameterOf(step, g)), g.getLoc());
    auto type = train::shardType(cast<RankedTensorType>(g.getType()), ranks);
    Value shard = train::ReduceScatterOp::create(b, loc, type, g, ranks);
    g.replaceUsesWithIf(shard, [](OpOperand &use) {
      Operation *user = use.getOwner();
      return isa<train::TrainDialect>(user->getDialect()) &&
             !isa<train::ReduceScatterOp, train::AllReduceOp>(user);
    });
  }
  step.walk([](train::ClipOp clip) { clip.getResult().setType(clip.getGrad().getType()); });
}

/// The optimizer state operands of an update op (they take the parameter's type).
SmallVector<unsigned> stateOperands(Operation *op) {
  if (isa<train::SgdMomentumOp>(op))
    return {2};
  if (isa<train::AdamOp>(op))
    return {2, 3};
  return {};
}

LogicalResult shardUpdates(func::FuncOp step, int64_t ranks, NamedAttrList &logicalTypes) {
  SmallVector<Operation *> updates;
  step.walk([&](Operation *op) {
    if (isa<train::SgdOp, train::SgdMomentumOp, train::AdamOp>(op))
      updates.push_back(op);
  });
  OpBuilder b(step.getContext());
  for (Operation *op : updates) {
    Value param = op->getOperand(0);
    auto whole = cast<RankedTensorType>(param.getType());
    auto shard = train::shardType(whole, ranks);
    b.setInsertionPoint(op);
    auto paramArg = dyn_cast<BlockArgument>(param);
    auto paramName = paramArg ? step.getArgAttrOfType<StringAttr>(paramArg.getArgNumber(),
                                                                  nnc::attr::kParam)
                              : StringAttr();
    Location loc = paramName ? Location(NameLoc::get(paramName, op->getLoc())) : op->getLoc();
    op->setOperand(0, train::TakeShardOp::create(b, loc, shard, param, ranks));
    for (unsigned i : stateOperands(op)) {
      auto state = dyn_cast<BlockArgument>(op->getOperand(i));
      auto name = state ? step.getArgAttrOfType<StringAttr>(state.getArgNumber(), nnc::attr::kParam)
                        : StringAttr();
      // Besides the update, fp16's skip (nn.where of new and old state) may read it.
      auto readsState = [&](Operation *user) { return user == op || isa<nn::WhereOp>(user); };
      if (!name || !llvm::all_of(state.getUsers(), readsState))
        return op->emitOpError("expects its optimizer state to be parameters read by it alone "
                               "(ZeRO shards them)");
      state.setType(shard);
      for (Operation *user : state.getUsers())
        if (user != op)
          user->getResult(0).setType(shard);
      logicalTypes.set(name, TypeAttr::get(whole));
    }
    for (Value result : op->getResults())
      result.setType(shard);
    b.setInsertionPointAfter(op);
    Value updated = op->getResult(0);
    auto all = train::AllGatherOp::create(b, loc, whole, updated, ranks);
    updated.replaceAllUsesExcept(all, all);
  }
  auto ret = step.getBody().front().getTerminator();
  step.setType(FunctionType::get(step.getContext(),
                                 step.getBody().front().getArgumentTypes(),
                                 ret->getOperandTypes()));
  return success();
}

/// fp16's overflow check on this rank's shards becomes: no rank saw an overflow.
void agreeOnFiniteness(func::FuncOp step) {
  step.walk([](train::AllFiniteOp check) {
    OpBuilder b(check->getContext());
    b.setInsertionPointAfter(check);
    Location loc = NameLoc::get(b.getStringAttr("all_reduce.overflow"), check.getLoc());
    Value finite = check.getFinite();
    Value bad = nn::SubOp::create(b, loc, scalar(b, loc, 1.0), finite);
    auto count = train::AllReduceOp::create(b, loc, ValueRange{bad}, b.getUnitAttr());
    Value agreed = nn::EqualOp::create(b, loc, count.getResult(0), scalar(b, loc, 0.0));
    finite.replaceAllUsesExcept(agreed, bad.getDefiningOp());
  });
}

/// Other functions that take the sharded state (accumulate_step passes it through unread) take
/// the shard too: functions share a parameter's buffer, sized by its type.
LogicalResult shardStateElsewhere(ModuleOp module, func::FuncOp step, DictionaryAttr logical,
                                  int64_t ranks) {
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func == step || func.isExternal())
      continue;
    Block &body = func.getBody().front();
    for (BlockArgument arg : body.getArguments()) {
      auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kParam);
      auto type = name ? logical.getAs<TypeAttr>(name) : TypeAttr();
      if (!type)
        continue;
      if (!arg.use_empty())
        return func.emitError("reads optimizer state '")
               << name.getValue() << "', which ZeRO-1 shards in " << step.getSymName();
      arg.setType(train::shardType(cast<RankedTensorType>(type.getValue()), ranks));
    }
    func.setType(FunctionType::get(func.getContext(), body.getArgumentTypes(),
                                   func.getFunctionType().getResults()));
  }
  return success();
}

LogicalResult applyZero(ModuleOp module, func::FuncOp step, int64_t ranks) {
  reduceScatterGradients(step, ranks);
  NamedAttrList logicalTypes;
  if (failed(shardUpdates(step, ranks, logicalTypes)) ||
      failed(shardStateElsewhere(module, step, logicalTypes.getDictionary(module.getContext()),
                                 ranks)))
    return failure();
  step.walk([](train::GlobalNormOp norm) { sumNormOverRanks(norm); });
  agreeOnFiniteness(step);
  module->setAttr(nnc::attr::kZeroLogicalTypes,
                  logicalTypes.getDictionary(module.getContext()));
  return success();
}

struct DistributePass : nnc::impl::DistributeBase<DistributePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    sumNormsOverStages(module);
    auto spec = module->getAttrOfType<nn::TrainingSpecAttr>(nnc::attr::kTraining);
    if (!spec || spec.getWorldSize() <= 1)
      return;
    averageRunningStats(module);
    int64_t bucketBytes =
        spec.getBucketBytes() > 0 ? spec.getBucketBytes() : kDefaultBucketBytes;
    // Under accumulation the update (and so the reduction) happens once per k micro-batches.
    auto step = module.lookupSymbol<func::FuncOp>("apply_step");
    if (!step)
      step = module.lookupSymbol<func::FuncOp>("train_step");
    if (!step)
      return; // nothing trains: nothing to reduce
    auto zero = module->getAttrOfType<IntegerAttr>(nnc::attr::kZeroStage);
    if (zero && zero.getInt() == 1) {
      if (failed(applyZero(module, step, spec.getWorldSize())))
        signalPassFailure();
      return;
    }
    Block &body = step.getBody().front();

    // Each op's position, to order gradients by when they are final and find first uses.
    llvm::DenseMap<Operation *, int64_t> position;
    for (auto [i, op] : llvm::enumerate(body))
      position[&op] = static_cast<int64_t>(i);
    auto defined = [&](Value v) { // block arguments are final from the start
      Operation *def = v.getDefiningOp();
      return def ? position.lookup(def) : int64_t{-1};
    };

    // The gradients, each once, with the position of the first update op that reads it. Only
    // the update (the `train` ops: norm, finiteness check, clip, optimizer) reads the mean; a
    // backward op that reads a gradient (one summed into another) keeps this rank's value.
    auto readsMean = [](OpOperand &use) {
      return isa<train::TrainDialect>(use.getOwner()->getDialect()) &&
             !isa<train::AllReduceOp>(use.getOwner());
    };
    llvm::MapVector<Value, int64_t> firstUse;
    for (Operation &op : body)
      for (OpOperand &operand : op.getOpOperands())
        if (train::isGradientOperand(operand) && !firstUse.count(operand.get())) {
          int64_t first = std::numeric_limits<int64_t>::max();
          for (OpOperand &use : operand.get().getUses())
            if (readsMean(use))
              first = std::min(first, position.lookup(use.getOwner()));
          firstUse[operand.get()] = first;
        }
    SmallVector<Value> grads;
    for (auto &entry : firstUse)
      grads.push_back(entry.first);
    // Backward order: the order the backward pass finishes them in.
    llvm::stable_sort(grads, [&](Value a, Value b) { return defined(a) < defined(b); });

    // Fill buckets in that order. A bucket closes when the next gradient would overflow it, or
    // when the next one is final only after some member is first read (then the bucket could not
    // sit between them).
    SmallVector<SmallVector<Value>> buckets;
    int64_t bytes = 0, earliestUse = std::numeric_limits<int64_t>::max();
    for (Value g : grads) {
      bool full = !buckets.empty() && !buckets.back().empty() &&
                  (bytes + byteSize(g) > bucketBytes || defined(g) >= earliestUse);
      if (buckets.empty() || full) {
        buckets.emplace_back();
        bytes = 0;
        earliestUse = std::numeric_limits<int64_t>::max();
      }
      buckets.back().push_back(g);
      bytes += byteSize(g);
      earliestUse = std::min(earliestUse, firstUse.lookup(g));
    }

    OpBuilder b(&getContext());
    for (auto [i, bucket] : llvm::enumerate(buckets)) {
      Value last = bucket.back();
      if (Operation *def = last.getDefiningOp())
        b.setInsertionPointAfter(def);
      else
        b.setInsertionPointToStart(&body);
      Location loc = NameLoc::get(b.getStringAttr("all_reduce.bucket" + std::to_string(i)),
                                  last.getLoc());
      auto reduce = train::AllReduceOp::create(b, loc, ValueRange(bucket), UnitAttr());
      for (auto [g, mean] : llvm::zip(bucket, reduce.getResults()))
        g.replaceUsesWithIf(mean, readsMean);
    }
  }
};

} // namespace
