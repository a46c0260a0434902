// The null driver's recording. Memory is calloc'ed host memory; everything else only appends a
// RecordedCall.
#include "runtime/device/null/NullDevice.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace nnrt {
namespace {

class NullKernelLibrary final : public KernelLibrary {
public:
  explicit NullKernelLibrary(std::vector<void *> handles) : handles_(std::move(handles)) {}
  void *kernel(size_t i) const override { return handles_[i]; }

private:
  std::vector<void *> handles_;
};

} // namespace

class NullLibraryCall final : public LibraryCall {
public:
  NullLibraryCall(NullDevice &device, RecordedCall call) : device_(device), call_(std::move(call)) {}
  nnc::Status run(const LibraryOperands &operands) override {
    RecordedCall call = call_;
    call.pointers.assign(operands.begin(), operands.end());
    device_.calls_.push_back(std::move(call));
    return nnc::Status();
  }

private:
  NullDevice &device_;
  RecordedCall call_;
};

NullDevice::~NullDevice() {
  for (void *memory : live_)
    std::free(memory);
}

nnc::StatusOr<void *> NullDevice::allocate(int64_t bytes) {
  if (bytes < 0)
    return nnc::Status::error("cannot allocate " + std::to_string(bytes) + " bytes");
  void *memory = bytes == 0 ? nullptr : std::calloc(1, static_cast<size_t>(bytes));
  if (bytes > 0 && !memory)
    return nnc::Status::error("out of memory allocating " + std::to_string(bytes) + " bytes");
  if (memory)
    live_.push_back(memory);
  calls_.push_back({RecordedCall::Kind::Allocate, "", {memory}, bytes, {}, {}});
  return memory;
}

void NullDevice::free(void *memory) {
  calls_.push_back({RecordedCall::Kind::Free, "", {memory}, 0, {}, {}});
  auto it = std::find(live_.begin(), live_.end(), memory);
  if (it != live_.end()) {
    std::free(memory);
    live_.erase(it);
  }
}

nnc::Status NullDevice::copy(void *destination, const void *source, int64_t bytes) {
  calls_.push_back({RecordedCall::Kind::Copy, "", {destination, source}, bytes, {}, {}});
  if (bytes > 0)
    std::memcpy(destination, source, static_cast<size_t>(bytes));
  return nnc::Status();
}

nnc::StatusOr<std::unique_ptr<KernelLibrary>>
NullDevice::loadKernelLibrary(std::string_view image, const std::vector<std::string> &symbols) {
  calls_.push_back({RecordedCall::Kind::LoadKernelLibrary, "", {}, int64_t(image.size()), {}, {}});
  // The null driver cannot look inside the image, so it trusts the plan: every symbol resolves,
  // to a handle that lets launches record the symbol's name.
  std::vector<void *> handles;
  for (const std::string &symbol : symbols)
    handles.push_back(&kernelNames_.emplace_back(symbol));
  return std::unique_ptr<KernelLibrary>(std::make_unique<NullKernelLibrary>(std::move(handles)));
}

nnc::Status NullDevice::launchKernel(void *kernel, void **args, size_t count) {
  RecordedCall call{RecordedCall::Kind::Launch, *static_cast<std::string *>(kernel), {}, 0, {}, {}};
  call.pointers.assign(args, args + count);
  calls_.push_back(std::move(call));
  return nnc::Status();
}

nnc::StatusOr<std::unique_ptr<LibraryCall>> NullDevice::prepareGemm(const GemmDesc &desc) {
  RecordedCall call{RecordedCall::Kind::Gemm, "", {}, 0, desc, {}};
  return std::unique_ptr<LibraryCall>(std::make_unique<NullLibraryCall>(*this, std::move(call)));
}

nnc::StatusOr<std::unique_ptr<LibraryCall>> NullDevice::prepareConv2d(const Conv2dDesc &desc) {
  RecordedCall call{RecordedCall::Kind::Conv2d, "", {}, 0, {}, desc};
  return std::unique_ptr<LibraryCall>(std::make_unique<NullLibraryCall>(*this, std::move(call)));
}

namespace {
/// Issue 23: records each run of a fused attention with its operands.
class NullAttentionCall final : public AttentionCall {
public:
  explicit NullAttentionCall(std::vector<RecordedCall> &calls) : calls_(calls) {}
  nnc::Status run(const AttentionOperands &operands) override {
    RecordedCall call{RecordedCall::Kind::Attention, "", {}, 0, {}, {}};
    call.pointers.assign(operands.begin(), operands.end());
    calls_.push_back(std::move(call));
    return nnc::Status();
  }

private:
  std::vector<RecordedCall> &calls_;
};
} // namespace

nnc::StatusOr<std::unique_ptr<AttentionCall>> NullDevice::prepareAttention(const AttentionDesc &) {
  return std::unique_ptr<AttentionCall>(std::make_unique<NullAttentionCall>(calls_));
}

nnc::Status NullDevice::synchronize() {
  calls_.push_back({RecordedCall::Kind::Synchronize, "", {}, 0, {}, {}});
  return nnc::Status();
}

} // namespace nnrt
