// Fuzzes model import, as `nnc compile` runs it: loadModel on the input saved under the target's
// file name (NNC_FUZZ_MODEL_FILE: "model.pb", "model.pbtxt" or "model.onnx", which selects the
// reader), then importModel, which builds and verifies the `nn` module. Every input must end in
// one error line or a verified module; diagnostics are swallowed, crashes are the findings.
#include "TempFile.h"

#include "compiler/driver/ModelFlags.h"
#include "compiler/import/ModelImporter.h"
#include "proto/model.pb.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>

// MLIR's uniquers allocate from LLVM's BumpPtrAllocator both in libMLIR.so (not instrumented)
// and in the attribute storage code inlined here (instrumented), which poisons each new slab:
// libMLIR's later allocations in it then read as "use-after-poison". Manual poisoning is off.
extern "C" const char *__asan_default_options() { return "allow_user_poisoning=0"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *context = new mlir::MLIRContext();  // importModel loads the dialects it needs
    context->getDiagEngine().registerHandler([](mlir::Diagnostic &) { return mlir::success(); });
    return context;
  }();
  google::protobuf::LogSilencer silence;
  TempFile file(NNC_FUZZ_MODEL_FILE,
                std::string_view(reinterpret_cast<const char *>(data), size));
  nnc::ModelOptions options;
  // An ONNX model carries no loss; with one added, the labels input and loss node are imported.
  if (llvm::StringRef(NNC_FUZZ_MODEL_FILE).ends_with(".onnx"))
    options.loss = "cross-entropy";
  nnc::Model model;
  std::string error;
  if (nnc::loadModel(file.path(), options, /*needLoss=*/false, model, error))
    (void)nnc::importModel(model, context);
  return 0;
}
