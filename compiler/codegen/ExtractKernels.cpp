// The kernels' copies that codegen lowers: the entry points keep calling the tensor-level kernel
// functions, which the plan builder reads (arguments, in-place updates), while the copies in a
// nested module change signature and become LLVM dialect functions.
#include "compiler/Passes.h"
#include "compiler/codegen/KernelAttrs.h"

#include "mlir/IR/Builders.h"

namespace nnc {
#define GEN_PASS_DEF_EXTRACTKERNELS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

struct ExtractKernelsPass : nnc::impl::ExtractKernelsBase<ExtractKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder builder(module.getContext());
    builder.setInsertionPointToEnd(module.getBody());
    auto kernels = ModuleOp::create(builder, module.getLoc());
    kernels->setAttr(nnc::kKernelModuleAttr, builder.getUnitAttr());
    builder.setInsertionPointToEnd(kernels.getBody());
    for (auto func : module.getOps<func::FuncOp>())
      if (func->hasAttr(nnc::kKernelAttr))
        builder.clone(*func);
  }
};

} // namespace
