// Registration of nnc's dialects and passes.
#include "compiler/Registration.h"

#include "dialects/nn/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"

namespace nnc {

void registerDialects(mlir::DialectRegistry &registry) {
  registry.insert<nn::NNDialect, mlir::func::FuncDialect>();
}

// The import phase has no passes; autodiff, lowering and codegen passes register here.
void registerPasses() {}

} // namespace nnc
