// Data parallelism (see Passes.td): the gradients the update reads become their mean over the
// ranks, one `train.all_reduce` per bucket, each placed as early as its gradients allow.
//
// Every rank runs the same plan, so the collectives are the same on every rank and in the same
// order by construction; the runtime still checks each one's sequence against its peers.
#include "dialects/nn/NNDialect.h"
#include "dialects/AttrNames.h"
#include "dialects/train/TrainDialect.h"

#include "compiler/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

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

/// A pipeline stage holds some of the parameters: the global norm that clipping compares with is
/// sqrt(sum over the stages of each stage's squared norm).
void sumNormsOverStages(ModuleOp module) {
  auto stages = module->getAttrOfType<IntegerAttr>(nnc::attr::kPipelineStages);
  auto step = module.lookupSymbol<func::FuncOp>("apply_step");
  if (!stages || stages.getInt() <= 1 || !step)
    return;
  step.walk([&](train::GlobalNormOp norm) {
    OpBuilder b(norm->getContext());
    b.setInsertionPointAfter(norm);
    Location loc = NameLoc::get(b.getStringAttr("all_reduce.grad_norm"), norm.getLoc());
    Value local = norm.getNorm();
    Value squared = nn::MulOp::create(b, loc, local, local);
    auto sum = train::AllReduceOp::create(b, loc, ValueRange{squared}, b.getUnitAttr());
    Value global = nn::SqrtOp::create(b, loc, sum.getResult(0));
    local.replaceAllUsesExcept(global, squared.getDefiningOp());
  });
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
