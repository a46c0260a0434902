// See FunctionSurgery.h.
#include "compiler/transforms/FunctionSurgery.h"
#include "dialects/AttrNames.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/BitVector.h"

using namespace mlir;

namespace nnc {

void setResults(func::FuncOp func, ArrayRef<Value> values, ArrayRef<DictionaryAttr> attrs) {
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  OpBuilder b(ret);
  func::ReturnOp::create(b, ret.getLoc(), values);
  ret.erase();
  func.setType(b.getFunctionType(func.getArgumentTypes(), ValueRange(values).getTypes()));
  func.setAllResultAttrs(attrs);
}

void eraseDeadOps(Block &body, bool keepEffects) {
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops))
    if (op->use_empty() && (!keepEffects || isMemoryEffectFree(op)))
      op->erase();
}

void eraseUnusedInputs(func::FuncOp func) {
  llvm::BitVector unused(func.getNumArguments());
  for (BlockArgument arg : func.getArguments())
    if (arg.use_empty() && func.getArgAttr(arg.getArgNumber(), nnc::attr::kInput))
      unused.set(arg.getArgNumber());
  (void)func.eraseArguments(unused);
}

} // namespace nnc
