// The CUDA driver API, cuBLASLt and cuDNN as tables of function pointers loaded at run time with
// dlopen (IREE's dynamic symbols): nnrun links none of them, so the same binary runs where CUDA
// is absent and reports that only when the cuda device is asked for.
//
// The headers come from the CUDA toolkit at build time; cuda.h maps names to their current ABI
// versions (cuMemAlloc -> cuMemAlloc_v2), and the tables look up those versioned symbols.
#pragma once

#include "support/StatusOr.h"

#include <cublasLt.h>
#include <cuda.h>
#include <cudnn.h>

#include <memory>
#include <string>

namespace nnrt::cuda {

// X-macros: each table is declared, loaded and checked from one list.
#define NNRT_CUDA_DRIVER_FUNCTIONS(X)                                                              \
  X(cuInit)                                                                                        \
  X(cuDriverGetVersion)                                                                            \
  X(cuDeviceGetCount)                                                                              \
  X(cuDeviceGet)                                                                                   \
  X(cuDeviceGetName)                                                                               \
  X(cuDeviceGetAttribute)                                                                          \
  X(cuDevicePrimaryCtxRetain)                                                                      \
  X(cuDevicePrimaryCtxRelease)                                                                     \
  X(cuCtxSetCurrent)                                                                               \
  X(cuStreamCreate)                                                                                \
  X(cuStreamDestroy)                                                                               \
  X(cuStreamSynchronize)                                                                           \
  X(cuMemAlloc)                                                                                    \
  X(cuMemFree)                                                                                     \
  X(cuMemsetD8Async)                                                                               \
  X(cuMemcpyAsync)                                                                                 \
  X(cuModuleLoadDataEx)                                                                            \
  X(cuModuleUnload)                                                                                \
  X(cuModuleGetFunction)                                                                           \
  X(cuLaunchKernel)                                                                                \
  X(cuGetErrorName)                                                                                \
  X(cuGetErrorString)

#define NNRT_CUBLASLT_FUNCTIONS(X)                                                                 \
  X(cublasLtCreate)                                                                                \
  X(cublasLtDestroy)                                                                               \
  X(cublasLtGetStatusString)                                                                       \
  X(cublasLtMatmulDescCreate)                                                                      \
  X(cublasLtMatmulDescDestroy)                                                                     \
  X(cublasLtMatmulDescSetAttribute)                                                                \
  X(cublasLtMatrixLayoutCreate)                                                                    \
  X(cublasLtMatrixLayoutDestroy)                                                                   \
  X(cublasLtMatrixLayoutSetAttribute)                                                              \
  X(cublasLtMatmulPreferenceCreate)                                                                \
  X(cublasLtMatmulPreferenceDestroy)                                                               \
  X(cublasLtMatmulPreferenceSetAttribute)                                                          \
  X(cublasLtMatmulAlgoGetHeuristic)                                                                \
  X(cublasLtMatmul)

#define NNRT_CUDNN_FUNCTIONS(X)                                                                    \
  X(cudnnCreate)                                                                                   \
  X(cudnnDestroy)                                                                                  \
  X(cudnnSetStream)                                                                                \
  X(cudnnGetErrorString)                                                                           \
  X(cudnnCreateTensorDescriptor)                                                                   \
  X(cudnnSetTensor4dDescriptor)                                                                    \
  X(cudnnDestroyTensorDescriptor)                                                                  \
  X(cudnnCreateFilterDescriptor)                                                                   \
  X(cudnnSetFilter4dDescriptor)                                                                    \
  X(cudnnDestroyFilterDescriptor)                                                                  \
  X(cudnnCreateConvolutionDescriptor)                                                              \
  X(cudnnSetConvolution2dDescriptor)                                                               \
  X(cudnnSetConvolutionGroupCount)                                                                 \
  X(cudnnSetConvolutionMathType)                                                                   \
  X(cudnnDestroyConvolutionDescriptor)                                                             \
  X(cudnnCreateActivationDescriptor)                                                               \
  X(cudnnSetActivationDescriptor)                                                                  \
  X(cudnnDestroyActivationDescriptor)                                                              \
  X(cudnnGetConvolutionForwardAlgorithm_v7)                                                        \
  X(cudnnGetConvolutionForwardWorkspaceSize)                                                       \
  X(cudnnConvolutionForward)                                                                       \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7)                                                   \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize)                                                  \
  X(cudnnConvolutionBackwardData)                                                                  \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)                                                 \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize)                                                \
  X(cudnnConvolutionBackwardFilter)                                                                \
  X(cudnnAddTensor)                                                                                \
  X(cudnnActivationForward)

#define NNRT_CUDA_DECLARE(name) decltype(&::name) name = nullptr;

/// A dlopen'ed library; closing it is the destructor's business.
class SharedLibrary {
public:
  /// The first of `names` that dlopen finds, or an error naming `what` and names[0].
  static nnc::StatusOr<std::shared_ptr<SharedLibrary>> open(const char *what,
                                                            std::initializer_list<const char *> names);
  ~SharedLibrary();
  void *symbol(const char *name) const;
  const std::string &path() const { return path_; }

private:
  SharedLibrary(void *handle, std::string path) : handle_(handle), path_(std::move(path)) {}
  void *handle_;
  std::string path_;
};

struct DriverApi {
  std::shared_ptr<SharedLibrary> library;
  NNRT_CUDA_DRIVER_FUNCTIONS(NNRT_CUDA_DECLARE)
};

struct CublasLtApi {
  std::shared_ptr<SharedLibrary> library;
  NNRT_CUBLASLT_FUNCTIONS(NNRT_CUDA_DECLARE)
};

struct CudnnApi {
  std::shared_ptr<SharedLibrary> library;
  NNRT_CUDNN_FUNCTIONS(NNRT_CUDA_DECLARE)
};

/// libcuda.so.1 (the driver's, never the toolkit's stub): "CUDA is not available: libcuda.so.1
/// not found" where there is none.
nnc::StatusOr<std::unique_ptr<DriverApi>> loadDriverApi();
/// libcublasLt and libcudnn from the library path, else from /usr/local/cuda.
nnc::StatusOr<std::unique_ptr<CublasLtApi>> loadCublasLtApi();
nnc::StatusOr<std::unique_ptr<CudnnApi>> loadCudnnApi();

/// "cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
std::string describe(const DriverApi &api, const char *call, CUresult result);
std::string describe(const CublasLtApi &api, const char *call, cublasStatus_t status);
std::string describe(const CudnnApi &api, const char *call, cudnnStatus_t status);

} // namespace nnrt::cuda

/// Checks a call of one of the tables above and returns its error as a Status, with this file's
/// name and line: NNRT_CUDA_CHECK(api, cuMemAlloc(&p, n)).
#define NNRT_CUDA_CHECK(api, call)                                                                 \
  do {                                                                                             \
    auto nnrtResult = (api).call;                                                                  \
    if (nnrtResult != decltype(nnrtResult)(0))                                                     \
      return nnc::Status::error(::nnrt::cuda::describe((api), #call, nnrtResult) + " [" +         \
                                ::nnrt::cuda::baseName(__FILE__) + ":" +                           \
                                std::to_string(__LINE__) + "]");                                   \
  } while (0)

namespace nnrt::cuda {
inline const char *baseName(const char *path) {
  const char *base = path;
  for (const char *p = path; *p; ++p)
    if (*p == '/')
      base = p + 1;
  return base;
}
} // namespace nnrt::cuda
