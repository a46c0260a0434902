// The cuda driver: one GPU (device 0) through the driver API loaded at run time. The arena is one
// cuMemAlloc; kernels are the plan's PTX, JIT-compiled by the driver once at load and launched
// with the grid and block the compiler recorded; Gemm goes to cuBLASLt and Conv2d to cuDNN. All
// work is queued on one stream, so commands run in plan order; synchronize waits for it.
#pragma once

#include "runtime/device/Device.h"

namespace nnrt {

/// A cuda device, or why there is none: "CUDA is not available: libcuda.so.1 not found",
/// "CUDA is not available: cuInit failed: CUDA_ERROR_NO_DEVICE (...)".
nnc::StatusOr<std::unique_ptr<Device>> createCudaDevice();

} // namespace nnrt
