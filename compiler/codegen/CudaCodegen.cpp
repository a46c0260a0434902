// Kernels -> PTX for NVIDIA GPUs, in process, and the launches that run them.
//
// 1. Bufferize the outlined kernel functions (as the CPU backend does) and turn linalg into
//    scf.parallel loops; a reduction dimension becomes an scf.for inside its parallel loop.
//    Reductions over long rows or few outputs become block tree reductions first
//    (CudaReductions.cpp): a grid sized to the outputs, gpu.all_reduce inside each block.
// 2. Work outside any parallel loop (a rank-0 computation) is wrapped in a one-iteration
//    scf.parallel, so that everything a kernel does runs on the GPU.
// 3. Merge the outer dimensions of loops deeper than three into one, tile each loop nest into
//    blocks of at most kThreadsPerBlock threads (innermost dimension first, for coalesced
//    accesses), map tiles to the grid and their insides to threads, and convert the loops to
//    gpu.launch.
// 4. Sink constants and memref views into the launches and outline them; every launch then
//    takes only the kernel function's own memrefs, which the bare-pointer convention passes as
//    one device pointer each. Gather all GPU functions into one gpu.module.
// 5. Record each host function's launches (entry, grid, block, which arguments), then lower the
//    gpu.module through NVVM to PTX, linking libdevice for math functions.
#include "compiler/codegen/CudaCodegen.h"

#include "compiler/codegen/CpuCodegen.h"
#include "compiler/codegen/CudaReductions.h"
#include "compiler/codegen/KernelAttrs.h"
#include "compiler/codegen/LlvmBackend.h"
#include "proto/plan.pb.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/RegionUtils.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"

using namespace mlir;

namespace nnc {
namespace {

/// Threads per block of an elementwise or row-wise launch: a multiple of the warp size that
/// keeps several blocks resident per SM.
constexpr int64_t kThreadsPerBlock = 256;
/// The CUDA limits on a launch's grid (y and z) and block.
constexpr int64_t kMaxGridYZ = 65535;
constexpr int64_t kMaxGridX = (int64_t(1) << 31) - 1;
/// The single gpu.module that holds every GPU function (one PTX module in the plan).
constexpr llvm::StringLiteral kGpuModuleName = "nnc_kernels";
/// Where libdevice (the math functions: expf, logf, tanhf, ...) lives in a CUDA toolkit.
constexpr llvm::StringLiteral kLibdevice = "/usr/local/cuda/nvvm/libdevice/libdevice.10.bc";

/// The interfaces the NVVM lowering and PTX serialization look up, added to the context once.
void registerCudaExtensions(MLIRContext *context) {
  DialectRegistry registry;
  registry.insert<gpu::GPUDialect, NVVM::NVVMDialect>();
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  context->appendDialectRegistry(registry);
  // The GPU passes of the pipelines below, registered once per process (the registry is global).
  static const bool registered = (registerGPUPasses(), true);
  (void)registered;
}

/// A kernel whose root is not in destination style (a slice, a pad) bufferizes into a temporary
/// buffer that is built and then copied whole into the out-argument: build it in the
/// out-argument instead. The GPU code has no allocator for temporaries.
void forwardTemporaries(func::FuncOp func) {
  Block &body = func.getBody().front();
  SmallVector<memref::AllocOp> allocs(body.getOps<memref::AllocOp>());
  for (memref::AllocOp alloc : allocs) {
    memref::CopyOp out;
    SmallVector<Operation *> deallocs, others;
    for (Operation *user : alloc->getUsers()) {
      auto copy = dyn_cast<memref::CopyOp>(user);
      if (copy && copy.getSource() == alloc.getResult() && !out)
        out = copy;
      else if (isa<memref::DeallocOp>(user))
        deallocs.push_back(user);
      else
        others.push_back(user);
    }
    auto target = out ? dyn_cast<BlockArgument>(out.getTarget()) : BlockArgument();
    if (!target || target.getOwner() != &body || target.getType() != alloc.getType() ||
        !target.hasOneUse())
      continue;
    // Every other use (through views too) comes before the copy.
    for (size_t i = 0; i < others.size(); ++i)
      if (isa<ViewLikeOpInterface>(others[i]))
        for (Operation *user : others[i]->getUsers())
          others.push_back(user);
    bool before = llvm::all_of(others, [&](Operation *user) {
      Operation *top = body.findAncestorOpInBlock(*user);
      return top && top->isBeforeInBlock(out);
    });
    if (!before)
      continue;
    out.erase();
    for (Operation *dealloc : deallocs)
      dealloc->erase();
    alloc.getResult().replaceAllUsesWith(target);
    alloc.erase();
  }
}

/// Ops that may stay in a kernel's host function: they compute addresses and constants, not data.
bool isHostSide(Operation *op) {
  return isa<arith::ConstantOp, func::ReturnOp, scf::ParallelOp, gpu::LaunchOp,
             ViewLikeOpInterface>(op) ||
         (op->getNumRegions() == 0 && isMemoryEffectFree(op) &&
          llvm::all_of(op->getOperands(), [](Value v) {
            Operation *def = v.getDefiningOp();
            return def && isa<arith::ConstantOp>(def);
          }));
}

bool isSingleElement(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && memref.hasStaticShape() && memref.getNumElements() == 1;
}

/// One launch for a run of single-element copies (a concat of scalars, e.g. the per-node
/// non-finite flags), a thread per copy, instead of a one-thread launch each.
void fuseScalarCopies(OpBuilder &b, ArrayRef<memref::CopyOp> run) {
  memref::CopyOp last = run.back();
  b.setInsertionPoint(last);
  Location loc = last.getLoc();
  int64_t count = static_cast<int64_t>(run.size());
  int64_t threads = std::clamp<int64_t>(llvm::PowerOf2Ceil(count), 32, kThreadsPerBlock);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto launch = gpu::LaunchOp::create(
      b, loc, arith::ConstantIndexOp::create(b, loc, llvm::divideCeil(count, threads)), one, one,
      arith::ConstantIndexOp::create(b, loc, threads), one, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value copyIndex = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, launch.getBlockIds().x,
                            arith::ConstantIndexOp::create(b, loc, threads)),
      launch.getThreadIds().x);
  auto cases = llvm::to_vector(llvm::seq<int64_t>(0, count));
  auto select = scf::IndexSwitchOp::create(b, loc, TypeRange(), copyIndex, cases, count);
  for (auto [region, constCopy] : llvm::zip(select.getCaseRegions(), run)) {
    memref::CopyOp copy = constCopy;
    b.createBlock(&region);
    auto zeros = [&](Value memref) {
      return SmallVector<Value>(cast<MemRefType>(memref.getType()).getRank(),
                                arith::ConstantIndexOp::create(b, loc, 0));
    };
    Value value = memref::LoadOp::create(b, loc, copy.getSource(), zeros(copy.getSource()));
    memref::StoreOp::create(b, loc, value, copy.getTarget(), zeros(copy.getTarget()));
    scf::YieldOp::create(b, loc);
  }
  b.createBlock(&select.getDefaultRegion());
  scf::YieldOp::create(b, loc);
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b, loc);
  for (memref::CopyOp copy : run)
    copy->erase();
}

/// The buffer a view is a view of.
Value rootBuffer(Value value) {
  while (auto view = value.getDefiningOp<ViewLikeOpInterface>())
    value = view.getViewSource();
  return value;
}

/// Finds the runs for fuseScalarCopies: copies with only views and constants between them (no
/// memory effects, so the copies may all move to the last one's place), none reading a buffer
/// another writes (the copies of a run happen at once).
void fuseScalarCopies(func::FuncOp func) {
  SmallVector<SmallVector<memref::CopyOp>> runs(1);
  llvm::SmallPtrSet<Value, 8> read, written; // of the current run
  auto startRun = [&] {
    if (!runs.back().empty())
      runs.emplace_back();
    read.clear();
    written.clear();
  };
  for (Operation &op : func.getBody().front()) {
    auto copy = dyn_cast<memref::CopyOp>(op);
    if (copy && isSingleElement(copy.getSource().getType())) {
      Value from = rootBuffer(copy.getSource()), to = rootBuffer(copy.getTarget());
      if (written.contains(from) || read.contains(to))
        startRun();
      runs.back().push_back(copy);
      read.insert(from);
      written.insert(to);
    } else if (!isa<ViewLikeOpInterface, arith::ConstantOp>(op)) {
      startRun();
    }
  }
  OpBuilder b(func.getContext());
  for (ArrayRef<memref::CopyOp> run : runs)
    if (run.size() >= 2)
      fuseScalarCopies(b, run);
}

/// Step 2: wraps each run of consecutive device work outside a parallel loop into a
/// one-iteration scf.parallel (one GPU thread). Fails if such a run defines a value used after it.
LogicalResult wrapSerialWork(func::FuncOp func) {
  SmallVector<SmallVector<Operation *>> runs(1);
  for (Operation &op : func.getBody().front()) {
    if (isHostSide(&op)) {
      if (!runs.back().empty())
        runs.emplace_back();
      continue;
    }
    runs.back().push_back(&op);
  }
  for (ArrayRef<Operation *> run : runs) {
    if (run.empty())
      continue;
    llvm::SmallPtrSet<Operation *, 8> inRun(run.begin(), run.end());
    for (Operation *op : run)
      for (Operation *user : op->getUsers())
        if (!inRun.contains(user) && !llvm::any_of(run, [&](Operation *o) {
              return o->isAncestor(user);
            }))
          return op->emitError("the cuda backend cannot run this kernel: a value computed "
                               "outside its parallel loops is used by the host");
    OpBuilder b(run.front());
    Location loc = run.front()->getLoc();
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    auto loop = scf::ParallelOp::create(b, loc, ValueRange{zero}, ValueRange{one}, ValueRange{one});
    Operation *terminator = loop.getBody()->getTerminator();
    for (Operation *op : run)
      op->moveBefore(terminator);
  }
  return success();
}

/// Threads go to the three innermost dimensions of a loop only: a deeper loop has its outer
/// dimensions merged into one first, so that they spread over the grid rather than run in
/// sequence in every thread.
void collapseToThreeDims(func::FuncOp func) {
  SmallVector<scf::ParallelOp> loops(func.getBody().front().getOps<scf::ParallelOp>());
  IRRewriter rewriter(func.getContext());
  for (scf::ParallelOp loop : loops) {
    unsigned rank = loop.getNumLoops();
    if (rank <= 3)
      continue;
    std::vector<unsigned> outer;
    for (unsigned dim = 0; dim + 2 < rank; ++dim)
      outer.push_back(dim);
    rewriter.setInsertionPoint(loop);
    collapseParallelLoops(rewriter, loop, {outer, {rank - 2}, {rank - 1}});
  }
}

/// Step 3's tile sizes: innermost dimension first, powers of two up to kThreadsPerBlock threads
/// in all; only the three innermost dimensions get threads (the others run in sequence).
FailureOr<SmallVector<int64_t>> tileSizesFor(scf::ParallelOp loop) {
  SmallVector<int64_t> trips;
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    std::optional<int64_t> l = getConstantIntValue(lb), u = getConstantIntValue(ub),
                           s = getConstantIntValue(step);
    if (!l || !u || !s || *s <= 0)
      return failure();
    trips.push_back(std::max<int64_t>(0, (*u - *l + *s - 1) / *s));
  }
  SmallVector<int64_t> sizes(trips.size(), 1);
  int64_t budget = kThreadsPerBlock;
  for (int i = static_cast<int>(trips.size()) - 1, mapped = 0; i >= 0 && mapped < 3; --i, ++mapped) {
    int64_t size = static_cast<int64_t>(llvm::PowerOf2Ceil(std::max<int64_t>(trips[i], 1)));
    sizes[i] = std::min(size, budget);
    budget /= sizes[i];
  }
  return sizes;
}

LogicalResult tileLoops(func::FuncOp func) {
  SmallVector<scf::ParallelOp> loops(func.getBody().front().getOps<scf::ParallelOp>());
  for (scf::ParallelOp loop : loops) {
    FailureOr<SmallVector<int64_t>> sizes = tileSizesFor(loop);
    if (failed(sizes))
      return loop.emitError("the cuda backend needs loops of static size");
    if (llvm::all_of(*sizes, [](int64_t s) { return s == 1; }))
      continue; // one thread: the loop maps to the grid alone
    scf::tileParallelLoop(loop, *sizes, /*noMinMaxBounds=*/true);
  }
  return success();
}

/// Step 4: constants, views and pure index arithmetic move into the launches, so that only the
/// function's memref arguments cross into the kernel.
bool isSinkable(Operation *op) {
  return op->getNumRegions() == 0 &&
         (isMemoryEffectFree(op) || isa<ViewLikeOpInterface>(op)) &&
         !isa<memref::AllocOp, memref::AllocaOp>(op);
}

/// Clones the sinkable ops a launch uses into it, transitively (upstream's
/// sinkOperationsIntoLaunchOp will not sink a view of a value the launch does not already use).
void sinkIntoLaunch(gpu::LaunchOp launch) {
  Region &body = launch.getBody();
  for (bool changed = true; changed;) {
    changed = false;
    SetVector<Value> captured;
    getUsedValuesDefinedAbove(body, captured);
    for (Value value : captured) {
      Operation *def = value.getDefiningOp();
      if (!def || !isSinkable(def))
        continue;
      OpBuilder b(&body.front(), body.front().begin());
      Operation *clone = b.clone(*def);
      for (auto [from, to] : llvm::zip(def->getResults(), clone->getResults()))
        replaceAllUsesInRegionWith(from, to, body);
      changed = true;
    }
  }
}

/// Moves every gpu.func into one gpu.module @nnc_kernels, each named after the module that held
/// it (outlining names modules uniquely, but not the functions inside them). The module-level
/// buffers of two-stage reductions move too, once each (outlining copies one into every module
/// that uses it); the host module's originals are dropped.
LogicalResult mergeGpuModules(ModuleOp module) {
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  auto merged = gpu::GPUModuleOp::create(b, module.getLoc(), kGpuModuleName);
  for (auto gpuModule : llvm::make_early_inc_range(module.getOps<gpu::GPUModuleOp>())) {
    if (gpuModule == merged)
      continue;
    StringRef moduleName = gpuModule.getSymName();
    for (auto gpuFunc : llvm::make_early_inc_range(gpuModule.getOps<gpu::GPUFuncOp>())) {
      std::string oldName = gpuFunc.getName().str();
      SymbolTable::setSymbolName(gpuFunc, moduleName);
      gpuFunc->moveBefore(merged.getBody(), merged.getBody()->end());
      module.walk([&](gpu::LaunchFuncOp launch) {
        if (launch.getKernelModuleName() == moduleName && launch.getKernelName() == oldName)
          launch.setKernelAttr(SymbolRefAttr::get(
              b.getStringAttr(kGpuModuleName), {FlatSymbolRefAttr::get(b.getStringAttr(moduleName))}));
      });
    }
    for (auto global : llvm::make_early_inc_range(gpuModule.getOps<memref::GlobalOp>())) {
      if (SymbolTable::lookupSymbolIn(merged, global.getSymName()))
        global.erase();
      else
        global->moveBefore(merged.getBody(), merged.getBody()->end());
    }
    if (!gpuModule.getBody()->empty())
      return gpuModule.emitError("unexpected content in an outlined gpu.module");
    gpuModule.erase();
  }
  for (auto global : llvm::make_early_inc_range(module.getOps<memref::GlobalOp>()))
    global.erase();
  return success();
}

/// The launches of one kernel's host function, in order. Grid and block sizes must be
/// constants and every kernel operand one of the function's memref arguments.
LogicalResult recordLaunches(func::FuncOp func, CudaKernel &kernel) {
  kernel.set_symbol(kKernelEntryPrefix + func.getSymName().str());
  for (Operation &op : func.getBody().front()) {
    if (isa<arith::ConstantOp, func::ReturnOp>(op) || (isMemoryEffectFree(&op) && op.use_empty()))
      continue;
    auto launch = dyn_cast<gpu::LaunchFuncOp>(op);
    if (!launch)
      return op.emitError("the cuda backend cannot run this on the host: ") << op.getName();
    if (launch.getDynamicSharedMemorySize() || launch.hasClusterSize() || launch.getAsyncToken())
      return launch.emitError("unsupported launch (shared memory, clusters or async)");
    CudaLaunch *record = kernel.add_launches();
    record->set_function(launch.getKernelName().str());
    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    int64_t threads = 1;
    for (auto [i, v] : llvm::enumerate(SmallVector<Value>{grid.x, grid.y, grid.z})) {
      std::optional<int64_t> n = getConstantIntValue(v);
      if (!n || *n < 1 || *n > (i == 0 ? kMaxGridX : kMaxGridYZ))
        return launch.emitError("the cuda backend needs a constant grid within CUDA's limits");
      record->add_grid(static_cast<uint32_t>(*n));
    }
    for (Value v : {block.x, block.y, block.z}) {
      std::optional<int64_t> n = getConstantIntValue(v);
      if (!n || *n < 1)
        return launch.emitError("the cuda backend needs a constant block size");
      threads *= *n;
      record->add_block(static_cast<uint32_t>(*n));
    }
    if (threads > 1024)
      return launch.emitError("a block of ") << threads << " threads exceeds CUDA's 1024";
    for (Value operand : launch.getKernelOperands()) {
      auto arg = dyn_cast<BlockArgument>(operand);
      if (!arg || arg.getOwner() != &func.getBody().front() || !isa<MemRefType>(arg.getType()))
        return launch.emitError("the cuda backend passes only the kernel's own buffers to a "
                                "launch, got ")
               << operand;
      record->add_args(arg.getArgNumber());
    }
  }
  return success();
}

/// Step 5: the gpu.module through NVVM to PTX. The same passes as MLIR's
/// gpu-lower-to-nvvm-pipeline for the device side, with libdevice linked explicitly.
FailureOr<std::string> serializeToPtx(gpu::GPUModuleOp gpuModule, const CudaTarget &target) {
  OwningOpRef<ModuleOp> holder = ModuleOp::create(gpuModule.getLoc());
  (*holder)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                     UnitAttr::get(gpuModule.getContext()));
  OpBuilder b(gpuModule.getContext());
  b.setInsertionPointToEnd(holder->getBody());
  b.clone(*gpuModule);
  std::string link;
  if (llvm::sys::fs::is_regular_file(kLibdevice))
    link = " l=" + kLibdevice.str();
  std::string pipeline =
      "convert-scf-to-cf,expand-strided-metadata,nvvm-attach-target{chip=" + target.chip +
      " features=" + target.features + " O=3" + link +
      "},lower-affine,convert-arith-to-llvm,convert-index-to-llvm,canonicalize,cse,"
      "gpu.module(strip-debuginfo,convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv},"
      "canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa}";
  if (failed(runPipeline(*holder, pipeline)))
    return failure();
  for (auto binary : holder->getOps<gpu::BinaryOp>())
    for (mlir::Attribute attr : binary.getObjects())
      if (auto object = dyn_cast<gpu::ObjectAttr>(attr)) {
        std::string ptx = object.getObject().str();
        while (!ptx.empty() && ptx.back() == '\0')
          ptx.pop_back();
        // Without libdevice a math function stays an unresolved call, which would only fail
        // when the runtime loads the PTX.
        size_t at = ptx.find(".extern .func");
        if (at != std::string::npos)
          return gpuModule.emitError("the kernels call an external function (")
                 << StringRef(ptx).substr(at).split('\n').first
                 << "): libdevice was not found at " << kLibdevice;
        return ptx;
      }
  return gpuModule.emitError("the NVVM lowering produced no PTX");
}

} // namespace

OwningOpRef<ModuleOp> lowerKernelsToGpu(ModuleOp module) {
  MLIRContext *context = module.getContext();
  registerCudaExtensions(context);
  context->loadDialect<gpu::GPUDialect, scf::SCFDialect>(); // built directly, not only by passes
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(module.getLoc());
  (*kernels)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(context));
  OpBuilder builder(context);
  builder.setInsertionPointToEnd(kernels->getBody());
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr(nnc::kKernelAttr))
      builder.clone(*func);

  // 1. As the CPU backend: bufferize, strided copies as loops; then linalg -> parallel loops.
  if (failed(runPipeline(*kernels, "one-shot-bufferize{bufferize-function-boundaries "
                                   "function-boundary-type-conversion=identity-layout-map},"
                                   "drop-equivalent-buffer-results,buffer-results-to-out-params,"
                                   "buffer-deallocation-pipeline")))
    return nullptr;
  for (auto func : kernels->getOps<func::FuncOp>()) {
    forwardTemporaries(func);
    fuseScalarCopies(func);
  }
  kernels->walk([](memref::CopyOp copy) {
    OpBuilder b(copy);
    linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
    copy.erase();
  });
  for (auto func : kernels->getOps<func::FuncOp>())
    mapReductionsToBlocks(func);
  if (failed(runPipeline(*kernels, "func.func(convert-linalg-to-parallel-loops),canonicalize,cse")))
    return nullptr;
  for (auto func : kernels->getOps<func::FuncOp>())
    collapseToThreeDims(func);
  if (failed(runPipeline(*kernels, "canonicalize,cse"))) // folds the merged bounds to constants
    return nullptr;

  // 2, 3. Everything into parallel loops, tiled; no canonicalization until they are launches
  // (it would fold the one-iteration loops away again).
  for (auto func : kernels->getOps<func::FuncOp>()) {
    WalkResult alloc = func.walk([](Operation *op) {
      if (isa<memref::AllocOp, memref::AllocaOp>(op)) {
        op->emitError("the cuda backend does not support kernels that need temporary buffers");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (alloc.wasInterrupted() || failed(wrapSerialWork(func)) || failed(tileLoops(func)))
      return nullptr;
  }
  if (failed(runPipeline(*kernels, "func.func(gpu-map-parallel-loops{mapping-policy=innermost-first},"
                                   "convert-parallel-loops-to-gpu),canonicalize,cse")))
    return nullptr;

  // 4. Sink, outline, merge.
  SmallVector<gpu::LaunchOp> launches;
  kernels->walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
  for (gpu::LaunchOp launch : launches)
    sinkIntoLaunch(launch);
  if (failed(runPipeline(*kernels, "gpu-kernel-outlining,canonicalize,cse")) ||
      failed(mergeGpuModules(*kernels)))
    return nullptr;
  return kernels;
}

LogicalResult compileCudaKernels(ModuleOp module, const CudaTarget &target,
                                 CudaKernelLibrary &library) {
  OwningOpRef<ModuleOp> kernels = lowerKernelsToGpu(module);
  if (!kernels)
    return failure();
  library.set_arch(target.chip);
  for (auto func : kernels->getOps<func::FuncOp>())
    if (failed(recordLaunches(func, *library.add_kernels())))
      return failure();
  auto gpuModules = kernels->getOps<gpu::GPUModuleOp>();
  if (gpuModules.empty())
    return success(); // no kernel needs the GPU's cores (only library calls)
  gpu::GPUModuleOp gpuModule = *gpuModules.begin();
  if (gpuModule.getBody()->empty())
    return success();
  FailureOr<std::string> ptx = serializeToPtx(gpuModule, target);
  if (failed(ptx))
    return failure();
  library.set_ptx(std::move(*ptx));
  return success();
}

std::string printCudaKernelLibrary(const CudaKernelLibrary &library) {
  auto list = [](const auto &values) {
    std::string joined;
    for (uint32_t v : values)
      joined += (joined.empty() ? "" : ", ") + std::to_string(v);
    return joined;
  };
  std::string text = "// nnc cuda kernel library for " + library.arch() + ": " +
                     std::to_string(library.kernels_size()) + " kernels\n";
  for (const CudaKernel &kernel : library.kernels()) {
    text += "// kernel " + kernel.symbol() + "\n";
    for (const CudaLaunch &launch : kernel.launches())
      text += "//   launch " + launch.function() + " grid(" + list(launch.grid()) + ") block(" +
              list(launch.block()) + ") args(" + list(launch.args()) + ")\n";
  }
  return text + library.ptx();
}

} // namespace nnc
