// Kernels -> native code for the host CPU, in process. The codegen pipeline
// (pipeline/Pipeline.cpp's buildCodegenPipeline: nnc-extract-kernels, bufferization, the row and
// math rewrites of this folder, the upstream lowering) leaves the kernels in the LLVM dialect, in
// a module nested in the compiled one. Here they are translated to LLVM IR, get a
// `void name(void **args)` entry each, are optimized at -O3 for the host CPU and its features,
// emitted as object files and linked into a shared object with lld (LlvmBackend.cpp). -O3 and
// instruction selection take most of a compile, so the kernels are split into a fixed number of
// partitions, each translated, optimized and emitted on its own thread with its own LLVMContext;
// the partition count does not depend on the machine, so neither does the library.
//
// What makes the kernels fast on a multi-core AVX-512 host: a kernel whose loop nests all start
// with a parallel loop over the rows of what it writes also gets an entry that runs one share of
// the rows (the runtime runs the shares on its threads), and a row group's nests run row by row
// in one loop (nnc-mark-rows, nnc-fuse-row-loops, nnc-cut-row-loops); loops that call log or
// tanh call glibc's vector variants (libmvec), exp is a polynomial and erf a rational
// approximation inline; floating-point reductions may be reassociated, so that they vectorize;
// and the kernels' buffer arguments are noalias (buffer assignment keeps them apart).
#include "compiler/codegen/CpuCodegen.h"

#include "compiler/codegen/KernelAttrs.h"
#include "compiler/codegen/LlvmBackend.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Operator.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <atomic>
#include <thread>

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

bool hostHasAmxBf16() { return llvm::sys::getHostCPUFeatures().lookup("amx-bf16"); }

namespace {

/// Adds `void <prefix><name>(void **args)` for each kernel: the runtime's one calling convention,
/// whatever the kernel's arity. A kernel in `split` (its last two parameters are part and parts)
/// also gets `void <prefix><name><kPartSuffix>(void **args, int64_t part, int64_t parts)`.
///
/// The buffers a kernel gets never overlap (buffer assignment gives the buffers live at the same
/// command disjoint bytes) except an in-place kernel's results and the inputs they overwrite
/// (`inPlace`: kernel -> per result, that input or -1), which become one pointer here. So every
/// buffer parameter is `noalias`: LLVM may keep a reduction's accumulator in a register and hoist
/// loads of scalar operands. Not for a kernel with more than kMaxNoAliasBuffers buffers (the
/// concatenation of a deep model's per-node checks, the global norm's sum of squares): once the
/// kernel is inlined into its entry, each of its N accesses carries a list of N alias scopes, and
/// LLVM's alias queries over them grew the plan phase as the square of the model's depth. Those
/// kernels are straight-line copies and scalar sums that noalias does not speed up.
constexpr unsigned kMaxNoAliasBuffers = 64;

void addPackedEntries(llvm::Module &module, ArrayRef<std::string> kernels,
                      const llvm::StringSet<> &split,
                      const llvm::StringMap<std::vector<int64_t>> &inPlace) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  for (const std::string &name : kernels) {
    llvm::Function *kernel = module.getFunction(name);
    kernel->setLinkage(llvm::GlobalValue::InternalLinkage);
    bool splits = split.contains(name);
    unsigned buffers = kernel->arg_size() - (splits ? 2 : 0);
    if (auto overwritten = inPlace.find(name); overwritten != inPlace.end()) {
      unsigned firstResult = buffers - overwritten->second.size();
      for (auto [result, input] : llvm::enumerate(overwritten->second))
        if (input >= 0)
          kernel->getArg(firstResult + result)->replaceAllUsesWith(kernel->getArg(input));
    }
    for (unsigned i = 0; i < buffers && buffers <= kMaxNoAliasBuffers; ++i)
      kernel->addParamAttr(i, llvm::Attribute::NoAlias);
    auto addEntry = [&](const std::string &symbol, bool part) {
      SmallVector<llvm::Type *> params = {ptr};
      if (part)
        params.append({i64, i64});
      auto *entry = llvm::Function::Create(
          llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params, false),
          llvm::GlobalValue::ExternalLinkage, symbol, module);
      llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
      SmallVector<llvm::Value *> args;
      for (unsigned i = 0; i < buffers; ++i) {
        llvm::Value *slot = b.CreateConstInBoundsGEP1_64(ptr, entry->getArg(0), i);
        args.push_back(b.CreateLoad(ptr, slot));
      }
      if (splits) {
        args.push_back(part ? static_cast<llvm::Value *>(entry->getArg(1)) : b.getInt64(0));
        args.push_back(part ? static_cast<llvm::Value *>(entry->getArg(2)) : b.getInt64(1));
      }
      b.CreateCall(kernel, args);
      b.CreateRetVoid();
    };
    addEntry(kKernelEntryPrefix + name, false);
    if (splits)
      addEntry(kKernelEntryPrefix + name + kPartSuffix, true);
  }
}

/// The math functions the kernels call (convert-math-to-libm) that glibc's libmvec has in vector
/// form, 16 lanes with AVX-512 and 8 with AVX2 (x86-64 vector ABI names; within 4 ulp, like the
/// scalar ones). The library records libmvec as needed (linkSharedObject).
const char *const kVectorMath[] = {"expf", "logf", "erff", "tanhf"};
constexpr const char *kLibmvec = "/lib/x86_64-linux-gnu/libmvec.so.1";

bool hasFeature(const CpuTarget &target, llvm::StringRef feature) {
  return llvm::is_contained(target.features, feature);
}

std::vector<llvm::VecDesc> vectorMathFunctions(const CpuTarget &target) {
  // The names must outlive the descriptors (VecDesc holds StringRefs).
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const char *f : kVectorMath) {
      all.push_back(std::string("_ZGVeN16v_") + f);
      all.push_back(std::string("_ZGVdN8v_") + f);
    }
    return all;
  }();
  std::vector<llvm::VecDesc> descs;
  if (!llvm::sys::fs::exists(kLibmvec))
    return descs;
  for (size_t i = 0; i < std::size(kVectorMath); ++i) {
    if (hasFeature(target, "avx512f"))
      descs.push_back({kVectorMath[i], names[2 * i], llvm::ElementCount::getFixed(16), false,
                       "_ZGV_LLVM_N16v", std::nullopt});
    if (hasFeature(target, "avx2"))
      descs.push_back({kVectorMath[i], names[2 * i + 1], llvm::ElementCount::getFixed(8), false,
                       "_ZGV_LLVM_N8v", std::nullopt});
  }
  return descs;
}

/// Lets LLVM reassociate floating-point arithmetic and divide by multiplying with a reciprocal
/// (the `reassoc` and `arcp` flags, nothing that assumes away NaN or infinity): a reduction loop
/// (softmax's and layer norm's sums, the loss) vectorizes only if its partial sums may be added in
/// another order, and a loop dividing by a loop-invariant value (AdamW's bias corrections, a
/// mean's count) then divides once, outside it. Results change only by that rounding.
void allowReassociation(llvm::Module &module) {
  for (llvm::Function &function : module)
    for (llvm::Instruction &inst : llvm::instructions(function))
      if (llvm::isa<llvm::FPMathOperator>(inst)) {
        inst.setHasAllowReassoc(true);
        inst.setHasAllowReciprocal(true);
      }
}

/// Optimizes `module` at -O3 and emits an object file; safe on several threads at once (each with
/// its own module and LLVMContext) once the native target is initialized.
LogicalResult emitObject(llvm::Module &module, const CpuTarget &target, std::string &object,
                         std::string &error) {
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(target.triple, target.cpu, target.features, error);
  if (!machine)
    return failure();
  // Loops vectorize for the host's vector width, and a loop that calls a math function
  // (softmax's exp, GELU's erf) calls glibc's vector variant of it.
  allowReassociation(module);
  optimizeModule(module, *machine, vectorMathFunctions(target));
  return emitObjectFile(module, *machine, object, error);
}

/// The module the codegen pipeline lowered the kernels in (nnc-extract-kernels), if any.
ModuleOp kernelModule(ModuleOp module) {
  for (auto nested : module.getOps<ModuleOp>())
    if (nested->hasAttr(kKernelModuleAttr))
      return nested;
  return nullptr;
}

/// A copy of the lowered kernels as a module of its own.
OwningOpRef<ModuleOp> detach(ModuleOp kernels) {
  OwningOpRef<ModuleOp> copy = kernels.clone();
  (*copy)->removeAttr(kKernelModuleAttr);
  return copy;
}

/// Whether two kernel functions compile to the same code.
bool sameKernel(func::FuncOp a, func::FuncOp b) {
  return a.getFunctionType() == b.getFunctionType() && a.getAllArgAttrs() == b.getAllArgAttrs() &&
         a.getAllResultAttrs() == b.getAllResultAttrs() &&
         OperationEquivalence::isRegionEquivalentTo(&a.getBody(), &b.getBody(),
                                                    OperationEquivalence::IgnoreLocations);
}

/// The plan builder copies a kernel that calls overwrite differently (PlanBuilder.cpp's in-place
/// updates) after codegen ran: such a copy's lowered function is its original's, renamed, placed
/// before it (where the plan builder put the copy).
LogicalResult addLoweredCopies(ModuleOp module, ModuleOp lowered) {
  SmallVector<func::FuncOp> kernels;
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr(kKernelAttr))
      kernels.push_back(func);
  for (func::FuncOp copy : kernels) {
    if (lowered.lookupSymbol(copy.getSymName()))
      continue;
    LLVM::LLVMFuncOp original;
    for (func::FuncOp other : kernels)
      if (other != copy && sameKernel(copy, other) &&
          (original = lowered.lookupSymbol<LLVM::LLVMFuncOp>(other.getSymName())))
        break;
    if (!original)
      return copy.emitError("kernel ") << copy.getSymName() << " was not lowered by codegen";
    auto renamed = cast<LLVM::LLVMFuncOp>(original->clone());
    renamed.setSymName(copy.getSymName());
    lowered.getBody()->getOperations().insert(original->getIterator(), renamed);
  }
  return success();
}


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

OwningOpRef<ModuleOp> loweredKernels(ModuleOp module) {
  ModuleOp kernels = kernelModule(module);
  return kernels ? detach(kernels) : nullptr;
}

LogicalResult compileKernels(ModuleOp module, const CpuTarget &target, std::string &library) {
  ModuleOp lowered = kernelModule(module);
  if (!lowered)
    return module.emitError("the kernels were not lowered: run the codegen pipeline first");
  std::vector<std::string> names;
  llvm::StringMap<std::vector<int64_t>> inPlace;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func->hasAttr(kKernelAttr))
      continue;
    names.push_back(func.getSymName().str());
    if (auto overwritten = func->getAttrOfType<DenseI64ArrayAttr>(kInPlaceAttr))
      inPlace[func.getSymName()] = overwritten.asArrayRef().vec();
  }
  OwningOpRef<ModuleOp> kernels = detach(lowered);
  if (failed(addLoweredCopies(module, *kernels)))
    return failure();

  llvm::StringSet<> split;
  for (auto func : kernels->getOps<LLVM::LLVMFuncOp>())
    if (func->removeAttr(kRowsAttr))
      split.insert(func.getSymName());

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
      addPackedEntries(*llvmModule, groups[i], split, inPlace);
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

  // The vector math functions' home, a DT_NEEDED entry the runtime's dlopen resolves.
  std::vector<std::string> needed;
  if (llvm::sys::fs::exists(kLibmvec))
    needed.push_back(kLibmvec);
  std::string error;
  if (failed(linkSharedObject(objects, needed, library, error)))
    return module.emitError(error);
  return success();
}

} // namespace nnc
