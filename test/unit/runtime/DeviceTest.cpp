// The device conformance suite (IREE's HAL CTS idea): one set of tests, instantiated for every
// registered driver. A driver lacking a capability skips with the reason; the null driver
// computes nothing, so it skips every numerical check.
#include "TestSupport.h"

#include "runtime/device/Drivers.h"

#include <cfloat>
#include <cmath>
#include <cstring>

namespace nnrt {
namespace {

class DeviceTest : public ::testing::TestWithParam<std::string_view> {
protected:
  void SetUp() override {
    auto created = createDevice(GetParam());
    // cpu and null always exist; cuda only where a GPU and its driver do.
    if (!created.ok() && GetParam() != "cpu" && GetParam() != "null")
      GTEST_SKIP() << created.status().message();
    ASSERT_TRUE(created.ok()) << created.status().message();
    device = std::move(*created);
  }
  void TearDown() override {
    for (void *memory : allocations)
      device->free(memory);
  }
  bool computes() const { return GetParam() != "null"; }
  /// The test kernel library is host code: only the cpu driver runs it (the cuda driver's PTX
  /// libraries have their own tests, CudaKernelsTest and CudaGpuTest).
  bool loadsElf() const { return GetParam() == "cpu"; }

  /// Device memory holding `values`.
  void *upload(const std::vector<float> &values) {
    auto memory = device->allocate(int64_t(values.size() * 4));
    EXPECT_TRUE(memory.ok()) << memory.status().message();
    allocations.push_back(*memory);
    EXPECT_TRUE(device->copy(*memory, values.data(), int64_t(values.size() * 4)).ok());
    return *memory;
  }
  /// Device memory holding `values` as bf16 (their upper halves: callers pass values that are
  /// bf16 already, see roundToBf16).
  void *uploadBf16(const std::vector<float> &values) {
    std::vector<uint16_t> halves(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &values[i], 4);
      halves[i] = uint16_t(bits >> 16);
    }
    auto memory = device->allocate(int64_t(values.size() * 2));
    EXPECT_TRUE(memory.ok()) << memory.status().message();
    allocations.push_back(*memory);
    EXPECT_TRUE(device->copy(*memory, halves.data(), int64_t(values.size() * 2)).ok());
    return *memory;
  }
  std::vector<float> download(const void *memory, size_t count) {
    std::vector<float> values(count);
    EXPECT_TRUE(device->synchronize().ok());
    EXPECT_TRUE(device->copy(values.data(), memory, int64_t(count * 4)).ok());
    return values;
  }

  std::unique_ptr<Device> device;
  std::vector<void *> allocations;
};

/// Element-wise |got - want| <= tolerance * (1 + |want|), reporting the worst element.
void expectClose(const std::vector<float> &got, const std::vector<float> &want, double tolerance,
                 const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t worst = 0;
  double worstExcess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    double excess = std::abs(double(got[i]) - want[i]) - tolerance * (1 + std::abs(want[i]));
    if (std::isnan(got[i]) || excess > worstExcess) {
      worstExcess = std::isnan(got[i]) ? INFINITY : excess;
      worst = i;
    }
  }
  EXPECT_LE(worstExcess, 0.0) << what << ": element " << worst << " is " << got[worst]
                              << ", want " << want[worst];
}

TEST_P(DeviceTest, AllocatesZeroedMemory) {
  auto memory = device->allocate(1 << 20);
  ASSERT_TRUE(memory.ok()) << memory.status().message();
  allocations.push_back(*memory);
  std::vector<uint8_t> bytes(1 << 20, 0xff);
  ASSERT_TRUE(device->copy(bytes.data(), *memory, int64_t(bytes.size())).ok());
  EXPECT_TRUE(std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; }));
}

TEST_P(DeviceTest, AllocatesZeroBytes) {
  auto memory = device->allocate(0);
  ASSERT_TRUE(memory.ok()) << memory.status().message();
  device->free(*memory);
}

TEST_P(DeviceTest, RefusesNegativeAllocation) {
  auto memory = device->allocate(-1);
  ASSERT_FALSE(memory.ok());
  EXPECT_NE(memory.status().message().find("cannot allocate"), std::string::npos);
}

TEST_P(DeviceTest, CopiesRoundTrip) {
  std::vector<float> values = test::randomFloats(1000, 1);
  EXPECT_EQ(download(upload(values), values.size()), values);
}

TEST_P(DeviceTest, LaunchesKernelFromLibraryImage) {
  if (!loadsElf())
    GTEST_SKIP() << GetParam() << " driver does not run ELF kernel libraries";
  auto library = device->loadKernelLibrary(test::testKernelLibrary(),
                                           {"nnrt_test_double8", "nnrt_test_add8"});
  ASSERT_TRUE(library.ok()) << library.status().message();
  std::vector<float> a = {1, 2, 3, 4, 5, 6, 7, 8}, b = {10, 20, 30, 40, 50, 60, 70, 80};
  std::vector<void *> args = {upload(a), upload(b), upload(std::vector<float>(8))};
  ASSERT_TRUE(device->launchKernel((*library)->kernel(1), args.data(), args.size()).ok());
  EXPECT_EQ(download(args[2], 8), (std::vector<float>{11, 22, 33, 44, 55, 66, 77, 88}));
  std::vector<void *> doubleArgs = {args[2], args[0]};
  ASSERT_TRUE(device->launchKernel((*library)->kernel(0), doubleArgs.data(), 2).ok());
  EXPECT_EQ(download(args[0], 8), (std::vector<float>{22, 44, 66, 88, 110, 132, 154, 176}));
}

TEST_P(DeviceTest, LoadsTwoLibrariesSideBySide) {
  if (!loadsElf())
    GTEST_SKIP() << GetParam() << " driver does not run ELF kernel libraries";
  // Two images loaded at once must stay distinct objects, each usable until destroyed.
  std::string image = test::testKernelLibrary();
  auto first = device->loadKernelLibrary(image, {"nnrt_test_add8"});
  auto second = device->loadKernelLibrary(image, {"nnrt_test_double8"});
  ASSERT_TRUE(first.ok() && second.ok());
  first->reset();
  std::vector<float> x = {1, 1, 1, 1, 1, 1, 1, 1};
  std::vector<void *> args = {upload(x), upload(std::vector<float>(8))};
  ASSERT_TRUE(device->launchKernel((*second)->kernel(0), args.data(), 2).ok());
  EXPECT_EQ(download(args[1], 8), std::vector<float>(8, 2.0f));
}

TEST_P(DeviceTest, RefusesMissingSymbol) {
  if (!loadsElf())
    GTEST_SKIP() << GetParam() << " driver does not run ELF kernel libraries";
  auto library = device->loadKernelLibrary(test::testKernelLibrary(), {"nnrt_test_add8", "nope"});
  ASSERT_FALSE(library.ok());
  EXPECT_EQ(library.status().message(), "the kernel library does not export 'nope'");
}

TEST_P(DeviceTest, RefusesNonElfLibrary) {
  if (!loadsElf())
    GTEST_SKIP() << GetParam() << " driver does not run ELF kernel libraries";
  auto library = device->loadKernelLibrary("this is not a shared object", {"f"});
  ASSERT_FALSE(library.ok());
  EXPECT_EQ(library.status().message(), "the kernel library is not an ELF shared object");
}

TEST_P(DeviceTest, RefusesCorruptElfLibrary) {
  if (!loadsElf())
    GTEST_SKIP() << GetParam() << " driver does not run ELF kernel libraries";
  std::string image = test::testKernelLibrary();
  image.resize(200); // an ELF header whose segments and sections are gone
  auto library = device->loadKernelLibrary(image, {"nnrt_test_add8"});
  ASSERT_FALSE(library.ok());
  // Checked before dlopen, which would map past the end of the image.
  EXPECT_EQ(library.status().message(),
            "the kernel library's program headers lie outside its 200 bytes");
}

// Tolerance: inputs are uniform in [-1, 1], so a dot product of k terms carries rounding error
// of about sqrt(k) * FLT_EPSILON * (typical |c| ~ sqrt(k)); oneDNN sums in a different order
// (and with FMA) than the double-precision reference. At k <= 300 that is ~1e-5; 1e-4 relative
// leaves a wide margin while still catching a wrong layout, which is off by O(1).
constexpr double kLibraryTolerance = 1e-4;

/// Values in a 4-D tensor of this shape.
size_t elementsOf(const std::array<int64_t, 4> &shape) {
  return size_t(shape[0] * shape[1] * shape[2] * shape[3]);
}

struct GemmCase {
  const char *name;
  GemmDesc desc;
};

TEST_P(DeviceTest, GemmMatchesReference) {
  if (!computes())
    GTEST_SKIP() << GetParam() << " driver computes nothing";
  auto gemm = [](int64_t batch, int64_t m, int64_t n, int64_t k, bool transposeB,
                 bool broadcastB, bool hasBias, PostOp postOp) {
    return GemmDesc{batch, m, n, k, transposeB, broadcastB, hasBias, postOp};
  };
  const GemmCase cases[] = {
      {"plain", gemm(1, 5, 7, 3, false, false, false, PostOp::None)},
      {"transpose_b+bias", gemm(1, 4, 6, 9, true, false, true, PostOp::None)},
      {"bias+relu", gemm(1, 8, 5, 4, false, false, true, PostOp::Relu)},
      {"batched", gemm(3, 4, 5, 6, false, false, false, PostOp::None)},
      {"batched transpose_b", gemm(2, 3, 4, 5, true, false, true, PostOp::None)},
      {"broadcast_b", gemm(3, 4, 5, 6, false, true, false, PostOp::None)},
      {"linear over (B,T,C)", gemm(2, 7, 10, 12, true, true, true, PostOp::Relu)},
      {"mlp-sized", gemm(1, 64, 96, 300, true, false, true, PostOp::Relu)},
  };
  uint32_t seed = 0;
  for (const GemmCase &c : cases) {
    const GemmDesc &d = c.desc;
    std::vector<float> a = test::randomFloats(size_t(d.batch * d.m * d.k), ++seed);
    std::vector<float> b =
        test::randomFloats(size_t((d.broadcastB ? 1 : d.batch) * d.k * d.n), ++seed);
    std::vector<float> bias = test::randomFloats(size_t(d.n), ++seed);
    auto call = device->prepareGemm(d);
    ASSERT_TRUE(call.ok()) << c.name << ": " << call.status().message();
    LibraryOperands operands = {upload(a), upload(b), d.hasBias ? upload(bias) : nullptr,
                                upload(std::vector<float>(size_t(d.batch * d.m * d.n)))};
    ASSERT_TRUE((*call)->run(operands).ok()) << c.name;
    // Running the same prepared call again must give the same result (primitives are reused).
    ASSERT_TRUE((*call)->run(operands).ok()) << c.name;
    expectClose(download(operands[3], size_t(d.batch * d.m * d.n)),
                test::referenceGemm(d, a, b, bias), kLibraryTolerance, c.name);
  }
}

// A fused relu keeps NaN, as PyTorch's relu: NaN in a row of a makes that row of c NaN, and
// negative sums give +0 (oneDNN's own relu post-op turned NaN into 0).
TEST_P(DeviceTest, ReluPostOpKeepsNaN) {
  if (!computes())
    GTEST_SKIP() << GetParam() << " driver computes nothing";
  GemmDesc d{1, 3, 8, 4, false, false, false, PostOp::Relu};
  std::vector<float> a = {NAN, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1};
  std::vector<float> b(size_t(d.k * d.n), 0.5f);
  auto call = device->prepareGemm(d);
  ASSERT_TRUE(call.ok()) << call.status().message();
  LibraryOperands operands = {upload(a), upload(b), nullptr,
                              upload(std::vector<float>(size_t(d.m * d.n)))};
  ASSERT_TRUE((*call)->run(operands).ok());
  std::vector<float> c = download(operands[3], size_t(d.m * d.n));
  for (int64_t j = 0; j < d.n; ++j) {
    EXPECT_TRUE(std::isnan(c[j])) << "row 0 (NaN), column " << j << ": " << c[j];
    EXPECT_EQ(c[d.n + j], 2.0f) << "row 1, column " << j;
    EXPECT_EQ(c[2 * d.n + j], 0.0f) << "row 2, column " << j;
    EXPECT_FALSE(std::signbit(c[2 * d.n + j])) << "row 2 (negative sums), column " << j;
  }
}

/// The elements a matrix operand of a strided Gemm spans: its furthest element + 1.
int64_t stridedExtent(const std::vector<int64_t> &dims, const std::vector<int64_t> &strides) {
  int64_t last = 0;
  for (size_t i = 0; i < dims.size(); ++i)
    last += (dims[i] - 1) * strides[i];
  return last + 1;
}

/// A strided Gemm by definition, accumulating in double: c (extent of its strides) with every
/// (batch..., i, j) element written.
std::vector<float> referenceStridedGemm(const GemmDesc &d, const std::vector<float> &a,
                                        const std::vector<float> &b) {
  size_t rank = d.batchDims.size() + 2;
  std::vector<int64_t> cDims = d.batchDims;
  cDims.insert(cDims.end(), {d.m, d.n});
  std::vector<float> c(size_t(stridedExtent(cDims, d.cStrides)));
  for (int64_t p = 0; p < d.batch; ++p) {
    // The offsets of batch p (row-major over batchDims) in each operand.
    int64_t rest = p, aAt = 0, bAt = 0, cAt = 0;
    for (size_t i = rank - 2; i-- > 0;) {
      int64_t index = rest % d.batchDims[i];
      rest /= d.batchDims[i];
      aAt += index * d.aStrides[i];
      bAt += index * d.bStrides[i];
      cAt += index * d.cStrides[i];
    }
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.n; ++j) {
        double sum = 0;
        for (int64_t l = 0; l < d.k; ++l)
          sum += double(a[aAt + i * d.aStrides[rank - 2] + l * d.aStrides[rank - 1]]) *
                 b[bAt + l * d.bStrides[rank - 2] + j * d.bStrides[rank - 1]];
        c[cAt + i * d.cStrides[rank - 2] + j * d.cStrides[rank - 1]] = float(sum);
      }
  }
  return c;
}

TEST_P(DeviceTest, StridedGemmMatchesReference) {
  if (!computes())
    GTEST_SKIP() << GetParam() << " driver computes nothing";
  auto strided = [](std::vector<int64_t> batchDims, int64_t m, int64_t n, int64_t k,
                    std::vector<int64_t> aStrides, std::vector<int64_t> bStrides,
                    std::vector<int64_t> cStrides) {
    GemmDesc d{1, m, n, k};
    for (int64_t dim : batchDims)
      d.batch *= dim;
    d.batchDims = std::move(batchDims);
    d.aStrides = std::move(aStrides);
    d.bStrides = std::move(bStrides);
    d.cStrides = std::move(cStrides);
    return d;
  };
  // Attention with B 2, T 4, H 3, D 5: q, k, v and the heads' output stored (B, T, H, D),
  // strides (60, 15, 5, 1), read or written as (B, H, T, D), strides (60, 5, 15, 1).
  const GemmCase cases[] = {
      // g^T x: a (m 5, k 3) stored (3, 5).
      {"transposed a", strided({}, 5, 7, 3, {1, 5}, {7, 1}, {7, 1})},
      // s = q k^T: q as (B, H, T, D), k as (B, H, D, T); s (B, H, T, T) row-major.
      {"attention scores", strided({2, 3}, 4, 4, 5, {60, 5, 15, 1}, {60, 5, 1, 15},
                                   {48, 16, 4, 1})},
      // y = s v, written as (B, T, H, D): the heads merged without a transpose.
      {"head merge", strided({2, 3}, 4, 5, 4, {48, 16, 4, 1}, {60, 5, 15, 1}, {60, 5, 15, 1})},
      // x W^T over (B, T, C): one W (n 6, k 5) for every batch, batch stride 0.
      {"broadcast b", strided({3}, 4, 6, 5, {20, 5, 1}, {0, 1, 5}, {24, 6, 1})},
  };
  if (GetParam() == "cuda") { // nnc folds transposes into Gemms for CPU plans only
    auto call = device->prepareGemm(cases[0].desc);
    ASSERT_FALSE(call.ok());
    EXPECT_NE(call.status().message().find("no strided Gemm"), std::string::npos);
    GTEST_SKIP() << call.status().message();
  }
  uint32_t seed = 50;
  for (const GemmCase &c : cases) {
    const GemmDesc &d = c.desc;
    auto extent = [&](int64_t rows, int64_t cols, const std::vector<int64_t> &strides) {
      std::vector<int64_t> dims = d.batchDims;
      dims.insert(dims.end(), {rows, cols});
      return size_t(stridedExtent(dims, strides));
    };
    std::vector<float> a = test::randomFloats(extent(d.m, d.k, d.aStrides), ++seed);
    std::vector<float> b = test::randomFloats(extent(d.k, d.n, d.bStrides), ++seed);
    size_t cSize = extent(d.m, d.n, d.cStrides);
    auto call = device->prepareGemm(d);
    ASSERT_TRUE(call.ok()) << c.name << ": " << call.status().message();
    LibraryOperands operands = {upload(a), upload(b), nullptr, upload(std::vector<float>(cSize))};
    ASSERT_TRUE((*call)->run(operands).ok()) << c.name;
    expectClose(download(operands[3], cSize), referenceStridedGemm(d, a, b), kLibraryTolerance,
                c.name);
  }
}

struct ConvCase {
  const char *name;
  std::array<int64_t, 4> input; // N, C, H, W
  int64_t outChannels;
  std::array<int64_t, 2> kernel, stride, padding, dilation;
  int64_t groups;
  bool hasBias;
  PostOp postOp;
};

TEST_P(DeviceTest, Conv2dMatchesReference) {
  if (!computes())
    GTEST_SKIP() << GetParam() << " driver computes nothing";
  const ConvCase cases[] = {
      {"3x3 same", {2, 3, 8, 8}, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, true, PostOp::None},
      {"stride 2 relu", {1, 3, 9, 9}, 5, {3, 3}, {2, 2}, {0, 0}, {1, 1}, 1, false, PostOp::Relu},
      {"groups 2", {2, 4, 6, 6}, 6, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 2, true, PostOp::None},
      {"dilation 2", {1, 2, 10, 10}, 3, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, true, PostOp::Relu},
      {"depthwise", {2, 4, 7, 7}, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 4, true, PostOp::None},
      {"mixed per axis", {1, 2, 7, 5}, 3, {3, 2}, {2, 1}, {1, 0}, {1, 2}, 1, true, PostOp::None},
      {"1x1", {3, 8, 4, 4}, 16, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, false, PostOp::None},
  };
  uint32_t seed = 100;
  for (const ConvCase &c : cases) {
    Conv2dDesc d;
    d.input = c.input;
    d.weight = {c.outChannels, c.input[1] / c.groups, c.kernel[0], c.kernel[1]};
    d.output = {c.input[0], c.outChannels,
                test::convOutputSize(c.input[2], c.kernel[0], c.stride[0], c.padding[0],
                                     c.dilation[0]),
                test::convOutputSize(c.input[3], c.kernel[1], c.stride[1], c.padding[1],
                                     c.dilation[1])};
    d.stride = c.stride;
    d.padding = c.padding;
    d.dilation = c.dilation;
    d.groups = c.groups;
    d.hasBias = c.hasBias;
    d.postOp = c.postOp;
    std::vector<float> input = test::randomFloats(elementsOf(d.input), ++seed);
    std::vector<float> weight = test::randomFloats(elementsOf(d.weight), ++seed);
    std::vector<float> bias = test::randomFloats(size_t(c.outChannels), ++seed);
    auto call = device->prepareConv2d(d);
    ASSERT_TRUE(call.ok()) << c.name << ": " << call.status().message();
    LibraryOperands operands = {upload(input), upload(weight), d.hasBias ? upload(bias) : nullptr,
                                upload(std::vector<float>(elementsOf(d.output)))};
    ASSERT_TRUE((*call)->run(operands).ok()) << c.name;
    expectClose(download(operands[3], elementsOf(d.output)),
                test::referenceConv2d(d, input, weight, bias), kLibraryTolerance, c.name);
  }
}

/// dL/dbias: `gradOutput` (N, O, OH, OW) summed over N, OH and OW, in double.
std::vector<float> referenceBiasGradient(const std::vector<float> &gradOutput,
                                         const std::array<int64_t, 4> &output) {
  std::vector<double> sums(size_t(output[1]), 0.0);
  int64_t plane = output[2] * output[3];
  for (size_t i = 0; i < gradOutput.size(); ++i)
    sums[(int64_t(i) / plane) % output[1]] += gradOutput[i];
  return std::vector<float>(sums.begin(), sums.end());
}

TEST_P(DeviceTest, Conv2dBackwardWeightsSumsTheBiasGradient) {
  if (!computes() || GetParam() == std::string("cuda"))
    GTEST_SKIP() << GetParam() << ": nnc folds bias gradients into CPU plans only";
  // dL/dbias = dL/doutput summed over (N, OH, OW), in the same call as dL/dweight, which must
  // not change with it.
  Conv2dDesc d;
  d.input = {3, 4, 9, 7};
  d.weight = {6, 2, 3, 2};
  d.stride = {2, 1};
  d.padding = {1, 0};
  d.groups = 2;
  d.output = {3, 6, test::convOutputSize(9, 3, 2, 1, 1), test::convOutputSize(7, 2, 1, 0, 1)};
  d.pass = ConvPass::BackwardWeights;
  std::vector<float> input = test::randomFloats(elementsOf(d.input), 7);
  std::vector<float> gradOutput = test::randomFloats(elementsOf(d.output), 8);
  std::vector<float> expectedBias = referenceBiasGradient(gradOutput, d.output);
  auto weightGrad = [&](bool withBias) {
    d.hasBias = withBias;
    auto call = device->prepareConv2d(d);
    EXPECT_TRUE(call.ok()) << call.status().message();
    LibraryOperands operands = {upload(input), upload(std::vector<float>(elementsOf(d.weight))),
                                withBias ? upload(std::vector<float>(expectedBias.size(), 9.0f))
                                         : nullptr,
                                upload(gradOutput)};
    EXPECT_TRUE(call.ok() && (*call)->run(operands).ok());
    if (withBias)
      expectClose(download(operands[2], expectedBias.size()), expectedBias, kLibraryTolerance,
                  "bias gradient");
    return download(operands[1], elementsOf(d.weight));
  };
  std::vector<float> alone = weightGrad(false);
  expectClose(weightGrad(true), alone, kLibraryTolerance, "weight gradient beside the bias's");
}

/// `values` truncated to bf16 (the upper 16 bits of each float).
std::vector<float> roundToBf16(std::vector<float> values) {
  for (float &v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    bits &= 0xffff0000u;
    std::memcpy(&v, &bits, 4);
  }
  return values;
}

TEST_P(DeviceTest, Conv2dBackwardWeightsSumsABf16BiasGradientInF32) {
  if (!computes() || GetParam() == std::string("cuda"))
    GTEST_SKIP() << GetParam() << ": nnc folds bias gradients into CPU plans only";
  // bf16 operands, dL/dbias written in f32: the sum of the bf16 gradients over (N, OH, OW), as
  // the f32 reduction of mixed precision computes it (a bf16 result would keep 3 digits).
  Conv2dDesc d;
  d.type = FloatType::BF16;
  d.input = {4, 16, 8, 8};
  d.weight = {32, 16, 3, 3};
  d.padding = {1, 1};
  d.output = {4, 32, 8, 8};
  d.pass = ConvPass::BackwardWeights;
  d.hasBias = true;
  std::vector<float> input = roundToBf16(test::randomFloats(elementsOf(d.input), 21));
  std::vector<float> gradOutput = roundToBf16(test::randomFloats(elementsOf(d.output), 22));
  std::vector<float> expectedBias = referenceBiasGradient(gradOutput, d.output);
  auto call = device->prepareConv2d(d);
  ASSERT_TRUE(call.ok()) << call.status().message();
  LibraryOperands operands = {uploadBf16(input),
                              uploadBf16(std::vector<float>(elementsOf(d.weight))),
                              upload(std::vector<float>(expectedBias.size(), 9.0f)),
                              uploadBf16(gradOutput)};
  ASSERT_TRUE((*call)->run(operands).ok());
  // 256 terms of magnitude <= 1 summed in f32: 1e-5 of slack.
  expectClose(download(operands[2], expectedBias.size()), expectedBias, 1e-5, "bias gradient");
}

TEST_P(DeviceTest, Conv2dCallsWithOneKeyConvertTheirInputOnce) {
  if (!computes() || GetParam() == std::string("cuda"))
    GTEST_SKIP() << GetParam() << ": only the CPU driver shares conversions";
  // A forward and a weight-gradient call that read the same input under one key: the second
  // uses the layout copy the first made when it ran. Changing the input between the two runs
  // shows it (the contract is that it does not change: nnc keys only one tensor, unchanged
  // between its readers); without the key the second call converts the new values itself.
  Conv2dDesc forward;
  forward.input = {2, 16, 6, 6};
  forward.weight = {16, 16, 3, 3};
  forward.output = {2, 16, 4, 4};
  Conv2dDesc weightGrad = forward;
  weightGrad.pass = ConvPass::BackwardWeights;
  std::vector<float> first = test::randomFloats(elementsOf(forward.input), 11);
  std::vector<float> second = test::randomFloats(elementsOf(forward.input), 12);
  std::vector<float> gradOutput = test::randomFloats(elementsOf(forward.output), 13);
  std::vector<float> weight = test::randomFloats(elementsOf(forward.weight), 14);
  auto weightGradient = [&](int64_t key, const std::vector<float> &forwardInput,
                            const std::vector<float> &readAfterForward) {
    forward.inputKey = weightGrad.inputKey = key;
    auto forwardCall = device->prepareConv2d(forward);
    auto weightCall = device->prepareConv2d(weightGrad);
    EXPECT_TRUE(forwardCall.ok() && weightCall.ok());
    void *input = upload(forwardInput);
    LibraryOperands forwardOperands = {input, upload(weight), nullptr,
                                       upload(std::vector<float>(elementsOf(forward.output)))};
    EXPECT_TRUE((*forwardCall)->run(forwardOperands).ok());
    std::vector<float> changed = readAfterForward;
    std::memcpy(input, changed.data(), changed.size() * sizeof(float));
    LibraryOperands weightOperands = {input, upload(std::vector<float>(elementsOf(forward.weight))),
                                      nullptr, upload(gradOutput)};
    EXPECT_TRUE((*weightCall)->run(weightOperands).ok());
    return download(weightOperands[1], elementsOf(forward.weight));
  };
  std::vector<float> fromFirst = weightGradient(0, first, first);
  std::vector<float> fromSecond = weightGradient(0, second, second);
  ASSERT_GT(std::abs(fromFirst[0] - fromSecond[0]), 1e-3) << "the inputs should differ";
  // Keyed: the weight gradient is of the input the forward call converted.
  expectClose(weightGradient(7, first, second), fromFirst, kLibraryTolerance, "shared copy");
  // The same key after those calls are gone: the new forward call owns (and writes) the copy.
  expectClose(weightGradient(7, second, first), fromSecond, kLibraryTolerance, "new owner");
}

TEST_P(DeviceTest, RefusesInconsistentConv2d) {
  if (!computes())
    GTEST_SKIP() << GetParam() << " driver accepts any descriptor";
  // The plan loader refuses this before a device sees it; a driver must still fail cleanly.
  Conv2dDesc d;
  d.input = {1, 3, 8, 8};
  d.weight = {4, 3, 3, 3};
  d.output = {1, 4, 99, 99};
  auto call = device->prepareConv2d(d);
  EXPECT_FALSE(call.ok());
}

INSTANTIATE_TEST_SUITE_P(Drivers, DeviceTest, ::testing::ValuesIn(driverNames()),
                         [](const auto &info) { return std::string(info.param); });

TEST(DriversTest, UnknownDriverIsRefused) {
  auto device = createDevice("tpu");
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().message(), "unknown device 'tpu' (available: cpu, null, cuda)");
}

} // namespace
} // namespace nnrt
