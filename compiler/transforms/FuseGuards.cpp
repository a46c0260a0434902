// After the train ops are expanded, a guarded update (nnc-guard-nonfinite) computes each new
// optimizer state twice over memory: once for the parameter's update, which reads it, and once
// more for `where(finite, new state, old state)`. Letting the parameter's update read the
// guarded state instead leaves the new state one user, so lowering fuses the select into the
// state's own loop and the guard costs no extra pass. Exact: when the step is finite the two
// are equal, and when it is not, the parameter's update is discarded by its own guard.
#include "dialects/nn/NNDialect.h"
#include "dialects/AttrNames.h"

#include "compiler/Passes.h"

namespace nnc {
#define GEN_PASS_DEF_FUSEGUARDS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

struct FuseGuardsPass : nnc::impl::FuseGuardsBase<FuseGuardsPass> {
  void runOnOperation() override {
    SmallVector<nnc::nn::WhereOp> guards;
    getOperation().walk([&](nnc::nn::WhereOp op) {
      if (op->hasAttr(nnc::attr::kGuard))
        guards.push_back(op);
    });
    for (nnc::nn::WhereOp guard : guards) {
      Value updated = guard.getLhs();
      Operation *def = updated.getDefiningOp();
      Operation *flag = guard.getCondition().getDefiningOp(); // null: an argument
      if (!def || def->getBlock() != guard->getBlock() ||
          (flag && flag->getBlock() != def->getBlock()))
        continue;
      // The select moves up to where both the new value and the flag exist; only users after
      // that point can read it.
      Operation *after = flag && def->isBeforeInBlock(flag) ? flag : def;
      bool movable = llvm::all_of(updated.getUsers(), [&](Operation *user) {
        return user == guard || after->isBeforeInBlock(user);
      });
      if (!movable || updated.hasOneUse())
        continue;
      guard->moveAfter(after);
      updated.replaceAllUsesExcept(guard.getResult(), guard);
    }
  }
};

} // namespace
