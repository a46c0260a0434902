// The cpu driver. Arena memory comes from mmap, not malloc: it is zeroed lazily by the kernel
// (no memset touching every page of a large arena) and an impossible size fails with ENOMEM at
// allocation instead of the OOM killer ending the process later.
//
// A kernel whose work splits into row shares (CpuKernel::part) runs one share per thread of
// OpenMP's pool, the pool oneDNN parallelizes GEMM/convolution with: one pool, so the two never
// compete for the cores. libgomp's default wait policy spins for a while, then sleeps: fast on
// idle cores, but when other processes take them a step can become many times slower, which is
// why the README asks for OMP_WAIT_POLICY=PASSIVE on shared machines (and the tests run so).
// Other kernels run on the calling thread.
//
// Subnormal floats are flushed to zero (FTZ, and DAZ for inputs) on every thread that computes,
// as XLA and TensorFlow do: x86 handles them in a microcode assist of about a hundred cycles per
// operation, and training makes them (an AdamW moment of a unit whose gradient stays zero decays
// geometrically): with them, the MLP's update loops took four times as long.
#include "runtime/device/cpu/CpuDevice.h"

#include "runtime/device/cpu/CausalAttention.h"
#include "runtime/device/cpu/SharedObject.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <omp.h>
#include <sys/mman.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace nnrt {
namespace {

void flushDenormals() {
#if defined(__x86_64__)
  constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x40;
  _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero);
#endif
}

} // namespace

CpuDevice::CpuDevice() : Device("cpu") {
  // The pool's threads take the creating thread's setting when they start; the parallel region
  // sets it on threads that already run.
  flushDenormals();
#pragma omp parallel
  flushDenormals();
}

CpuDevice::~CpuDevice() {
  for (auto [memory, length] : regions_)
    munmap(memory, length);
}

nnc::StatusOr<void *> CpuDevice::allocate(int64_t bytes) {
  if (bytes < 0)
    return nnc::Status::error("cannot allocate " + std::to_string(bytes) + " bytes");
  if (bytes == 0)
    return nullptr;
  void *memory = mmap(nullptr, static_cast<size_t>(bytes), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    return nnc::Status::error("cannot allocate " + std::to_string(bytes) + " bytes: " +
                              std::strerror(errno));
  regions_.emplace_back(memory, static_cast<size_t>(bytes));
  return memory;
}

void CpuDevice::free(void *memory) {
  auto it = std::find_if(regions_.begin(), regions_.end(),
                         [&](const auto &region) { return region.first == memory; });
  if (it == regions_.end())
    return;
  munmap(it->first, it->second);
  regions_.erase(it);
}

nnc::Status CpuDevice::copy(void *destination, const void *source, int64_t bytes) {
  if (bytes > 0)
    std::memcpy(destination, source, static_cast<size_t>(bytes));
  return nnc::Status();
}

nnc::StatusOr<std::unique_ptr<KernelLibrary>>
CpuDevice::loadKernelLibrary(std::string_view image, const std::vector<std::string> &symbols) {
  return loadSharedObject(image, symbols);
}

nnc::Status CpuDevice::launchKernel(void *kernel, void **args, size_t count) {
  const auto &k = *static_cast<const CpuKernel *>(kernel);
  if (!k.part) {
    k.entry(args);
    return nnc::Status();
  }
  // A splittable kernel always runs as shares, one share on one thread: the same code on every
  // row, so its results do not depend on the threads (issue 23's adaptive threads switch
  // between all and one).
  int threads = omp_get_max_threads();
  if (threads <= 1) {
    k.part(args, 0, 1);
    return nnc::Status();
  }
#pragma omp parallel num_threads(threads)
  k.part(args, omp_get_thread_num(), omp_get_num_threads());
  return nnc::Status();
}

nnc::Status CpuDevice::initOneDnn() {
  if (oneDnn_)
    return nnc::Status();
  nnc::StatusOr<OneDnnContextPtr> context = createOneDnnContext();
  if (!context.ok())
    return context.status();
  oneDnn_ = std::move(*context);
  return nnc::Status();
}

nnc::StatusOr<std::unique_ptr<LibraryCall>> CpuDevice::prepareGemm(const GemmDesc &desc) {
  if (nnc::Status status = initOneDnn(); !status.ok())
    return status;
  return prepareOneDnnGemm(*oneDnn_, desc);
}

nnc::StatusOr<std::unique_ptr<LibraryCall>> CpuDevice::prepareConv2d(const Conv2dDesc &desc) {
  if (nnc::Status status = initOneDnn(); !status.ok())
    return status;
  return prepareOneDnnConv2d(*oneDnn_, desc);
}

// Everything on this device completes before its call returns.
nnc::Status CpuDevice::synchronize() { return nnc::Status(); }

// Issue 23: the fused attention runs its own loops on OpenMP's pool (no oneDNN primitive).
nnc::StatusOr<std::unique_ptr<AttentionCall>> CpuDevice::prepareAttention(const AttentionDesc &desc) {
  return makeCpuAttention(desc);
}

} // namespace nnrt
