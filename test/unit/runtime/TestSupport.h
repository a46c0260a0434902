// Helpers shared by the runtime tests: building plans by hand, the test kernel library, scratch
// files, random data, and naive reference loops for GEMM and convolution.
#pragma once

#include "proto/plan.pb.h"
#include "runtime/FileIO.h"
#include "runtime/HostTensor.h"
#include "runtime/device/Device.h"
#include "support/Checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

namespace nnrt::test {

inline nnc::Slice makeSlice(int64_t offset, int64_t size) {
  nnc::Slice slice;
  slice.set_offset(offset);
  slice.set_size(size);
  return slice;
}

inline nnc::TensorType makeType(nnc::DType dtype, const Shape &shape) {
  nnc::TensorType type;
  type.set_dtype(dtype);
  for (int64_t d : shape)
    type.add_shape(d);
  return type;
}

/// A tensor at `offset` whose slice size follows from its type.
inline nnc::TensorSlice makeTensor(const std::string &name, const Shape &shape, int64_t offset,
                                   nnc::DType dtype = nnc::F32) {
  nnc::TensorSlice tensor;
  tensor.set_name(name);
  *tensor.mutable_type() = makeType(dtype, shape);
  *tensor.mutable_slice() = makeSlice(offset, byteSize(dtype, shape));
  return tensor;
}

/// Appends a Gemm command named `node`: c (m x n) = a (m x k) @ b, b (n x k) if transposeB.
inline nnc::Gemm *addGemm(nnc::Function *function, const std::string &node, nnc::Slice a,
                          nnc::Slice b, nnc::Slice c, int64_t m, int64_t n, int64_t k,
                          bool transposeB = false) {
  nnc::Command *command = function->add_commands();
  command->set_node(node);
  nnc::Gemm *gemm = command->mutable_gemm();
  *gemm->mutable_a() = a;
  *gemm->mutable_b() = b;
  *gemm->mutable_c() = c;
  gemm->set_m(m);
  gemm->set_n(n);
  gemm->set_k(k);
  gemm->set_transpose_b(transposeB);
  return gemm;
}

/// An empty, valid plan of the current version.
inline nnc::Plan makePlan(int64_t arenaBytes) {
  nnc::Plan plan;
  plan.set_version(nnc::PLAN_VERSION_CURRENT);
  plan.set_arena_bytes(arenaBytes);
  plan.set_seed(42);
  plan.mutable_metadata()->set_target_cpu("test");
  return plan;
}

/// The bytes of `plan` as nnc writes them: checksum set, deterministic serialization.
inline std::string planBytes(nnc::Plan plan) {
  plan.set_checksum(nnc::planChecksum(plan));
  return nnc::serializeDeterministic(plan);
}

/// The bytes of the test kernel library (kernels/TestKernels.c): nnrt_test_add8(a, b, c) and
/// nnrt_test_double8(x, y), each on 8 floats, and nnrt_test_mse_sgd (trainPlan's update).
inline std::string testKernelLibrary() {
  auto bytes = readFile(NNRT_TEST_KERNELS);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? *bytes : std::string();
}

/// Least squares trained by SGD, as a compiler would lay it out: parameter w (4,1), features x
/// (2,4) f32, labels y (2) i64, the learning rate, loss = mean((x @ w - y)^2). Arena (bytes):
///   0 w (16)   16 x (32)   48 y (16)   64 nnc.learning_rate (4)   68 pred (8)   76 w_new (16)
///   92 loss (4)                                                                    total 96
/// train_step: Gemm pred = x @ w; kernel nnrt_test_mse_sgd (loss, w_new); Copy w_new -> w; and a
/// Copy of the loss over the learning rate's slice, as the compiler may reuse a dead input's
/// slice: a caller that fed the learning rate only once would train with the loss as its rate.
/// "predict" (input x, output pred) names the features; "init" writes w = kTrainInitialW.
inline const std::vector<float> kTrainInitialW = {0.5f, -0.25f, 0.125f, 1.0f};

inline nnc::Plan trainPlan() {
  nnc::Plan plan = makePlan(96);
  plan.set_kernel_library(testKernelLibrary());
  plan.mutable_metadata()->set_target_cpu("x86-64");
  *plan.add_parameters() = makeTensor("w", {4, 1}, 0);

  nnc::Function *init = plan.add_functions();
  init->set_name("init");
  nnc::Command *writeW = init->add_commands();
  writeW->set_node("w");
  *writeW->mutable_write_bytes()->mutable_slice() = makeSlice(0, 16);
  writeW->mutable_write_bytes()->set_data(
      std::string(reinterpret_cast<const char *>(kTrainInitialW.data()), 16));

  auto addFc = [](nnc::Function *function) {
    addGemm(function, "fc", makeSlice(16, 32), makeSlice(0, 16), makeSlice(68, 8), 2, 1, 4);
  };
  nnc::Function *step = plan.add_functions();
  step->set_name("train_step");
  *step->add_inputs() = makeTensor("x", {2, 4}, 16);
  *step->add_inputs() = makeTensor("y", {2}, 48, nnc::I64);
  *step->add_inputs() = makeTensor("nnc.learning_rate", {}, 64);
  *step->add_outputs() = makeTensor("loss", {}, 92);
  addFc(step);
  nnc::Command *sgd = step->add_commands();
  sgd->set_node("sgd");
  sgd->mutable_kernel()->set_symbol("nnrt_test_mse_sgd");
  for (auto [offset, size] : {std::pair{68, 8}, {16, 32}, {48, 16}, {64, 4}, {0, 16}, {76, 16},
                              {92, 4}})
    *sgd->mutable_kernel()->add_args() = makeSlice(offset, size);
  nnc::Command *update = step->add_commands();
  update->set_node("w.update");
  *update->mutable_copy()->mutable_src() = makeSlice(76, 16);
  *update->mutable_copy()->mutable_dst() = makeSlice(0, 16);
  nnc::Command *reuse = step->add_commands();
  reuse->set_node("reuse");
  *reuse->mutable_copy()->mutable_src() = makeSlice(92, 4);
  *reuse->mutable_copy()->mutable_dst() = makeSlice(64, 4);

  nnc::Function *predict = plan.add_functions();
  predict->set_name("predict");
  *predict->add_inputs() = makeTensor("x", {2, 4}, 16);
  *predict->add_outputs() = makeTensor("pred", {2, 1}, 68);
  addFc(predict);
  return plan;
}

/// trainPlan's training by definition, in double: batch i mod N of x (N*2, 4) and y (N*2) at
/// step i. Returns the loss of each step; `w` (4) is updated in place.
inline std::vector<double> referenceTraining(const std::vector<float> &x,
                                             const std::vector<int64_t> &y, int64_t steps,
                                             double learningRate, std::vector<double> &w) {
  std::vector<double> losses;
  int64_t batches = int64_t(y.size()) / 2;
  for (int64_t step = 0; step < steps; ++step) {
    int64_t b = step % batches;
    double loss = 0, grad[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < 2; ++i) {
      const float *row = &x[size_t((b * 2 + i) * 4)];
      double e = -double(y[size_t(b * 2 + i)]);
      for (int j = 0; j < 4; ++j)
        e += double(row[j]) * w[size_t(j)];
      loss += e * e / 2;
      for (int j = 0; j < 4; ++j)
        grad[j] += e * row[j];
    }
    for (int j = 0; j < 4; ++j)
      w[size_t(j)] -= learningRate * grad[j];
    losses.push_back(loss);
  }
  return losses;
}

/// A fresh directory for this test's files.
inline std::filesystem::path scratchDir() {
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  std::replace(name.begin(), name.end(), '/', '_');
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "nnrt-tests" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::vector<float> randomFloats(size_t count, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float &v : values)
    v = uniform(generator);
  return values;
}

/// GEMM by definition, accumulating in double.
inline std::vector<float> referenceGemm(const GemmDesc &d, const std::vector<float> &a,
                                        const std::vector<float> &b,
                                        const std::vector<float> &bias) {
  std::vector<float> c(size_t(d.batch * d.m * d.n));
  for (int64_t p = 0; p < d.batch; ++p) {
    const float *bp = b.data() + (d.broadcastB ? 0 : p * d.k * d.n);
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.n; ++j) {
        double sum = d.hasBias ? bias[j] : 0.0;
        for (int64_t l = 0; l < d.k; ++l)
          sum += double(a[(p * d.m + i) * d.k + l]) *
                 bp[d.transposeB ? j * d.k + l : l * d.n + j];
        if (d.postOp == PostOp::Relu)
          sum = std::max(sum, 0.0);
        c[(p * d.m + i) * d.n + j] = float(sum);
      }
  }
  return c;
}

/// nn.conv2d by definition (NCHW, symmetric padding, PyTorch dilation), accumulating in double.
inline std::vector<float> referenceConv2d(const Conv2dDesc &d, const std::vector<float> &input,
                                          const std::vector<float> &weight,
                                          const std::vector<float> &bias) {
  auto [n, c, h, w] = d.input;
  auto [o, cg, kh, kw] = d.weight;
  int64_t oh = d.output[2], ow = d.output[3], og = o / d.groups;
  std::vector<float> out(size_t(n * o * oh * ow));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          double sum = d.hasBias ? bias[oc] : 0.0;
          int64_t group = oc / og;
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                int64_t iy = y * d.stride[0] - d.padding[0] + ky * d.dilation[0];
                int64_t ix = x * d.stride[1] - d.padding[1] + kx * d.dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                  continue;
                sum += double(input[((b * c + group * cg + ic) * h + iy) * w + ix]) *
                       weight[((oc * cg + ic) * kh + ky) * kw + kx];
              }
          if (d.postOp == PostOp::Relu)
            sum = std::max(sum, 0.0);
          out[((b * o + oc) * oh + y) * ow + x] = float(sum);
        }
  return out;
}

/// PyTorch's output size for one spatial dimension.
inline int64_t convOutputSize(int64_t size, int64_t kernel, int64_t stride, int64_t padding,
                              int64_t dilation) {
  return (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

} // namespace nnrt::test
