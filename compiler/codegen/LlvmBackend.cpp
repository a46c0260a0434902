// The LLVM end of code generation (see LlvmBackend.h). The functions hold no state of their own:
// the CPU backend calls the LLVM ones from several threads at once, each with its own
// LLVMContext, once the native target is initialized.
#include "compiler/codegen/LlvmBackend.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "lld/Common/Driver.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Target/TargetMachine.h"

LLD_HAS_DRIVER(elf)

namespace nnc {

mlir::LogicalResult runPipeline(mlir::ModuleOp module, llvm::StringRef pipeline) {
  mlir::PassManager pm(module.getContext());
  std::string parseError;
  llvm::raw_string_ostream parseStream(parseError);
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, parseStream)))
    return module.emitError("invalid codegen pipeline: ") << parseError;
  return pm.run(module);
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const std::string &triple,
                                                         const std::string &cpu,
                                                         llvm::ArrayRef<std::string> features,
                                                         std::string &error) {
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return nullptr;
  std::string featureList;
  for (const std::string &f : features)
    featureList += (featureList.empty() ? "+" : ",+") + f;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      llvm::Triple(triple), cpu, featureList, llvm::TargetOptions(), llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine,
                    llvm::ArrayRef<llvm::VecDesc> vectorFunctions) {
  module.setDataLayout(machine.createDataLayout());
  module.setTargetTriple(machine.getTargetTriple());
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::TargetLibraryInfoImpl libraryInfo(machine.getTargetTriple());
  libraryInfo.addVectorizableFunctions(vectorFunctions);
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(libraryInfo); });
  llvm::PassBuilder pb(&machine);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
}

mlir::LogicalResult emitObjectFile(llvm::Module &module, llvm::TargetMachine &machine,
                                   std::string &object, std::string &error) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager codegen;
  if (machine.addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return mlir::failure();
  }
  codegen.run(module);
  object.assign(buffer.begin(), buffer.end());
  return mlir::success();
}

namespace {

/// Temporary files that are removed when this goes out of scope.
struct TemporaryFiles {
  std::vector<llvm::SmallString<128>> paths;
  ~TemporaryFiles() {
    for (const auto &path : paths)
      llvm::sys::fs::remove(path);
  }
  /// A new empty file named nnc-kernels-*.<suffix>; its path, or null on failure.
  const char *create(llvm::StringRef suffix, int *fd = nullptr) {
    llvm::SmallString<128> path;
    std::error_code failed =
        fd ? llvm::sys::fs::createTemporaryFile("nnc-kernels", suffix, *fd, path)
           : llvm::sys::fs::createTemporaryFile("nnc-kernels", suffix, path);
    if (failed)
      return nullptr;
    paths.push_back(path);
    return paths.back().c_str();
  }
};

} // namespace

mlir::LogicalResult linkSharedObject(const std::vector<std::string> &objects,
                                     llvm::ArrayRef<std::string> needed, std::string &library,
                                     std::string &error) {
  TemporaryFiles files;
  files.paths.reserve(objects.size() + 1); // c_str() pointers into it stay valid
  std::vector<const char *> objectPaths;
  for (const std::string &object : objects) {
    int fd;
    const char *path = files.create("o", &fd);
    if (!path) {
      error = "cannot create temporary files for linking";
      return mlir::failure();
    }
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << object;
    objectPaths.push_back(path);
  }
  const char *libraryPath = files.create("so");
  if (!libraryPath) {
    error = "cannot create temporary files for linking";
    return mlir::failure();
  }
  std::string log;
  llvm::raw_string_ostream logStream(log);
  std::vector<const char *> args = {"ld.lld", "-shared", "--build-id=none", "-o", libraryPath};
  args.insert(args.end(), objectPaths.begin(), objectPaths.end());
  for (const std::string &lib : needed)
    args.push_back(lib.c_str());
  lld::Result result = lld::lldMain(args, logStream, logStream, {{lld::Gnu, &lld::elf::link}});
  auto buffer = llvm::MemoryBuffer::getFile(libraryPath);
  if (result.retCode != 0 || !buffer) {
    error = "linking the kernel library failed: " + log;
    return mlir::failure();
  }
  library = (*buffer)->getBuffer().str();
  return mlir::success();
}

} // namespace nnc
