// nnc: the compiler driver (see compiler/driver/NncMain.cpp).
#include "compiler/driver/NncMain.h"

#include "llvm/Support/InitLLVM.h"

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  return nnc::nncMain(argc, argv);
}
