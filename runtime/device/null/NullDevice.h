// The null driver: records every call in order and computes nothing, so tests can check what the
// executor asks of a device (which kernel, which slices, in which order) without running code.
// Its memory is real host memory, so copies in and out still round-trip.
#pragma once

#include "runtime/device/Device.h"

#include <deque>

namespace nnrt {

struct RecordedCall {
  enum class Kind {
    Allocate, Free, Copy, LoadKernelLibrary, Launch, Gemm, Conv2d, Synchronize,
    Attention // issue 23: pointers are the attention's operands
  };
  Kind kind;
  /// Launch: the kernel's symbol.
  std::string symbol;
  /// Launch: the args; Gemm/Conv2d: the four operands; Copy: {destination, source};
  /// Allocate/Free: {memory}.
  std::vector<const void *> pointers;
  /// Allocate, Copy: bytes; LoadKernelLibrary: the image's size.
  int64_t bytes = 0;
  /// Gemm/Conv2d: the descriptor the call was prepared with.
  GemmDesc gemm;
  Conv2dDesc conv2d;
};

class NullDevice final : public Device {
public:
  NullDevice() : Device("null") {}
  ~NullDevice() override;

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

  const std::vector<RecordedCall> &calls() const { return calls_; }
  void clearCalls() { calls_.clear(); }

private:
  friend class NullLibraryCall;
  std::vector<RecordedCall> calls_;
  std::vector<void *> live_; // allocations not yet freed, released by the destructor
  // Kernel handles point at these names; a deque never moves its elements.
  std::deque<std::string> kernelNames_;
};

} // namespace nnrt
