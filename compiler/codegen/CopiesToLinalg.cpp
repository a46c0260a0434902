// memref.copy as linalg.copy: a strided copy (a slice, a part of a concatenation) would lower to a
// call into MLIR's C runner library, which a plan cannot carry; linalg.copy lowers to loops. A
// copy of one element is a load and a store: a deep model's per-node checks are concatenated from
// hundreds of them, and as loops of one trip each they made LLVM's dominator-tree updates grow as
// the square of the model's depth.
#include "compiler/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace nnc {
#define GEN_PASS_DEF_COPIESTOLINALG
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

struct CopiesToLinalgPass : nnc::impl::CopiesToLinalgBase<CopiesToLinalgPass> {
  void runOnOperation() override {
    getOperation().walk([](memref::CopyOp copy) {
      OpBuilder b(copy);
      auto source = cast<MemRefType>(copy.getSource().getType());
      if (source.hasStaticShape() && source.getNumElements() == 1) {
        SmallVector<Value> zeros(source.getRank(),
                                 arith::ConstantIndexOp::create(b, copy.getLoc(), 0));
        Value element = memref::LoadOp::create(b, copy.getLoc(), copy.getSource(), zeros);
        memref::StoreOp::create(b, copy.getLoc(), element, copy.getTarget(), zeros);
      } else {
        linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
      }
      copy.erase();
    });
  }
};

} // namespace
