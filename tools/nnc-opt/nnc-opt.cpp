// nnc-opt: MlirOptMain with nnc's dialects and passes, for lit tests of single passes.
#include "compiler/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#ifdef __SANITIZE_ADDRESS__
// Under ASan (NNC_SANITIZE), as in nnc: MLIR's bump allocators, inlined into instrumented code
// (the generated parsers and verifiers of nnc's dialects), poison the slabs they create, and the
// uninstrumented libMLIR code that allocates from the same allocators then reads as
// "use-after-poison". Manual poisoning is off; ASan's own checks stay.
extern "C" const char *__asan_default_options() { return "allow_user_poisoning=0"; }
#endif

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  nnc::registerDialects(registry);
  nnc::registerPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "nnc optimizer driver\n", registry));
}
