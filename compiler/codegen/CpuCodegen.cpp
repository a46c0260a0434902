// Kernels -> native code for the host CPU, in process: bufferize the outlined kernel functions,
// lower them to the LLVM dialect (bare-pointer calling convention), translate to LLVM IR, add a
// `void name(void **args)` entry per kernel, optimize at -O3 for the host CPU and its features,
// emit an object file and link it into a shared object with lld.
#include "compiler/codegen/CpuCodegen.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "lld/Common/Driver.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

LLD_HAS_DRIVER(elf)

using namespace mlir;

namespace nnc {

// The x86 features a plan records and the runtime checks (the ones kernels may use).
static const char *const kTrackedFeatures[] = {
    "sse4.2", "avx",      "avx2",     "fma",        "f16c",       "bmi2",
    "avx512f", "avx512bw", "avx512vl", "avx512dq",   "avx512cd",   "avx512vnni",
    "avx512bf16"};

CpuTarget hostCpuTarget() {
  CpuTarget target;
  target.triple = llvm::sys::getDefaultTargetTriple();
  // The baseline CPU plus exactly the recorded features: naming the host CPU would let LLVM use
  // features the plan does not record (AMX, avx512fp16), and the runtime could not check them.
  target.cpu = "x86-64";
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  for (const char *name : kTrackedFeatures)
    if (features.lookup(name))
      target.features.push_back(name);
  return target;
}

namespace {

LogicalResult runPipeline(ModuleOp module, StringRef pipeline) {
  PassManager pm(module.getContext());
  std::string parseError;
  llvm::raw_string_ostream parseStream(parseError);
  if (failed(parsePassPipeline(pipeline, pm, parseStream)))
    return module.emitError("invalid codegen pipeline: ") << parseError;
  return pm.run(module);
}

/// Bufferizes the kernels and lowers them to the LLVM dialect.
LogicalResult lowerToLLVMDialect(ModuleOp module) {
  if (failed(runPipeline(module, "one-shot-bufferize{bufferize-function-boundaries "
                                 "function-boundary-type-conversion=identity-layout-map},"
                                 "drop-equivalent-buffer-results,buffer-results-to-out-params,"
                                 "buffer-deallocation-pipeline")))
    return failure();
  // Strided copies (slices, concatenation) would lower to a call into MLIR's C runner library,
  // which a plan cannot carry: make them loops instead.
  module.walk([](memref::CopyOp copy) {
    OpBuilder b(copy);
    linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
    copy.erase();
  });
  return runPipeline(
      module, "func.func(convert-linalg-to-loops),convert-math-to-libm,"
              "convert-scf-to-cf,expand-strided-metadata,lower-affine,"
              "finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,"
              "convert-func-to-llvm{use-bare-ptr-memref-call-conv},convert-cf-to-llvm,"
              "convert-ub-to-llvm,reconcile-unrealized-casts");
}

/// Adds `void <prefix><name>(void **args)` for each kernel: the runtime's one calling convention,
/// whatever the kernel's arity.
void addPackedEntries(llvm::Module &module, ArrayRef<std::string> kernels) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  for (const std::string &name : kernels) {
    llvm::Function *kernel = module.getFunction(name);
    kernel->setLinkage(llvm::GlobalValue::InternalLinkage);
    auto *entry = llvm::Function::Create(
        llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false),
        llvm::GlobalValue::ExternalLinkage, kKernelEntryPrefix + name, module);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
    SmallVector<llvm::Value *> args;
    for (unsigned i = 0; i < kernel->arg_size(); ++i) {
      llvm::Value *slot = b.CreateConstInBoundsGEP1_64(ptr, entry->getArg(0), i);
      args.push_back(b.CreateLoad(ptr, slot));
    }
    b.CreateCall(kernel, args);
    b.CreateRetVoid();
  }
}

LogicalResult emitObject(llvm::Module &module, const CpuTarget &target, std::string &object,
                         std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  const llvm::Target *llvmTarget = llvm::TargetRegistry::lookupTarget(llvm::Triple(target.triple), error);
  if (!llvmTarget)
    return failure();
  std::string features;
  for (const std::string &f : target.features)
    features += (features.empty() ? "+" : ",+") + f;
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      llvm::Triple(target.triple), target.cpu, features, options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  module.setDataLayout(machine->createDataLayout());
  module.setTargetTriple(llvm::Triple(target.triple));

  // -O3 over the whole module: loops vectorize for the host's vector width.
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(machine.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);

  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return failure();
  }
  codegen.run(module);
  object.assign(buffer.begin(), buffer.end());
  return success();
}

/// Links an object file into a shared object with lld, through temporary files.
LogicalResult linkSharedObject(const std::string &object, std::string &library,
                               std::string &error) {
  llvm::SmallString<128> objectPath, libraryPath;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("nnc-kernels", "o", fd, objectPath) ||
      llvm::sys::fs::createTemporaryFile("nnc-kernels", "so", libraryPath)) {
    error = "cannot create temporary files for linking";
    return failure();
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << object;
  }
  std::string log;
  llvm::raw_string_ostream logStream(log);
  const char *args[] = {"ld.lld", "-shared", "--build-id=none", "-o", libraryPath.c_str(),
                        objectPath.c_str()};
  lld::Result result = lld::lldMain(args, logStream, logStream, {{lld::Gnu, &lld::elf::link}});
  auto buffer = llvm::MemoryBuffer::getFile(libraryPath);
  llvm::sys::fs::remove(objectPath);
  llvm::sys::fs::remove(libraryPath);
  if (result.retCode != 0 || !buffer) {
    error = "linking the kernel library failed: " + log;
    return failure();
  }
  library = (*buffer)->getBuffer().str();
  return success();
}

} // namespace

OwningOpRef<ModuleOp> lowerKernels(ModuleOp module) {
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(module.getLoc());
  OpBuilder builder(module.getContext());
  builder.setInsertionPointToEnd(kernels->getBody());
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr("nnc.kernel"))
      builder.clone(*func);
  if (failed(lowerToLLVMDialect(*kernels)))
    return nullptr;
  return kernels;
}

LogicalResult compileKernels(ModuleOp module, const CpuTarget &target, std::string &library) {
  std::vector<std::string> names;
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr("nnc.kernel"))
      names.push_back(func.getSymName().str());
  OwningOpRef<ModuleOp> kernels = lowerKernels(module);
  if (!kernels)
    return failure();

  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(*kernels, llvmContext);
  if (!llvmModule)
    return module.emitError("translating the kernels to LLVM IR failed");
  addPackedEntries(*llvmModule, names);

  std::string object, error;
  if (failed(emitObject(*llvmModule, target, object, error)) ||
      failed(linkSharedObject(object, library, error)))
    return module.emitError(error);
  return success();
}

} // namespace nnc
