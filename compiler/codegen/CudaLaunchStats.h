// What each CUDA launch of a compiled model does: its grid and block, the threads it starts and
// the elements and bytes of the buffers it is handed. `nnc compile --target cuda
// --print-launch-stats` prints them; the roofline estimate (compiler/plan/Roofline.h) uses them.
#pragma once

#include "mlir/IR/BuiltinOps.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace nnc {
class CudaKernelLibrary;

struct CudaLaunchStat {
  std::string kernel;   // the plan's kernel symbol (nnc_k3_loss)
  std::string function; // the PTX entry it launches
  std::array<int64_t, 3> grid{}, block{};
  int64_t threads = 0;  // grid x block
  int64_t elements = 0; // of the largest buffer the launch is handed
  int64_t bytes = 0;    // of all buffers it is handed (a lower bound on its memory traffic)
};

/// The launches of every kernel of `library`, in order; buffer sizes from the kernel functions
/// (`nnc.kernel` func.funcs, tensors) of the lowered `module`. A kernel missing from `module`
/// has no sizes (elements and bytes 0).
std::vector<CudaLaunchStat> cudaLaunchStats(mlir::ModuleOp module,
                                            const CudaKernelLibrary &library);

/// One line per launch and a total:
///   launch k0_loss_kernel (nnc_k0_loss): grid(128, 1, 1) block(32, 1, 1) threads 4096 elements 1280 bytes 5632
///   launches: 50, threads 123456, under 32 threads: 5
std::string printCudaLaunchStats(const std::vector<CudaLaunchStat> &stats);

} // namespace nnc
