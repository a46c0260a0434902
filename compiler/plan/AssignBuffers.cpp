// nnc-assign-buffers: places each plan.plan's buffers in one arena (BufferAssignment.h decides
// the offsets; this pass reads the buffers' sizes and live ranges and writes the offsets back).
#include "compiler/Passes.h"
#include "compiler/plan/BufferAssignment.h"
#include "dialects/plan/PlanDialect.h"

#include "llvm/Support/MathExtras.h"

namespace nnc {
#define GEN_PASS_DEF_ASSIGNBUFFERS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace nnc {
namespace {

constexpr int64_t kAlignment = 64;

LogicalResult assign(plan::PlanOp plan) {
  SmallVector<plan::BufferOp> buffers(plan.getBody().getOps<plan::BufferOp>());
  std::vector<BufferRequest> requests;
  // No offset exceeds the sum of the aligned sizes: when that fits in int64, every offset does.
  int64_t total = 0;
  for (plan::BufferOp buffer : buffers) {
    int64_t size = static_cast<int64_t>(buffer.getSize());
    if (size < 0 || llvm::AddOverflow(total, size + kAlignment, total))
      return plan.emitError("the model's tensors need more bytes than int64 can count");
    requests.push_back({size, static_cast<int64_t>(buffer.getStart()),
                        static_cast<int64_t>(buffer.getEnd())});
  }
  BufferAssignment assignment = assignBuffers(requests, kAlignment);
  for (auto [buffer, offset] : llvm::zip(buffers, assignment.offsets))
    buffer.setOffset(offset);
  plan.setArenaBytes(assignment.peakBytes);
  return success();
}

struct AssignBuffersPass : impl::AssignBuffersBase<AssignBuffersPass> {
  void runOnOperation() override {
    WalkResult result = getOperation().walk([](plan::PlanOp plan) {
      return failed(assign(plan)) ? WalkResult::interrupt() : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
} // namespace nnc
