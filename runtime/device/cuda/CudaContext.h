// What the cuda driver's parts share: the loaded APIs, the device's primary context and its one
// stream, and the library handles created on first use.
#pragma once

#include "runtime/device/Device.h"
#include "runtime/device/cuda/CudaApi.h"

namespace nnrt::cuda {

struct Context {
  std::unique_ptr<DriverApi> driver;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  std::string deviceName;

  // Created by the first Gemm / Conv2d: a plan without them never loads the libraries.
  std::unique_ptr<CublasLtApi> cublasLt;
  cublasLtHandle_t cublasLtHandle = nullptr;
  CUdeviceptr cublasLtWorkspace = 0;
  size_t cublasLtWorkspaceBytes = 0;
  std::unique_ptr<CudnnApi> cudnn;
  cudnnHandle_t cudnnHandle = nullptr;

  /// Makes the primary context current on the calling thread (cheap; any thread may call the
  /// device).
  nnc::Status makeCurrent() const;
  nnc::Status initCublasLt();
  nnc::Status initCudnn();
  ~Context();
};

/// Library calls, prepared once per command (CudaLibraries.cpp).
nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareCublasLtGemm(Context &context,
                                                                 const GemmDesc &desc);
nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareCudnnConv2d(Context &context,
                                                               const Conv2dDesc &desc);

} // namespace nnrt::cuda
