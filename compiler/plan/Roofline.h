// A roofline estimate of a CUDA plan's functions: each kernel and library call takes
// max(flops / peak, bytes / bandwidth) on the GPU, and a function the sum over its commands. It is
// a lower bound to judge a first GPU run against: launch latency (microseconds per launch without
// CUDA graphs), caches and occupancy are left out.
#pragma once

#include "compiler/codegen/CudaLaunchStats.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace nnc {
class Function;
class Plan;

/// A GPU's peaks. fp32 runs on the CUDA cores (cuBLASLt is asked for CUBLAS_COMPUTE_32F: no
/// TF32); bf16 and fp16 GEMMs and convolutions on the tensor cores.
struct GpuPeaks {
  const char *name;
  double fp32Flops;      // FLOP/s
  double tensorFlops;    // FLOP/s, dense bf16/fp16
  double bytesPerSecond; // device memory
};

/// H100 SXM: spec sheet (67 TFLOP/s fp32, ~990 TFLOP/s dense bf16, 3.35 TB/s). H200: the same
/// chip's 67 TFLOP/s fp32 (spec sheet), and as measured on one: 788 TFLOP/s on a bf16 GEMM,
/// 4.3 TB/s on a device copy.
const std::vector<GpuPeaks> &knownGpus();

struct RooflineEstimate {
  double kernelSeconds = 0, librarySeconds = 0;
  int64_t launches = 0, libraryCalls = 0;
  double seconds() const { return kernelSeconds + librarySeconds; }
};

/// The estimate for one call of `function` on `gpu`. Kernel FLOPs are counted from the kernel
/// functions of the lowered `module` (each op of a linalg body once per iteration), kernel bytes
/// from `launches` (cudaLaunchStats of the plan's library).
RooflineEstimate estimateRoofline(const Function &function, mlir::ModuleOp module,
                                  const std::vector<CudaLaunchStat> &launches,
                                  const GpuPeaks &gpu);

/// "roofline on CUDA: 12.3 us on H100 SXM, 10.1 us on H200 (50 launches 5.2 us, 6 library calls
/// 7.1 us on H100 SXM; launch latency not included)".
std::string printRoofline(const Function &function, mlir::ModuleOp module,
                          const std::vector<CudaLaunchStat> &launches);

} // namespace nnc
