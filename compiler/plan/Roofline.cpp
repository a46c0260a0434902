// Roofline estimates of CUDA plans (see Roofline.h).
#include "compiler/plan/Roofline.h"

#include "compiler/codegen/CpuCodegen.h"
#include "proto/plan.pb.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace nnc {
namespace {

/// FLOPs of one call of kernel function `name`: each op of each linalg body once per iteration.
double kernelFlops(ModuleOp module, llvm::StringRef name) {
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func)
    return 0;
  double flops = 0;
  func.walk([&](linalg::LinalgOp op) {
    double iterations = 1;
    for (int64_t size : op.getStaticLoopRanges())
      iterations *= ShapedType::isDynamic(size) ? 1 : size;
    int64_t ops = 0;
    for (Operation &bodyOp : op.getBlock()->without_terminator())
      ops += !isa<linalg::IndexOp>(bodyOp);
    flops += iterations * ops;
  });
  return flops;
}

bool onTensorCores(DType dtype) { return dtype == F16 || dtype == BF16; }

double seconds(double flops, double flopsPerSecond, double bytes, const GpuPeaks &gpu) {
  return std::max(flops / flopsPerSecond, bytes / gpu.bytesPerSecond);
}

} // namespace

const std::vector<GpuPeaks> &knownGpus() {
  static const std::vector<GpuPeaks> gpus = {
      {"H100 SXM", 67e12, 990e12, 3.35e12},
      {"H200", 67e12, 788e12, 4.3e12},
  };
  return gpus;
}

RooflineEstimate estimateRoofline(const Function &function, ModuleOp module,
                                  const std::vector<CudaLaunchStat> &launches,
                                  const GpuPeaks &gpu) {
  llvm::StringMap<std::vector<const CudaLaunchStat *>> launchesOf;
  for (const CudaLaunchStat &launch : launches)
    launchesOf[launch.kernel].push_back(&launch);
  RooflineEstimate estimate;
  for (const Command &command : function.commands()) {
    if (command.has_kernel()) {
      llvm::StringRef symbol = command.kernel().symbol();
      double bytes = 0;
      for (const CudaLaunchStat *launch : launchesOf.lookup(symbol)) {
        bytes += launch->bytes;
        ++estimate.launches;
      }
      double flops = kernelFlops(module, symbol.drop_front(llvm::StringRef(kKernelEntryPrefix).size()));
      estimate.kernelSeconds += seconds(flops, gpu.fp32Flops, bytes, gpu);
    } else if (command.has_gemm()) {
      const Gemm &g = command.gemm();
      double flops = 2.0 * std::max<int64_t>(g.batch(), 1) * g.m() * g.n() * g.k();
      double bytes = g.a().size() + g.b().size() + g.c().size() + g.bias().size();
      estimate.librarySeconds += seconds(
          flops, onTensorCores(g.dtype()) ? gpu.tensorFlops : gpu.fp32Flops, bytes, gpu);
      ++estimate.libraryCalls;
    } else if (command.has_conv2d()) {
      const Conv2d &c = command.conv2d();
      double flops = 2.0;
      for (int64_t d : c.output_shape())
        flops *= d;
      for (int i = 1; i < c.weight_shape_size(); ++i)
        flops *= c.weight_shape(i); // C / groups, KH, KW
      double bytes = c.input().size() + c.weight().size() + c.output().size() + c.bias().size();
      estimate.librarySeconds += seconds(
          flops, onTensorCores(c.dtype()) ? gpu.tensorFlops : gpu.fp32Flops, bytes, gpu);
      ++estimate.libraryCalls;
    } else if (command.has_copy()) {
      estimate.librarySeconds += 2.0 * command.copy().src().size() / gpu.bytesPerSecond;
    } else if (command.has_write_bytes()) {
      estimate.librarySeconds += command.write_bytes().slice().size() / gpu.bytesPerSecond;
    }
  }
  return estimate;
}

std::string printRoofline(const Function &function, ModuleOp module,
                          const std::vector<CudaLaunchStat> &launches) {
  std::string text;
  llvm::raw_string_ostream os(text);
  auto us = [](double s) { return llvm::format("%.1f us", s * 1e6); };
  os << "roofline on CUDA:";
  const std::vector<GpuPeaks> &gpus = knownGpus();
  for (size_t i = 0; i < gpus.size(); ++i)
    os << (i ? "," : "") << " "
       << us(estimateRoofline(function, module, launches, gpus[i]).seconds()) << " on "
       << gpus[i].name;
  RooflineEstimate first = estimateRoofline(function, module, launches, gpus[0]);
  os << " (" << first.launches << " launches " << us(first.kernelSeconds) << ", "
     << first.libraryCalls << " library calls " << us(first.librarySeconds) << " on "
     << gpus[0].name << "; launch latency not included)";
  return text;
}

} // namespace nnc
