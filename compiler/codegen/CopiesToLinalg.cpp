// memref.copy as linalg.copy: a strided copy (a slice, a part of a concatenation) would lower to a
// call into MLIR's C runner library, which a plan cannot carry; linalg.copy lowers to loops.
#include "compiler/Passes.h"

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
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
      copy.erase();
    });
  }
};

} // namespace
