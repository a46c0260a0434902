// Kernels -> native code for the host CPU, in process: bufferize the outlined kernel functions,
// lower them to the LLVM dialect (bare-pointer calling convention), translate to LLVM IR, add a
// `void name(void **args)` entry per kernel, optimize at -O3 for the host CPU and its features,
// emit object files and link them into a shared object with lld. -O3 and instruction selection
// take most of a compile, so the kernels are split into a fixed number of partitions, each
// translated, optimized and emitted on its own thread with its own LLVMContext; the partition
// count does not depend on the machine, so neither does the library.
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

#include "llvm/ADT/StringSet.h"

#include <algorithm>
#include <atomic>
#include <thread>

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

/// Optimizes `module` and emits an object file; safe on several threads at once (each with its
/// own module and LLVMContext) once the native target is initialized.
LogicalResult emitObject(llvm::Module &module, const CpuTarget &target, std::string &object,
                         std::string &error) {
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

/// Links object files into a shared object with lld, through temporary files.
LogicalResult linkSharedObject(const std::vector<std::string> &objects, std::string &library,
                               std::string &error) {
  std::vector<llvm::SmallString<128>> objectPaths(objects.size());
  llvm::SmallString<128> libraryPath;
  auto removeAll = [&] {
    for (const auto &path : objectPaths)
      if (!path.empty())
        llvm::sys::fs::remove(path);
    if (!libraryPath.empty())
      llvm::sys::fs::remove(libraryPath);
  };
  for (size_t i = 0; i < objects.size(); ++i) {
    int fd;
    if (llvm::sys::fs::createTemporaryFile("nnc-kernels", "o", fd, objectPaths[i])) {
      removeAll();
      error = "cannot create temporary files for linking";
      return failure();
    }
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << objects[i];
  }
  if (llvm::sys::fs::createTemporaryFile("nnc-kernels", "so", libraryPath)) {
    removeAll();
    error = "cannot create temporary files for linking";
    return failure();
  }
  std::string log;
  llvm::raw_string_ostream logStream(log);
  std::vector<const char *> args = {"ld.lld", "-shared", "--build-id=none", "-o",
                                    libraryPath.c_str()};
  for (auto &path : objectPaths)
    args.push_back(path.c_str());
  lld::Result result = lld::lldMain(args, logStream, logStream, {{lld::Gnu, &lld::elf::link}});
  auto buffer = llvm::MemoryBuffer::getFile(libraryPath);
  removeAll();
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

namespace {

constexpr size_t kPartitions = 4;

/// The kernels in `kPartitions` groups of about equal size (counted in LLVM dialect ops),
/// largest first, ties by name: the same groups on every machine.
std::vector<std::vector<std::string>> partitionKernels(ModuleOp lowered,
                                                        ArrayRef<std::string> names) {
  std::vector<std::pair<int64_t, std::string>> sized;
  for (const std::string &name : names) {
    int64_t ops = 0;
    if (auto func = lowered.lookupSymbol<LLVM::LLVMFuncOp>(name))
      func.walk([&](Operation *) { ++ops; });
    sized.push_back({ops, name});
  }
  std::sort(sized.begin(), sized.end(), [](const auto &a, const auto &b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  // At least one group: a plan without kernels still gets a (nearly empty) library.
  std::vector<std::vector<std::string>> groups(std::clamp<size_t>(names.size(), 1, kPartitions));
  std::vector<int64_t> load(groups.size(), 0);
  for (const auto &[ops, name] : sized) {
    size_t lightest = std::min_element(load.begin(), load.end()) - load.begin();
    groups[lightest].push_back(name);
    load[lightest] += ops;
  }
  return groups;
}

/// A copy of `lowered` that defines only `keep`'s kernels (the others' bodies go; globals and
/// declarations stay, private or external as they were).
OwningOpRef<ModuleOp> partition(ModuleOp lowered, ArrayRef<std::string> keep) {
  OwningOpRef<ModuleOp> copy = lowered.clone();
  llvm::StringSet<> kept;
  for (const std::string &name : keep)
    kept.insert(name);
  for (auto func : llvm::make_early_inc_range(copy->getOps<LLVM::LLVMFuncOp>()))
    if (!func.isExternal() && !kept.contains(func.getSymName()))
      func.erase();
  return copy;
}

} // namespace

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
  std::vector<std::vector<std::string>> groups = partitionKernels(*kernels, names);
  std::vector<OwningOpRef<ModuleOp>> parts;
  for (const std::vector<std::string> &group : groups)
    parts.push_back(partition(*kernels, group));

  // One thread per partition, up to the cores; each owns its LLVMContext.
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::vector<std::string> objects(groups.size()), errors(groups.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < groups.size();) {
      llvm::LLVMContext llvmContext;
      std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(*parts[i], llvmContext);
      if (!llvmModule) {
        errors[i] = "translating the kernels to LLVM IR failed";
        continue;
      }
      addPackedEntries(*llvmModule, groups[i]);
      (void)emitObject(*llvmModule, target, objects[i], errors[i]);
    }
  };
  size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, groups.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t)
    pool.emplace_back(work);
  work();
  for (std::thread &thread : pool)
    thread.join();
  for (const std::string &error : errors)
    if (!error.empty())
      return module.emitError(error);

  std::string error;
  if (failed(linkSharedObject(objects, library, error)))
    return module.emitError(error);
  return success();
}

} // namespace nnc
