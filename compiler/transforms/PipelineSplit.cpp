// Pipeline parallelism, compile side (see Passes.td). nnc-pipeline-split cuts @forward into S
// stages at single-tensor boundaries, each a nested module that the rest of the pipeline then
// compiles like a whole model (autodiff, accumulation over the micro-batches, lowering), so that
// stage s becomes the plan rank s runs. nnc-pipeline-forward gives a non-last stage
// @forward_step, its forward pass alone, for the schedule's forward slots.
//
// A stage's @forward(nnc.pipe.in?, its graph inputs and parameters, nnc.pipe.grad_in?):
//   - the last stage returns the model's loss and outputs;
//   - every other stage returns (sum(out * nnc.pipe.grad_in), out as nnc.pipe.out): a scalar
//     whose gradient is the vector-Jacobian product with the gradient the next stage sends
//     back, so its backward pass is exactly the model's;
//   - nnc.pipe.in (every stage but the first) is differentiable: autodiff returns its gradient
//     as nnc.pipe.grad_out, to send to the stage before.
// The backward slot (@accumulate_step) recomputes the stage's forward from its input instead of
// keeping every activation of every micro-batch in flight, as GPipe does.
#include "compiler/plan/Flops.h"
#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"

#include "compiler/Passes.h"
#include "compiler/transforms/FunctionSurgery.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

namespace nnc {
#define GEN_PASS_DEF_PIPELINESPLIT
#define GEN_PASS_DEF_PIPELINEFORWARD
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

std::string nodeOf(Operation *op) {
  auto name = dyn_cast<NameLoc>(op->getLoc());
  return name ? name.getName().str() : op->getName().getStringRef().str();
}

/// Refuses the settings a pipeline cannot combine with yet.
LogicalResult checkSpec(ModuleOp module, nn::TrainingSpecAttr spec) {
  int64_t micro = spec.getMicroBatches();
  if (micro < 2)
    return module.emitError("pipeline: micro_batches must be at least 2 (the schedule "
                            "overlaps stages across micro-batches), got ")
           << micro;
  if (spec.getAccumulationSteps() > 1)
    return module.emitError("pipeline: micro_batches already accumulates gradients; leave "
                            "accumulation_steps unset");
  return success();
}

/// The cuts (after op k) where the FLOPs split most evenly into `stages`, at valid cuts only.
LogicalResult balancedCuts(ModuleOp module, ArrayRef<Operation *> ops, int64_t stages,
                           function_ref<bool(int64_t)> validCut, SmallVectorImpl<int64_t> &cuts) {
  int64_t n = static_cast<int64_t>(ops.size());
  SmallVector<int64_t> cumulative(n);
  int64_t total = 0;
  for (auto [i, op] : llvm::enumerate(ops))
    cumulative[i] = total += countFlops(op);
  for (int64_t s = 1; s < stages; ++s) {
    double target = static_cast<double>(total) * s / stages;
    int64_t best = -1;
    for (int64_t k = cuts.empty() ? 0 : cuts.back() + 1; k < n; ++k)
      if (validCut(k) && (best < 0 || std::abs(cumulative[k] - target) <
                                          std::abs(cumulative[best] - target)))
        best = k;
    if (best < 0)
      return module.emitError("pipeline: the model has no place to cut it into ")
             << stages << " stages at one tensor each";
    cuts.push_back(best);
  }
  return success();
}

struct PipelineSplitPass : nnc::impl::PipelineSplitBase<PipelineSplitPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto spec = module->getAttrOfType<nn::TrainingSpecAttr>(nnc::attr::kTraining);
    int64_t stages = spec ? spec.getPipelineStages() : 0;
    if (stages <= 1)
      return;
    if (failed(split(module, spec, stages)))
      signalPassFailure();
  }

  LogicalResult split(ModuleOp module, nn::TrainingSpecAttr spec, int64_t stages) {
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward)
      return module.emitError("pipeline: the model has no forward computation to split");
    if (failed(checkSpec(module, spec)))
      return failure();
    int64_t micro = spec.getMicroBatches();

    Block &body = forward.getBody().front();
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      ops.push_back(&op);
    int64_t n = static_cast<int64_t>(ops.size());
    llvm::DenseMap<Operation *, int64_t> index;
    for (auto [i, op] : llvm::enumerate(ops))
      index[op] = static_cast<int64_t>(i);

    // crossing[k]: the values defined by ops 0..k and used after op k (by an op or as a result).
    // Constants never cross: a stage that reads one gets its own copy.
    std::vector<SmallVector<Value>> crossing(n);
    for (auto [i, op] : llvm::enumerate(ops)) {
      if (isa<nn::ConstantOp>(op))
        continue;
      for (Value result : op->getResults()) {
        int64_t last = static_cast<int64_t>(i);
        for (Operation *user : result.getUsers())
          last = std::max(last, index.count(user) ? index.lookup(user) : n);
        for (int64_t k = static_cast<int64_t>(i); k < last && k < n; ++k)
          crossing[k].push_back(result);
      }
    }
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    auto validCut = [&](int64_t k) {
      return crossing[k].size() == 1 &&
             llvm::none_of(ret.getOperands(), [&](Value v) { return v == crossing[k][0]; });
    };

    // The cuts: after the user's boundary nodes, else where the FLOPs split most evenly.
    SmallVector<int64_t> cuts;
    ArrayAttr boundaries = spec.getStageBoundaries();
    if (boundaries && !boundaries.empty()) {
      if (static_cast<int64_t>(boundaries.size()) != stages - 1)
        return module.emitError("pipeline: ")
               << stages << " stages need " << stages - 1 << " stage_boundaries, got "
               << boundaries.size();
      for (Attribute boundary : boundaries) {
        StringRef name = cast<StringAttr>(boundary).getValue();
        int64_t at = -1;
        for (auto [i, op] : llvm::enumerate(ops))
          if (nodeOf(op) == name)
            at = static_cast<int64_t>(i);
        if (at < 0)
          return module.emitError("pipeline: stage boundary '") << name
                 << "' is not a node of the model";
        if (crossing[at].size() == 1 && !validCut(at))
          return ops[at]->emitError("pipeline: stage boundary '")
                 << name << "' ends the model: its result is an output the last stage returns";
        if (!validCut(at)) {
          InFlightDiagnostic diag = ops[at]->emitError("pipeline: stage boundary '")
                                    << name << "' does not cut the model at one tensor: "
                                    << crossing[at].size() << " values cross it, from";
          for (Value v : crossing[at])
            if (Operation *def = v.getDefiningOp())
              diag << " '" << nodeOf(def) << "'";
          return diag;
        }
        if (!cuts.empty() && at <= cuts.back())
          return module.emitError("pipeline: stage boundary '") << name
                 << "' does not come after the one before it";
        cuts.push_back(at);
      }
    } else if (failed(balancedCuts(module, ops, stages, validCut, cuts))) {
      return failure();
    }

    // One nested module per stage; the model's own functions go.
    OpBuilder b(module.getContext());
    nn::TrainingSpecAttr stageSpec = spec.withAccumulationSteps(micro);
    int64_t first = 0;
    for (int64_t s = 0; s < stages; ++s) {
      int64_t last = s + 1 < stages ? cuts[s] : n - 1;
      if (failed(buildStage(module, forward, ops, first, last,
                            s > 0 ? crossing[cuts[s - 1]][0] : Value(),
                            s + 1 < stages ? crossing[cuts[s]][0] : Value(), s, stages,
                            stageSpec)))
        return failure();
      first = last + 1;
    }
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      func.erase();
    return success();
  }

  /// Stage `s`: ops[first..last] of @forward, fed `in` (from the stage before) and sending `out`.
  LogicalResult buildStage(ModuleOp module, func::FuncOp forward, ArrayRef<Operation *> ops,
                           int64_t first, int64_t last, Value in, Value out, int64_t s,
                           int64_t stages, nn::TrainingSpecAttr spec) {
    MLIRContext *ctx = module.getContext();
    OpBuilder b(ctx);
    Location loc = forward.getLoc();
    b.setInsertionPointToEnd(module.getBody());
    auto stage = ModuleOp::create(b, loc, ("stage" + std::to_string(s)));
    stage->setAttr(nnc::attr::kTraining, spec);
    stage->setAttr(nnc::attr::kPipelineStage, b.getI64IntegerAttr(s));
    stage->setAttr(nnc::attr::kPipelineStages, b.getI64IntegerAttr(stages));
    stage->setAttr(nnc::attr::kPipelineFirstNode, b.getStringAttr(nodeOf(ops[first])));
    stage->setAttr(nnc::attr::kPipelineLastNode, b.getStringAttr(nodeOf(ops[last])));

    // The arguments: the incoming activation, the model's arguments this stage reads (in their
    // order, with their attributes), the gradient coming back.
    llvm::SetVector<Value> reads;
    for (Operation *op : ops.slice(first, last - first + 1))
      for (Value operand : op->getOperands())
        if (isa<BlockArgument>(operand))
          reads.insert(operand);
    SmallVector<Type> types;
    SmallVector<DictionaryAttr> attrs;
    if (in) {
      types.push_back(in.getType());
      attrs.push_back(b.getDictionaryAttr(
          {b.getNamedAttr(nnc::attr::kInput, b.getStringAttr(nnc::names::kPipeIn)),
           b.getNamedAttr(nnc::attr::kDifferentiable, b.getStringAttr(nnc::names::kPipeGradOut))}));
    }
    SmallVector<BlockArgument> modelArgs;
    for (BlockArgument arg : forward.getArguments())
      if (reads.contains(arg)) {
        modelArgs.push_back(arg);
        types.push_back(arg.getType());
        attrs.push_back(forward.getArgAttrDict(arg.getArgNumber()));
      }
    if (out) {
      types.push_back(out.getType());
      attrs.push_back(b.getDictionaryAttr(
          b.getNamedAttr(nnc::attr::kInput, b.getStringAttr(nnc::names::kPipeGradIn))));
    }

    b.setInsertionPointToEnd(stage.getBody());
    auto func = func::FuncOp::create(b, loc, "forward", b.getFunctionType(types, {}));
    func.setAllArgAttrs(attrs);
    Block *block = func.addEntryBlock();
    IRMapping map;
    unsigned next = 0;
    if (in)
      map.map(in, block->getArgument(next++));
    for (BlockArgument arg : modelArgs)
      map.map(arg, block->getArgument(next++));
    Value gradIn = out ? block->getArgument(next) : Value();

    b.setInsertionPointToEnd(block);
    for (Operation *op : ops.slice(first, last - first + 1)) {
      for (Value operand : op->getOperands())
        if (auto constant = operand.getDefiningOp<nn::ConstantOp>();
            constant && !map.contains(operand))
          b.clone(*constant, map);
      if (!isa<nn::ConstantOp>(op))
        b.clone(*op, map);
    }

    SmallVector<Value> results;
    SmallVector<DictionaryAttr> resultAttrs;
    auto ret = cast<func::ReturnOp>(forward.getBody().front().getTerminator());
    if (!out) {
      for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
        if (!map.contains(value))
          return forward.emitError("pipeline: output ")
                 << i << " is not computed by the last stage";
        results.push_back(map.lookup(value));
        resultAttrs.push_back(forward.getResultAttrDict(i));
      }
    } else {
      Value sent = map.lookup(out);
      sent.getDefiningOp()->setAttr(nnc::attr::kPipeOut, b.getUnitAttr());
      Location pipeLoc = NameLoc::get(b.getStringAttr(nnc::names::kPipeLoss), loc);
      int64_t rank = cast<RankedTensorType>(sent.getType()).getRank();
      Value product = nn::MulOp::create(b, pipeLoc, sent, gradIn);
      Value loss = nn::ReduceSumOp::create(b, pipeLoc, product,
                                           llvm::to_vector(llvm::seq<int64_t>(0, rank)),
                                           BoolAttr());
      results = {loss, sent};
      resultAttrs = {forward.getResultAttrDict(0),
                     b.getDictionaryAttr(
                         b.getNamedAttr(nnc::attr::kOutput, b.getStringAttr(nnc::names::kPipeOut)))};
    }
    func::ReturnOp::create(b, loc, results);
    func.setType(b.getFunctionType(types, ValueRange(results).getTypes()));
    func.setAllResultAttrs(resultAttrs);
    return success();
  }
};

/// @forward_step: @accumulate_step's forward up to the value sent on (same inputs, so the same
/// dropout masks as the backward slot's recomputation), and nothing else.
struct PipelineForwardPass : nnc::impl::PipelineForwardBase<PipelineForwardPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = module.lookupSymbol<func::FuncOp>("accumulate_step");
    if (!step || !module->hasAttr(nnc::attr::kPipelineStage))
      return;
    Operation *sent = nullptr;
    step.walk([&](Operation *op) {
      if (op->hasAttr(nnc::attr::kPipeOut))
        sent = op;
    });
    if (!sent)
      return; // the last stage sends nothing on

    OpBuilder b(module.getContext());
    b.setInsertionPointAfter(step);
    auto forward = cast<func::FuncOp>(b.clone(*step));
    forward.setSymName("forward_step");
    Block &body = forward.getBody().front();
    Operation *clone = nullptr;
    forward.walk([&](Operation *op) {
      if (op->hasAttr(nnc::attr::kPipeOut))
        clone = op;
    });
    auto ret = body.getTerminator();
    b.setInsertionPoint(ret);
    // Function boundaries stay fp32 under mixed precision: the next stage takes an f32 input.
    Value out = clone->getResult(0);
    if (!cast<RankedTensorType>(out.getType()).getElementType().isF32())
      out = nn::CastOp::create(b, out.getLoc(), out, b.getF32Type());
    func::ReturnOp::create(b, ret->getLoc(), out);
    ret->erase();
    forward.setType(b.getFunctionType(forward.getArgumentTypes(), out.getType()));
    forward.setResultAttr(0, nnc::attr::kOutput, b.getStringAttr(nnc::names::kPipeOut));
    // Dead ops (the backward pass, the accumulation), then the inputs nothing reads.
    eraseDeadOps(body, /*keepEffects=*/false);
    eraseUnusedInputs(forward);
    forward->setAttr(nnc::attr::kFlops, b.getI64IntegerAttr(countFlops(forward)));
  }
};

} // namespace
