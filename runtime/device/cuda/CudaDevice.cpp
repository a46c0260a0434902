// The cuda driver: device setup, memory, copies, PTX modules and kernel launches. Library calls
// are in CudaLibraries.cpp.
//
// Copies use cuMemcpyAsync on the device's stream with unified addressing, so one call serves
// host-to-device, device-to-host and the plan's device-to-device Copy commands, ordered with the
// launches around them. A copy from pageable host memory returns once the source has been read
// and one to it completes before returning, so the executor's host buffers are safe to reuse.
#include "runtime/device/cuda/CudaDevice.h"

#include "runtime/device/cuda/CudaContext.h"
#include "runtime/device/cuda/CudaKernels.h"

#include <algorithm>

namespace nnrt {
namespace cuda {

nnc::Status Context::makeCurrent() const {
  NNRT_CUDA_CHECK(*driver, cuCtxSetCurrent(context));
  return nnc::Status();
}

Context::~Context() {
  if (!driver)
    return;
  if (context)
    driver->cuCtxSetCurrent(context);
  if (cudnnHandle)
    cudnn->cudnnDestroy(cudnnHandle);
  if (cublasLtHandle)
    cublasLt->cublasLtDestroy(cublasLtHandle);
  if (cublasLtWorkspace)
    driver->cuMemFree(cublasLtWorkspace);
  if (stream)
    driver->cuStreamDestroy(stream);
  if (context)
    driver->cuDevicePrimaryCtxRelease(device);
}

namespace {

/// A loaded PTX module and, per requested symbol, its launches with their functions resolved.
class CudaKernelLibrary final : public KernelLibrary {
public:
  struct Launch {
    LaunchSpec spec;
    CUfunction function = nullptr;
  };
  struct Kernel {
    std::string symbol;
    std::vector<Launch> launches;
  };

  CudaKernelLibrary(const Context &context) : context_(context) {}
  ~CudaKernelLibrary() override {
    if (module_) {
      context_.driver->cuCtxSetCurrent(context_.context);
      context_.driver->cuModuleUnload(module_);
    }
  }
  void *kernel(size_t i) const override { return const_cast<Kernel *>(&kernels_[i]); }

  nnc::Status load(const ParsedLibrary &parsed) {
    const DriverApi &api = *context_.driver;
    if (!parsed.ptx.empty()) {
      // The JIT's own messages say which line of the PTX it rejected.
      char errorLog[8192] = {0};
      CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
      void *values[] = {errorLog, reinterpret_cast<void *>(sizeof errorLog)};
      CUresult result = api.cuModuleLoadDataEx(&module_, parsed.ptx.c_str(), 2, options, values);
      if (result != CUDA_SUCCESS)
        return nnc::Status::error(describe(api, "cuModuleLoadDataEx", result) +
                                  " loading the plan's PTX for " + parsed.arch + " on " +
                                  context_.deviceName + (errorLog[0] ? ": " : "") + errorLog);
    }
    for (const KernelSpec &spec : parsed.kernels) {
      Kernel &kernel = kernels_.emplace_back();
      kernel.symbol = spec.symbol;
      for (const LaunchSpec &launchSpec : spec.launches) {
        Launch &launch = kernel.launches.emplace_back();
        launch.spec = launchSpec;
        CUresult result =
            api.cuModuleGetFunction(&launch.function, module_, launchSpec.function.c_str());
        if (result != CUDA_SUCCESS)
          return nnc::Status::error("kernel '" + spec.symbol + "': " +
                                    describe(api, "cuModuleGetFunction", result) + " for '" +
                                    launchSpec.function + "'");
      }
    }
    return nnc::Status();
  }

private:
  const Context &context_;
  CUmodule module_ = nullptr;
  std::vector<Kernel> kernels_;
};

class CudaDevice final : public Device {
public:
  explicit CudaDevice(std::unique_ptr<Context> context)
      : Device("cuda"), context_(std::move(context)) {}
  ~CudaDevice() override {
    (void)context_->makeCurrent(); // best effort: nothing to report to
    for (CUdeviceptr memory : allocations_)
      context_->driver->cuMemFree(memory);
  }

  nnc::StatusOr<void *> allocate(int64_t bytes) override {
    if (bytes < 0)
      return nnc::Status::error("cannot allocate " + std::to_string(bytes) + " bytes");
    if (bytes == 0)
      return nullptr;
    if (nnc::Status s = context_->makeCurrent(); !s.ok())
      return s;
    const DriverApi &api = *context_->driver;
    CUdeviceptr memory = 0;
    CUresult result = api.cuMemAlloc(&memory, static_cast<size_t>(bytes));
    if (result != CUDA_SUCCESS)
      return nnc::Status::error(describe(api, "cuMemAlloc", result) + " allocating " +
                                std::to_string(bytes) + " bytes on " + context_->deviceName);
    allocations_.push_back(memory);
    // The contract: zeroed memory.
    NNRT_CUDA_CHECK(api, cuMemsetD8Async(memory, 0, static_cast<size_t>(bytes), context_->stream));
    NNRT_CUDA_CHECK(api, cuStreamSynchronize(context_->stream));
    return reinterpret_cast<void *>(memory);
  }

  void free(void *memory) override {
    auto it = std::find(allocations_.begin(), allocations_.end(),
                        reinterpret_cast<CUdeviceptr>(memory));
    if (it == allocations_.end())
      return;
    (void)context_->makeCurrent(); // best effort: nothing to report to
    context_->driver->cuStreamSynchronize(context_->stream);
    context_->driver->cuMemFree(*it);
    allocations_.erase(it);
  }

  nnc::Status copy(void *destination, const void *source, int64_t bytes) override {
    if (bytes <= 0)
      return nnc::Status();
    if (nnc::Status s = context_->makeCurrent(); !s.ok())
      return s;
    NNRT_CUDA_CHECK(*context_->driver,
                    cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(destination),
                                  reinterpret_cast<CUdeviceptr>(source),
                                  static_cast<size_t>(bytes), context_->stream));
    return nnc::Status();
  }

  nnc::StatusOr<std::unique_ptr<KernelLibrary>>
  loadKernelLibrary(std::string_view image, const std::vector<std::string> &symbols) override {
    nnc::StatusOr<ParsedLibrary> parsed = parseKernelLibrary(image, symbols);
    if (!parsed.ok())
      return parsed.status();
    if (nnc::Status s = context_->makeCurrent(); !s.ok())
      return s;
    auto library = std::make_unique<CudaKernelLibrary>(*context_);
    if (nnc::Status s = library->load(*parsed); !s.ok())
      return s;
    return std::unique_ptr<KernelLibrary>(std::move(library));
  }

  nnc::Status launchKernel(void *kernel, void **args, size_t count) override {
    const auto &k = *static_cast<const CudaKernelLibrary::Kernel *>(kernel);
    const DriverApi &api = *context_->driver;
    for (const CudaKernelLibrary::Launch &launch : k.launches) {
      if (nnc::Status s = packLaunchParams(launch.spec, args, count, params_); !s.ok())
        return s;
      const LaunchSpec &spec = launch.spec;
      CUresult result = api.cuLaunchKernel(launch.function, spec.grid[0], spec.grid[1],
                                           spec.grid[2], spec.block[0], spec.block[1],
                                           spec.block[2], 0, context_->stream, params_.data(),
                                           nullptr);
      if (result != CUDA_SUCCESS)
        return nnc::Status::error(describe(api, "cuLaunchKernel", result) + " for '" +
                                  spec.function + "' of " + k.symbol);
    }
    return nnc::Status();
  }

  nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareGemm(const GemmDesc &desc) override {
    if (nnc::Status s = context_->makeCurrent(); !s.ok())
      return s;
    return prepareCublasLtGemm(*context_, desc);
  }

  nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareConv2d(const Conv2dDesc &desc) override {
    // nnc folds bias gradients into backward_weights for CPU plans only.
    if (desc.pass == ConvPass::BackwardWeights && desc.hasBias)
      return nnc::Status::error("the CUDA backward-weights convolution computes no bias "
                                "gradient (a CPU plan?)");
    if (nnc::Status s = context_->makeCurrent(); !s.ok())
      return s;
    return prepareCudnnConv2d(*context_, desc);
  }

  // Errors of kernels that ran asynchronously surface here, after the function's last command.
  nnc::Status synchronize() override {
    if (nnc::Status s = context_->makeCurrent(); !s.ok())
      return s;
    NNRT_CUDA_CHECK(*context_->driver, cuStreamSynchronize(context_->stream));
    return nnc::Status();
  }

private:
  std::unique_ptr<Context> context_;
  std::vector<CUdeviceptr> allocations_;
  std::vector<void *> params_; // launchKernel's scratch; commands run one at a time
};

} // namespace
} // namespace cuda

nnc::StatusOr<std::unique_ptr<Device>> createCudaDevice() {
  using namespace cuda;
  nnc::StatusOr<std::unique_ptr<DriverApi>> driver = loadDriverApi();
  if (!driver.ok())
    return driver.status();
  auto context = std::make_unique<Context>();
  context->driver = std::move(*driver);
  const DriverApi &api = *context->driver;
  if (CUresult result = api.cuInit(0); result != CUDA_SUCCESS)
    return nnc::Status::error("CUDA is not available: " + describe(api, "cuInit", result));
  int count = 0;
  NNRT_CUDA_CHECK(api, cuDeviceGetCount(&count));
  if (count == 0)
    return nnc::Status::error("CUDA is not available: the driver sees no GPU");
  NNRT_CUDA_CHECK(api, cuDeviceGet(&context->device, 0));
  char name[256] = {0};
  NNRT_CUDA_CHECK(api, cuDeviceGetName(name, sizeof name - 1, context->device));
  context->deviceName = name;
  NNRT_CUDA_CHECK(api, cuDevicePrimaryCtxRetain(&context->context, context->device));
  NNRT_CUDA_CHECK(api, cuCtxSetCurrent(context->context));
  NNRT_CUDA_CHECK(api, cuStreamCreate(&context->stream, CU_STREAM_NON_BLOCKING));
  return std::unique_ptr<Device>(std::make_unique<CudaDevice>(std::move(context)));
}

} // namespace nnrt
