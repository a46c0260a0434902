// nnc: the compiler driver (see compiler/driver/NncMain.cpp).
#include "compiler/driver/NncMain.h"

#include "llvm/Support/InitLLVM.h"

#ifdef __SANITIZE_ADDRESS__
// Under ASan (NNC_SANITIZE): LLVM's BumpPtrAllocator, inlined into this instrumented code, poisons
// the slabs it creates, and the uninstrumented libLLVM and lld code that allocates from the same
// allocators later reads as "use-after-poison" (in-process lld, the plan phase). Manual poisoning
// is off; ASan's own checks stay.
extern "C" const char *__asan_default_options() { return "allow_user_poisoning=0"; }
#endif

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  return nnc::nncMain(argc, argv);
}
