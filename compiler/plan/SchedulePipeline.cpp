// nnc-schedule-pipeline: each stage of a pipelined module gets its 1F1B schedule, as
// plan.pipeline_action ops at the end of its plan.plan.
#include "compiler/Passes.h"
#include "dialects/plan/PlanDialect.h"

namespace nnc {
#define GEN_PASS_DEF_SCHEDULEPIPELINE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace nnc {
namespace {

/// One update of stage `s` of `stages` over `micro` micro-batches in the 1F1B order: forwards
/// while the pipeline fills (stages - 1 - s of them), then one forward and one backward in
/// turn, then the remaining backwards, then the update. Sends never wait for their receiver,
/// so no two neighbours can block each other.
void schedule1F1B(int64_t s, int64_t stages, int64_t micro, plan::PlanOp plan) {
  bool first = s == 0, last = s + 1 == stages;
  OpBuilder b = OpBuilder::atBlockEnd(&plan.getBody().front());
  auto add = [&](StringRef kind, int64_t microBatch, int64_t peer) {
    OperationState state(plan.getLoc(), plan::PipelineActionOp::getOperationName());
    plan::PipelineActionOp::build(b, state, b.getStringAttr(kind),
                                  b.getI64IntegerAttr(microBatch), b.getI64IntegerAttr(peer));
    b.create(state);
  };
  auto forward = [&](int64_t i) {
    if (!first)
      add("recv_activation", i, s - 1);
    if (last)
      return; // the last stage's forward is its backward slot's
    add("forward", i, s);
    add("send_activation", i, s + 1);
  };
  auto backward = [&](int64_t i) {
    if (!last)
      add("recv_gradient", i, s + 1);
    add("backward", i, s);
    if (!first)
      add("send_gradient", i, s - 1);
  };
  int64_t warmup = std::min(stages - 1 - s, micro);
  for (int64_t i = 0; i < warmup; ++i)
    forward(i);
  for (int64_t i = 0; i + warmup < micro; ++i) {
    forward(i + warmup);
    backward(i);
  }
  for (int64_t i = micro - warmup; i < micro; ++i)
    backward(i);
  add("apply", 0, s);
}

struct SchedulePipelinePass : impl::SchedulePipelineBase<SchedulePipelinePass> {
  using SchedulePipelineBase::SchedulePipelineBase;
  void runOnOperation() override {
    SmallVector<std::pair<ModuleOp, plan::PlanOp>> stages;
    for (auto stage : getOperation().getOps<ModuleOp>())
      for (auto plan : stage.getOps<plan::PlanOp>())
        stages.push_back({stage, plan});
    for (auto [s, stage] : llvm::enumerate(stages)) {
      auto [module, plan] = stage;
      for (StringRef function : {"accumulate_step", "apply_step"})
        if (!plan.lookupSymbol(function)) {
          module.emitError("pipeline stage ")
              << s << " has no " << function
              << " (the model has no optimizer, or its backward pass failed)";
          return signalPassFailure();
        }
      schedule1F1B(static_cast<int64_t>(s), static_cast<int64_t>(stages.size()), microBatches,
                   plan);
    }
  }
};

} // namespace
} // namespace nnc
