// The cuda driver. Without a GPU (CI), only what it says: the clear "not available" error from
// createDevice and from nnrun. With one, its memory, a PTX kernel launch, and its Gemm and Conv2d
// against the cpu driver's results; those tests skip, naming the reason, where CUDA is missing.
#include "runtime/device/Drivers.h"
#include "runtime/FileIO.h"

#include "TestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <sys/wait.h>

namespace nnrt {
namespace {

bool libcudaPresent() {
  void *handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle)
    dlclose(handle);
  return handle != nullptr;
}

TEST(CudaDeviceTest, UnavailableWithoutLibcuda) {
  if (libcudaPresent())
    GTEST_SKIP() << "libcuda.so.1 is present on this machine";
  nnc::StatusOr<std::unique_ptr<Device>> device = createDevice("cuda");
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().message(), "CUDA is not available: libcuda.so.1 not found");
}

TEST(CudaDeviceTest, NnrunSaysCudaIsUnavailable) {
  if (libcudaPresent())
    GTEST_SKIP() << "libcuda.so.1 is present on this machine";
  std::filesystem::path dir = test::scratchDir();
  std::string planPath = dir / "model.plan", errPath = dir / "stderr.txt";
  ASSERT_TRUE(writeFile(planPath, test::planBytes(test::makePlan(64))).ok());
  std::string command =
      std::string(NNRUN_BINARY) + " '" + planPath + "' --device cuda 2>'" + errPath + "'";
  int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  auto text = readFile(errPath);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "nnrun: error: --device: CUDA is not available: libcuda.so.1 not found\n");
}

/// A cuda device, or skip the test saying why there is none.
class CudaGpuTest : public ::testing::Test {
protected:
  void SetUp() override {
    nnc::StatusOr<std::unique_ptr<Device>> created = createDevice("cuda");
    if (!created.ok())
      GTEST_SKIP() << created.status().message();
    device = std::move(*created);
  }
  void TearDown() override {
    if (device && arena)
      device->free(arena);
  }
  void *allocate(int64_t bytes) {
    nnc::StatusOr<void *> memory = device->allocate(bytes);
    EXPECT_TRUE(memory.ok()) << memory.status().message();
    arena = memory.ok() ? *memory : nullptr;
    return arena;
  }
  void put(int64_t offset, const std::vector<float> &values) {
    ASSERT_TRUE(device->copy(static_cast<char *>(arena) + offset, values.data(),
                             int64_t(values.size() * 4))
                    .ok());
  }
  std::vector<float> get(int64_t offset, size_t count) {
    std::vector<float> values(count);
    EXPECT_TRUE(device->copy(values.data(), static_cast<char *>(arena) + offset, int64_t(count * 4))
                    .ok());
    EXPECT_TRUE(device->synchronize().ok());
    return values;
  }
  void *at(int64_t offset) { return static_cast<char *>(arena) + offset; }

  std::unique_ptr<Device> device;
  void *arena = nullptr;
};

/// Normwise relative error max|x - y| / max|y|.
double relError(const std::vector<float> &x, const std::vector<float> &y) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(double(x[i]) - y[i]));
    scale = std::max(scale, std::abs(double(y[i])));
  }
  return diff / scale;
}

TEST_F(CudaGpuTest, ArenaIsZeroedAndCopiesRoundTrip) {
  ASSERT_TRUE(allocate(1 << 20));
  std::vector<float> zeros = get(0, 1024);
  EXPECT_EQ(zeros, std::vector<float>(1024, 0.0f));
  std::vector<float> values = test::randomFloats(256, 1);
  put(4096, values);
  // A device-to-device copy, as a plan's Copy command.
  ASSERT_TRUE(device->copy(at(8192), at(4096), 1024).ok());
  EXPECT_EQ(get(8192, 256), values);
}

// A hand-written PTX kernel: y[i] = x[i] + x[i] for the 8 threads of one block.
constexpr const char *kDoublePtx = R"(.version 8.0
.target sm_90
.address_size 64
.visible .entry double8(.param .u64 double8_x, .param .u64 double8_y)
{
  .reg .b32 %r<2>;
  .reg .b64 %rd<6>;
  .reg .f32 %f<3>;
  ld.param.u64 %rd1, [double8_x];
  ld.param.u64 %rd2, [double8_y];
  cvta.to.global.u64 %rd1, %rd1;
  cvta.to.global.u64 %rd2, %rd2;
  mov.u32 %r1, %tid.x;
  mul.wide.u32 %rd3, %r1, 4;
  add.s64 %rd4, %rd1, %rd3;
  add.s64 %rd5, %rd2, %rd3;
  ld.global.f32 %f1, [%rd4];
  add.f32 %f2, %f1, %f1;
  st.global.f32 [%rd5], %f2;
  ret;
}
)";

TEST_F(CudaGpuTest, LaunchesPtxWithRecordedDims) {
  ASSERT_TRUE(allocate(128));
  nnc::CudaKernelLibrary library;
  library.set_ptx(kDoublePtx);
  library.set_arch("sm_90");
  nnc::CudaKernel *kernel = library.add_kernels();
  kernel->set_symbol("nnc_double8");
  nnc::CudaLaunch *launch = kernel->add_launches();
  launch->set_function("double8");
  for (uint32_t v : {1u, 1u, 1u})
    launch->add_grid(v);
  for (uint32_t v : {8u, 1u, 1u})
    launch->add_block(v);
  // Parameters in the kernel's order, arguments in the call's: (x, y) = (args[1], args[0]).
  launch->add_args(1);
  launch->add_args(0);
  auto loaded = device->loadKernelLibrary(nnc::serializeDeterministic(library), {"nnc_double8"});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  std::vector<float> x = test::randomFloats(8, 2);
  put(0, x);
  void *args[] = {at(64), at(0)};
  ASSERT_TRUE(device->launchKernel((*loaded)->kernel(0), args, 2).ok());
  std::vector<float> y = get(64, 8);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(y[i], x[i] + x[i]) << i;
}

TEST_F(CudaGpuTest, GemmMatchesReference) {
  struct Case {
    int64_t batch, m, n, k;
    bool transposeB, broadcastB, bias;
    PostOp postOp;
  };
  const Case cases[] = {
      {1, 128, 256, 784, true, false, true, PostOp::Relu}, // a linear layer with its epilogue
      {1, 7, 5, 3, false, false, false, PostOp::None},
      {1, 33, 10, 256, true, false, true, PostOp::None},
      {4, 16, 24, 8, false, false, false, PostOp::None}, // batched (attention scores)
      {3, 5, 6, 7, true, true, false, PostOp::Relu},
  };
  for (const Case &c : cases) {
    GemmDesc d;
    d.batch = c.batch, d.m = c.m, d.n = c.n, d.k = c.k;
    d.transposeB = c.transposeB, d.broadcastB = c.broadcastB, d.hasBias = c.bias;
    d.postOp = c.postOp;
    std::vector<float> a = test::randomFloats(size_t(d.batch * d.m * d.k), 3);
    std::vector<float> b = test::randomFloats(size_t((d.broadcastB ? 1 : d.batch) * d.k * d.n), 4);
    std::vector<float> bias = test::randomFloats(size_t(d.n), 5);
    // Slices 64-byte aligned as the compiler places them.
    auto round = [](int64_t bytes) { return (bytes + 63) / 64 * 64; };
    int64_t aAt = 0, bAt = round(int64_t(a.size()) * 4), biasAt = bAt + round(int64_t(b.size()) * 4);
    int64_t cAt = biasAt + round(int64_t(bias.size()) * 4);
    int64_t total = cAt + d.batch * d.m * d.n * 4;
    if (arena)
      device->free(arena);
    ASSERT_TRUE(allocate(total));
    put(aAt, a);
    put(bAt, b);
    put(biasAt, bias);
    auto call = device->prepareGemm(d);
    ASSERT_TRUE(call.ok()) << call.status().message();
    ASSERT_TRUE((*call)->run({at(aAt), at(bAt), d.hasBias ? at(biasAt) : nullptr, at(cAt)}).ok());
    std::vector<float> c_ = get(cAt, size_t(d.batch * d.m * d.n));
    // fp32 products accumulated in fp32 (cuBLASLt, no TF32) against a double reference: the
    // error grows like k * 2^-24; 1e-5 covers k = 784.
    EXPECT_LT(relError(c_, test::referenceGemm(d, a, b, bias)), 1e-5)
        << "batch " << d.batch << " m " << d.m << " n " << d.n << " k " << d.k;
  }
}

TEST_F(CudaGpuTest, Conv2dMatchesCpu) {
  nnc::StatusOr<std::unique_ptr<Device>> cpu = createDevice("cpu");
  ASSERT_TRUE(cpu.ok());
  Conv2dDesc forward;
  forward.input = {4, 6, 12, 10};
  forward.weight = {8, 3, 3, 3};
  forward.groups = 2;
  forward.stride = {2, 1};
  forward.padding = {1, 2};
  forward.dilation = {1, 2};
  forward.output = {4, 8, test::convOutputSize(12, 3, 2, 1, 1),
                    test::convOutputSize(10, 3, 1, 2, 2)};
  for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
    Conv2dDesc d = forward;
    d.pass = pass;
    d.hasBias = pass == ConvPass::Forward;
    d.postOp = pass == ConvPass::Forward ? PostOp::Relu : PostOp::None;
    auto count = [](const std::array<int64_t, 4> &s) { return size_t(s[0] * s[1] * s[2] * s[3]); };
    std::vector<float> input = test::randomFloats(count(d.input), 6);
    std::vector<float> weight = test::randomFloats(count(d.weight), 7);
    std::vector<float> bias = test::randomFloats(size_t(d.output[1]), 8);
    std::vector<float> output = test::randomFloats(count(d.output), 9);
    // The same operands on both devices; the pass overwrites one of them.
    auto runOn = [&](Device &dev, std::vector<float> &resultOut) -> nnc::Status {
      int64_t sizes[] = {int64_t(input.size()), int64_t(weight.size()), int64_t(bias.size()),
                         int64_t(output.size())};
      int64_t offsets[4], total = 0;
      for (int i = 0; i < 4; ++i) {
        offsets[i] = total;
        total += (sizes[i] * 4 + 63) / 64 * 64;
      }
      nnc::StatusOr<void *> memory = dev.allocate(total);
      if (!memory.ok())
        return memory.status();
      char *base = static_cast<char *>(*memory);
      const std::vector<float> *data[] = {&input, &weight, &bias, &output};
      for (int i = 0; i < 4; ++i)
        if (nnc::Status s = dev.copy(base + offsets[i], data[i]->data(), sizes[i] * 4); !s.ok())
          return s;
      auto call = dev.prepareConv2d(d);
      if (!call.ok())
        return call.status();
      LibraryOperands operands = {base + offsets[0], base + offsets[1],
                                  d.hasBias ? base + offsets[2] : nullptr, base + offsets[3]};
      if (nnc::Status s = (*call)->run(operands); !s.ok())
        return s;
      int which = pass == ConvPass::BackwardData ? 0 : pass == ConvPass::BackwardWeights ? 1 : 3;
      resultOut.resize(size_t(sizes[which]));
      nnc::Status s = dev.copy(resultOut.data(), base + offsets[which], sizes[which] * 4);
      if (s.ok())
        s = dev.synchronize();
      dev.free(*memory);
      return s;
    };
    std::vector<float> onGpu, onCpu;
    nnc::Status gpuStatus = runOn(*device, onGpu);
    ASSERT_TRUE(gpuStatus.ok()) << gpuStatus.message();
    nnc::Status cpuStatus = runOn(**cpu, onCpu);
    ASSERT_TRUE(cpuStatus.ok()) << cpuStatus.message();
    // Both accumulate fp32 in different orders over at most 4 * 5 * 9 = 180 terms.
    EXPECT_LT(relError(onGpu, onCpu), 1e-5) << "pass " << int(pass);
  }
}

} // namespace
} // namespace nnrt
