// The cpu driver's floating-point setup: creating the device flushes subnormal floats, results
// to zero (FTZ) and inputs read as zero (DAZ), on the calling thread and on the OpenMP threads
// that run kernels' row shares and oneDNN (a subnormal costs x86 a microcode assist per
// operation). The numerics the driver computes are covered by DeviceTest.
#include "runtime/device/cpu/CpuDevice.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <omp.h>
#include <vector>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace nnrt {
namespace {

#if defined(__x86_64__)
constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x40;

/// What this thread's SSE arithmetic does with subnormals.
struct Flushing {
  bool results = false; // FTZ: 1e-38f * 1e-3f (about 1e-41, subnormal) comes out +0
  bool inputs = false;  // DAZ: the smallest subnormal (bits 0x00000001) compares equal to 0
};

Flushing probe() {
  volatile float tiny = 1e-38f, scale = 1e-3f; // volatile: computed here, not folded
  float product = tiny * scale;
  // The bits, not `product == 0`: under DAZ alone a subnormal product would compare equal too.
  uint32_t productBits;
  std::memcpy(&productBits, &product, sizeof product);
  uint32_t smallestBits = 1;
  float smallest;
  std::memcpy(&smallest, &smallestBits, sizeof smallest);
  volatile float subnormal = smallest;
  return {productBits == 0, subnormal == 0.0f};
}

/// probe() on the calling thread (first) and on each thread of a parallel region of `threads`.
std::vector<Flushing> probeAllThreads(int threads) {
  std::vector<Flushing> seen(1 + threads);
  seen[0] = probe();
#pragma omp parallel num_threads(threads)
  seen[1 + omp_get_thread_num()] = probe();
  return seen;
}

/// Sets MXCSR to `csr` on the calling thread and on each thread of a parallel region.
void setAllThreads(unsigned csr, int threads) {
  _mm_setcsr(csr);
#pragma omp parallel num_threads(threads)
  _mm_setcsr(csr);
}
#endif

TEST(CpuDeviceTest, FlushesSubnormalsOnEveryThread) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "FTZ/DAZ are MXCSR bits: x86-64 only";
#else
  int threads = omp_get_max_threads();
  // The test clears FTZ/DAZ on every thread first and puts the calling thread's MXCSR back on
  // every thread at the end. The other tests in this binary need neither setting: those that
  // create cpu devices (DeviceTest, ExecutorTest, TrainLoopTest) leave flushing on, as nnrun does.
  unsigned saved = _mm_getcsr();
  setAllThreads(saved & ~(kFlushToZero | kDenormalsAreZero), threads);
  // Without the device's setting the probe sees subnormals, so the checks below can fail.
  for (const Flushing &thread : probeAllThreads(threads)) {
    EXPECT_FALSE(thread.results);
    EXPECT_FALSE(thread.inputs);
  }

  CpuDevice device;
  std::vector<Flushing> seen = probeAllThreads(threads);
  for (size_t i = 0; i < seen.size(); ++i) {
    const char *who = i == 0 ? "calling thread" : "OpenMP thread";
    EXPECT_TRUE(seen[i].results) << who << " " << i << ": a subnormal product is not flushed";
    EXPECT_TRUE(seen[i].inputs) << who << " " << i << ": a subnormal input is not read as 0";
  }
  // A larger team starts new threads, from the calling thread, whose setting they inherit.
  for (const Flushing &thread : probeAllThreads(threads + 2)) {
    EXPECT_TRUE(thread.results);
    EXPECT_TRUE(thread.inputs);
  }
  setAllThreads(saved, threads + 2);
#endif
}

} // namespace
} // namespace nnrt
