// Launch statistics of a CUDA kernel library (see CudaLaunchStats.h).
#include "compiler/codegen/CudaLaunchStats.h"

#include "compiler/codegen/CpuCodegen.h"
#include "proto/plan.pb.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace nnc {

std::vector<CudaLaunchStat> cudaLaunchStats(ModuleOp module, const CudaKernelLibrary &library) {
  std::vector<CudaLaunchStat> stats;
  for (const CudaKernel &kernel : library.kernels()) {
    llvm::StringRef name = llvm::StringRef(kernel.symbol());
    name.consume_front(kKernelEntryPrefix);
    auto func = module.lookupSymbol<func::FuncOp>(name);
    for (const CudaLaunch &launch : kernel.launches()) {
      CudaLaunchStat stat;
      stat.kernel = kernel.symbol();
      stat.function = launch.function();
      stat.threads = 1;
      for (int i = 0; i < 3; ++i) {
        stat.grid[i] = i < launch.grid_size() ? launch.grid(i) : 1;
        stat.block[i] = i < launch.block_size() ? launch.block(i) : 1;
        stat.threads *= stat.grid[i] * stat.block[i];
      }
      // Launch arguments index the kernel function's arguments (the bufferized function keeps
      // them in order).
      for (uint32_t arg : launch.args()) {
        if (!func || arg >= func.getNumArguments())
          continue;
        auto type = dyn_cast<ShapedType>(func.getArgument(arg).getType());
        if (!type || !type.hasStaticShape())
          continue;
        stat.elements = std::max(stat.elements, type.getNumElements());
        stat.bytes += type.getNumElements() * ((type.getElementTypeBitWidth() + 7) / 8);
      }
      stats.push_back(std::move(stat));
    }
  }
  return stats;
}

std::string printCudaLaunchStats(const std::vector<CudaLaunchStat> &stats) {
  std::string text;
  llvm::raw_string_ostream os(text);
  int64_t threads = 0, small = 0;
  for (const CudaLaunchStat &s : stats) {
    os << "launch " << s.function << " (" << s.kernel << "): grid(" << s.grid[0] << ", "
       << s.grid[1] << ", " << s.grid[2] << ") block(" << s.block[0] << ", " << s.block[1] << ", "
       << s.block[2] << ") threads " << s.threads << " elements " << s.elements << " bytes "
       << s.bytes << "\n";
    threads += s.threads;
    small += s.threads < 32;
  }
  os << "launches: " << stats.size() << ", threads " << threads << ", under 32 threads: " << small
     << "\n";
  return text;
}

} // namespace nnc
