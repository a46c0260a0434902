// Loading the CUDA libraries' symbol tables with dlopen/dlsym.
#include "runtime/device/cuda/CudaApi.h"

#include <dlfcn.h>

namespace nnrt::cuda {

#define NNRT_CUDA_STRINGIFY_(x) #x
#define NNRT_CUDA_STRINGIFY(x) NNRT_CUDA_STRINGIFY_(x)

SharedLibrary::~SharedLibrary() {
  if (handle_)
    dlclose(handle_);
}

void *SharedLibrary::symbol(const char *name) const { return dlsym(handle_, name); }

nnc::StatusOr<std::shared_ptr<SharedLibrary>>
SharedLibrary::open(const char *what, std::initializer_list<const char *> names) {
  std::string tried;
  for (const char *name : names) {
    if (void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL))
      return std::shared_ptr<SharedLibrary>(new SharedLibrary(handle, name));
    if (name != *names.begin())
      tried += (tried.empty() ? " (also tried " : ", ") + std::string(name);
  }
  return nnc::Status::error(std::string(what) + ": " + *names.begin() + " not found" + tried +
                            (tried.empty() ? "" : ")"));
}

namespace {

/// Resolves every symbol of a table, or names the first one missing.
template <typename Api>
nnc::Status missing(const Api &api, const char *name, void *address) {
  if (!address)
    return nnc::Status::error(api.library->path() + " lacks " + name +
                              " (an older version than this nnrun needs?)");
  return nnc::Status();
}

} // namespace

// Each X(name) expands `name` first (cuda.h maps cuMemAlloc to cuMemAlloc_v2), so the member and
// the looked-up symbol are the versioned ones.
#define NNRT_CUDA_LOAD(name)                                                                       \
  api->name = reinterpret_cast<decltype(api->name)>(                                               \
      api->library->symbol(NNRT_CUDA_STRINGIFY(name)));                                            \
  if (nnc::Status s = missing(*api, NNRT_CUDA_STRINGIFY(name), reinterpret_cast<void *>(api->name)); \
      !s.ok())                                                                                     \
    return s;

nnc::StatusOr<std::unique_ptr<DriverApi>> loadDriverApi() {
  // Only the driver's own library: the toolkit's stubs/libcuda.so would load and then fail
  // every call.
  nnc::StatusOr<std::shared_ptr<SharedLibrary>> library =
      SharedLibrary::open("CUDA is not available", {"libcuda.so.1"});
  if (!library.ok())
    return library.status();
  auto api = std::make_unique<DriverApi>();
  api->library = std::move(*library);
  NNRT_CUDA_DRIVER_FUNCTIONS(NNRT_CUDA_LOAD)
  return api;
}

nnc::StatusOr<std::unique_ptr<CublasLtApi>> loadCublasLtApi() {
  nnc::StatusOr<std::shared_ptr<SharedLibrary>> library = SharedLibrary::open(
      "cuBLASLt (for Gemm commands) is not available",
      {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so",
       "/usr/local/cuda/lib64/libcublasLt.so.13", "/usr/local/cuda/lib64/libcublasLt.so",
       "/usr/local/cuda/lib/libcublasLt.so"});
  if (!library.ok())
    return library.status();
  auto api = std::make_unique<CublasLtApi>();
  api->library = std::move(*library);
  NNRT_CUBLASLT_FUNCTIONS(NNRT_CUDA_LOAD)
  return api;
}

nnc::StatusOr<std::unique_ptr<CudnnApi>> loadCudnnApi() {
  nnc::StatusOr<std::shared_ptr<SharedLibrary>> library = SharedLibrary::open(
      "cuDNN (for Conv2d commands) is not available",
      {"libcudnn.so.9", "libcudnn.so", "/usr/local/cuda/lib64/libcudnn.so.9",
       "/usr/local/cuda/lib/libcudnn.so.9", "/usr/local/cuda/lib64/libcudnn.so",
       "/usr/local/cuda/lib/libcudnn.so"});
  if (!library.ok())
    return library.status();
  auto api = std::make_unique<CudnnApi>();
  api->library = std::move(*library);
  NNRT_CUDNN_FUNCTIONS(NNRT_CUDA_LOAD)
  return api;
}

namespace {
/// "cuMemAlloc(&p, n)" -> "cuMemAlloc".
std::string callName(const char *call) {
  std::string name(call);
  return name.substr(0, name.find('('));
}
} // namespace

std::string describe(const DriverApi &api, const char *call, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  api.cuGetErrorName(result, &name);
  api.cuGetErrorString(result, &text);
  return callName(call) + " failed: " + (name ? name : "CUDA error " + std::to_string(result)) +
         (text ? " (" + std::string(text) + ")" : "");
}

std::string describe(const CublasLtApi &api, const char *call, cublasStatus_t status) {
  const char *text = api.cublasLtGetStatusString(status);
  return callName(call) + " failed: " + (text ? text : "cuBLAS status " + std::to_string(status));
}

std::string describe(const CudnnApi &api, const char *call, cudnnStatus_t status) {
  const char *text = api.cudnnGetErrorString(status);
  return callName(call) + " failed: " + (text ? text : "cuDNN status " + std::to_string(status));
}

} // namespace nnrt::cuda
