// The cpu driver: the arena is host memory, kernels from the plan's shared object run on the
// calling thread or, split into row shares, on OpenMP's threads; GEMM and convolution go to
// oneDNN (which uses the same OpenMP thread pool).
#pragma once

#include "runtime/device/Device.h"
#include "runtime/device/cpu/OneDnn.h"

namespace nnrt {

class CpuDevice final : public Device {
public:
  CpuDevice();
  ~CpuDevice() override;

  nnc::StatusOr<void *> allocate(int64_t bytes) override;
  void free(void *memory) override;
  nnc::Status copy(void *destination, const void *source, int64_t bytes) override;
  nnc::StatusOr<std::unique_ptr<KernelLibrary>>
  loadKernelLibrary(std::string_view image, const std::vector<std::string> &symbols) override;
  nnc::Status launchKernel(void *kernel, void **args, size_t count) override;
  nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareGemm(const GemmDesc &desc) override;
  nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareConv2d(const Conv2dDesc &desc) override;
  nnc::Status synchronize() override;
  nnc::StatusOr<std::unique_ptr<AttentionCall>> prepareAttention(const AttentionDesc &desc) override;

private:
  // Created on first use: a plan without library calls never starts oneDNN.
  OneDnnContextPtr oneDnn_;
  nnc::Status initOneDnn();
  // mmap'ed regions and their lengths, for munmap.
  std::vector<std::pair<void *, size_t>> regions_;
};

} // namespace nnrt
