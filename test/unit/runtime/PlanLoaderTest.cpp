// Plan loading: a serialized plan round-trips, and every way a plan file can be unusable is
// refused with its one-line message.
#include "TestSupport.h"

#include "runtime/CpuFeatures.h"
#include "runtime/PlanLoader.h"

#include <google/protobuf/util/message_differencer.h>

#include <functional>

namespace nnrt {
namespace {

using test::makeSlice;
using test::makeTensor;

/// A small valid plan: a linear layer's Gemm with its parameters and an init function.
nnc::Plan linearPlan() {
  nnc::Plan plan = test::makePlan(1024);
  plan.mutable_metadata()->set_target_cpu("znver4");
  plan.mutable_metadata()->add_cpu_features("sse2");
  *plan.add_parameters() = makeTensor("fc.weight", {4, 8}, 0);
  nnc::Function *init = plan.add_functions();
  init->set_name("init");
  nnc::InitParameter *ip = init->add_commands()->mutable_init_parameter();
  *ip->mutable_slice() = makeSlice(0, 128);
  *ip->mutable_type() = test::makeType(nnc::F32, {4, 8});
  ip->mutable_init()->set_kind(nnc::Initializer::KAIMING_UNIFORM);
  nnc::Function *predict = plan.add_functions();
  predict->set_name("predict");
  *predict->add_inputs() = makeTensor("x", {2, 8}, 128);
  *predict->add_outputs() = makeTensor("y", {2, 4}, 192);
  test::addGemm(predict, "fc", makeSlice(128, 64), makeSlice(0, 128), makeSlice(192, 32), 2, 4, 8,
                /*transposeB=*/true);
  return plan;
}

std::string parseError(const nnc::Plan &plan) {
  auto parsed = parsePlan(test::planBytes(plan));
  return parsed.ok() ? "(parsed)" : parsed.status().message();
}

TEST(PlanLoaderTest, RoundTrips) {
  nnc::Plan plan = linearPlan();
  plan.set_kernel_library(test::testKernelLibrary());
  plan.set_checksum(nnc::planChecksum(plan));
  std::filesystem::path path = test::scratchDir() / "model.plan";
  ASSERT_TRUE(writeFile(path, test::planBytes(plan)).ok());
  auto loaded = loadPlan(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(plan, *loaded));
  // Serialization is deterministic here, which the compiler's byte-identical plans rely on.
  EXPECT_EQ(loaded->SerializeAsString(), plan.SerializeAsString());
}

TEST(PlanLoaderTest, RefusesDamagedKernelLibrary) {
  nnc::Plan plan = linearPlan();
  plan.set_kernel_library(test::testKernelLibrary());
  std::string bytes = test::planBytes(plan);
  size_t at = bytes.find("\x7f" "ELF");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 100] ^= 0x40; // one flipped bit inside the code
  EXPECT_EQ(parsePlan(bytes).status().message(), "the plan is corrupt (checksum mismatch)");
}

TEST(PlanLoaderTest, RefusesUnreadableFile) {
  auto loaded = loadPlan("/nonexistent/model.plan");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            "/nonexistent/model.plan: cannot read: No such file or directory");
  auto directory = loadPlan(test::scratchDir());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("cannot read: Is a directory"), std::string::npos);
}

TEST(PlanLoaderTest, RefusesEmptyFile) {
  std::filesystem::path path = test::scratchDir() / "empty.plan";
  ASSERT_TRUE(writeFile(path, "").ok());
  auto loaded = loadPlan(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(), path.string() + ": empty file, not a plan");
}

TEST(PlanLoaderTest, RefusesTruncatedPlan) {
  nnc::Plan plan = linearPlan();
  plan.set_kernel_library(test::testKernelLibrary());
  std::string bytes = test::planBytes(plan);
  // Cut inside the kernel library's bytes: the length prefix promises more than there is.
  EXPECT_EQ(parsePlan(bytes.substr(0, bytes.size() / 2)).status().message(),
            "not a plan, or a truncated or corrupt one (protobuf parse failed)");
}

TEST(PlanLoaderTest, RefusesGarbage) {
  EXPECT_EQ(parsePlan("\x93NUMPY\x01\x00 this is an npy file").status().message(),
            "not a plan, or a truncated or corrupt one (protobuf parse failed)");
  // Bytes that happen to parse as a protobuf but carry no plan version.
  EXPECT_EQ(parsePlan(std::string("\x50\x01", 2)).status().message(),
            "not a plan (it has no plan version)");
}

TEST(PlanLoaderTest, RefusesOtherVersions) {
  nnc::Plan plan = linearPlan();
  plan.set_version(7);
  EXPECT_EQ(parseError(plan), "plan version 7 is not supported (this nnrun reads version 1)");
}

TEST(PlanLoaderTest, RefusesSlicesOutsideTheArena) {
  nnc::Plan plan = linearPlan();
  plan.mutable_parameters(0)->mutable_slice()->set_offset(1000);
  EXPECT_EQ(parseError(plan), "parameter 'fc.weight' [offset 1000, 128 bytes] lies outside the "
                              "arena (1024 bytes)");
  plan = linearPlan();
  plan.mutable_parameters(0)->mutable_slice()->set_offset(-4);
  EXPECT_EQ(parseError(plan), "parameter 'fc.weight' [offset -4, 128 bytes] lies outside the "
                              "arena (1024 bytes)");
  plan = linearPlan();
  plan.mutable_functions(1)->mutable_commands(0)->mutable_gemm()->mutable_b()->set_offset(
      INT64_MAX);
  EXPECT_EQ(parseError(plan), "function 'predict', node 'fc': operand b [offset "
                              "9223372036854775807, 128 bytes] lies outside the arena (1024 "
                              "bytes)");
  plan = linearPlan();
  nnc::KernelCall *kernel = plan.mutable_functions(1)->add_commands()->mutable_kernel();
  plan.set_kernel_library("\177ELF");
  kernel->set_symbol("f");
  *kernel->add_args() = makeSlice(1020, 8);
  EXPECT_EQ(parseError(plan), "function 'predict', command 1: argument 0 [offset 1020, 8 bytes] "
                              "lies outside the arena (1024 bytes)");
}

TEST(PlanLoaderTest, RefusesSlicesOfTheWrongSize) {
  nnc::Plan plan = linearPlan();
  plan.mutable_functions(1)->mutable_inputs(0)->mutable_slice()->set_size(60);
  EXPECT_EQ(parseError(plan), "function 'predict', input 'x' has 60 bytes, expected 64");
  plan = linearPlan();
  plan.mutable_functions(1)->mutable_commands(0)->mutable_gemm()->set_k(9);
  EXPECT_EQ(parseError(plan), "function 'predict', node 'fc': operand a has 64 bytes, expected 72");
  plan = linearPlan();
  *plan.mutable_functions(1)->mutable_commands(0)->mutable_gemm()->mutable_bias() =
      makeSlice(256, 8);
  EXPECT_EQ(parseError(plan), "function 'predict', node 'fc': bias has 8 bytes, expected 16");
}

TEST(PlanLoaderTest, RefusesMalformedCommands) {
  nnc::Plan plan = linearPlan();
  plan.mutable_functions(1)->mutable_commands(0)->mutable_gemm()->set_m(0);
  EXPECT_EQ(parseError(plan),
            "function 'predict', node 'fc': gemm needs positive sizes, got batch 1, m 0, n 4, k 8");
  plan = linearPlan();
  plan.mutable_functions(1)->add_commands()->set_node("mystery");
  EXPECT_EQ(parseError(plan),
            "function 'predict', node 'mystery': command of unknown kind (a newer plan format?)");
  plan = linearPlan();
  plan.mutable_functions(1)->add_commands()->mutable_kernel()->set_symbol("f");
  EXPECT_EQ(parseError(plan), "function 'predict', command 1: kernel 'f' but the plan has no "
                              "kernel library");
  plan = linearPlan();
  plan.mutable_functions(0)->mutable_commands(0)->mutable_init_parameter()->mutable_init()->set_kind(
      nnc::Initializer::KIND_UNSET);
  EXPECT_EQ(parseError(plan), "function 'init', command 0: unknown initializer kind 0");
  plan = linearPlan();
  plan.add_functions()->set_name("init");
  EXPECT_EQ(parseError(plan), "two functions named 'init'");
}

TEST(PlanLoaderTest, RefusesMalformedStridedGemms) {
  // linearPlan's y (2, 4) = x (2, 8) @ fc.weight^T as a strided Gemm: fc.weight (4, 8) read as
  // the (8, 4) matrix with strides (1, 8); edited by `edit`.
  auto withStrided = [](const std::function<void(nnc::Gemm &)> &edit) {
    nnc::Plan plan = linearPlan();
    nnc::Gemm &gemm = *plan.mutable_functions(1)->mutable_commands(0)->mutable_gemm();
    gemm.set_transpose_b(false);
    for (int64_t stride : {8, 1})
      gemm.add_a_strides(stride);
    for (int64_t stride : {1, 8})
      gemm.add_b_strides(stride);
    for (int64_t stride : {4, 1})
      gemm.add_c_strides(stride);
    edit(gemm);
    return parseError(plan);
  };
  const std::string prefix = "function 'predict', node 'fc': ";
  EXPECT_EQ(withStrided([](nnc::Gemm &) {}), "(parsed)");
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { g.add_c_strides(1); }),
            prefix + "strided gemm needs 2 strides for each of a, b and c (batch_dims + 2)");
  const std::string badStrides = prefix + "strided gemm needs positive batch_dims and positive "
                                          "strides (0 only for a batch dimension of b) that do "
                                          "not overflow";
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { g.set_b_strides(0, -1); }), badStrides);
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { g.set_a_strides(0, INT64_MAX); }), badStrides);
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { g.set_c_strides(0, 0); }), badStrides);
  const std::string notPlain = prefix + "strided gemm: batch must be the product of batch_dims, "
                                        "without transpose_b, broadcast_b or bias";
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { g.set_batch(2); }), notPlain);
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { g.set_transpose_b(true); }), notPlain);
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { *g.mutable_bias() = makeSlice(256, 16); }), notPlain);
  // Rows 16 apart: a's second row ends at element 24, past x's 16 floats.
  EXPECT_EQ(withStrided([](nnc::Gemm &g) { g.set_a_strides(0, 16); }),
            prefix + "operand a has 64 bytes, expected 96");
}

TEST(PlanLoaderTest, RefusesBadIndexLimits) {
  // linearPlan's input x is f32: a limit on it is refused; on an integer input it loads.
  auto withLimit = [](nnc::DType dtype, int64_t limit) {
    nnc::Plan plan = linearPlan();
    nnc::TensorSlice &x = *plan.mutable_functions(1)->mutable_inputs(0);
    x.mutable_type()->set_dtype(dtype);
    x.set_index_limit(limit);
    return parseError(plan);
  };
  EXPECT_EQ(withLimit(nnc::F32, 0), "(parsed)");
  EXPECT_EQ(withLimit(nnc::I32, 7), "(parsed)");
  EXPECT_EQ(withLimit(nnc::F32, 7), "function 'predict', input 'x' has index_limit 7 (a limit must "
                                    "be positive, on an integer input)");
  EXPECT_EQ(withLimit(nnc::I32, -1), "function 'predict', input 'x' has index_limit -1 (a limit "
                                     "must be positive, on an integer input)");
}

TEST(PlanLoaderTest, RefusesBadCopies) {
  auto withCopy = [](int64_t src, int64_t srcSize, int64_t dst, int64_t dstSize) {
    nnc::Plan plan = linearPlan();
    nnc::Command *command = plan.mutable_functions(1)->add_commands();
    command->set_node("fc.weight.update");
    *command->mutable_copy()->mutable_src() = makeSlice(src, srcSize);
    *command->mutable_copy()->mutable_dst() = makeSlice(dst, dstSize);
    return parseError(plan);
  };
  EXPECT_EQ(withCopy(256, 128, 0, 128), "(parsed)");
  EXPECT_EQ(withCopy(0, 128, 128, 128), "(parsed)"); // adjacent is not overlapping
  EXPECT_EQ(withCopy(0, 0, 0, 0), "(parsed)");       // nothing to copy, nothing to overlap
  EXPECT_EQ(withCopy(1000, 128, 0, 128),
            "function 'predict', node 'fc.weight.update': copy source [offset 1000, 128 bytes] "
            "lies outside the arena (1024 bytes)");
  EXPECT_EQ(withCopy(0, 128, -8, 128),
            "function 'predict', node 'fc.weight.update': copy destination [offset -8, 128 "
            "bytes] lies outside the arena (1024 bytes)");
  EXPECT_EQ(withCopy(256, 128, 0, 64), "function 'predict', node 'fc.weight.update': copy "
                                       "source has 128 bytes but its destination 64");
  EXPECT_EQ(withCopy(0, 128, 64, 128), "function 'predict', node 'fc.weight.update': copy "
                                       "source [offset 0] and destination [offset 64] of 128 "
                                       "bytes overlap");
  EXPECT_EQ(withCopy(64, 128, 0, 128), "function 'predict', node 'fc.weight.update': copy "
                                       "source [offset 64] and destination [offset 0] of 128 "
                                       "bytes overlap");
  EXPECT_EQ(withCopy(0, 128, 0, 128), "function 'predict', node 'fc.weight.update': copy "
                                      "source [offset 0] and destination [offset 0] of 128 "
                                      "bytes overlap");
}

TEST(PlanLoaderTest, RefusesBadAllReduces) {
  // predict gains collectives: each (sequence, is_start) in `order`, over x (128) -> y (192).
  auto withCollectives = [](std::vector<std::pair<int, bool>> order, int64_t resultBytes = 32,
                            nnc::DType dtype = nnc::F32, int64_t sourceBytes = 32) {
    nnc::Plan plan = linearPlan();
    for (auto [sequence, isStart] : order) {
      nnc::Command *command = plan.mutable_functions(1)->add_commands();
      command->set_node("all_reduce.bucket" + std::to_string(sequence));
      if (!isStart) {
        command->mutable_all_reduce_wait()->set_sequence(sequence);
        continue;
      }
      nnc::AllReduceStart *start = command->mutable_all_reduce_start();
      start->set_sequence(sequence);
      start->set_dtype(dtype);
      *start->add_sources() = makeSlice(192, sourceBytes);
      *start->add_results() = makeSlice(224, resultBytes);
    }
    return parseError(plan);
  };
  EXPECT_EQ(withCollectives({{0, true}, {1, true}, {0, false}, {1, false}}), "(parsed)");
  EXPECT_EQ(withCollectives({{1, true}, {1, false}}),
            "function 'predict', node 'all_reduce.bucket1': all-reduce 1 starts out of order "
            "(expected 0)");
  EXPECT_EQ(withCollectives({{0, true}, {1, true}, {1, false}, {0, false}}),
            "function 'predict', node 'all_reduce.bucket1': waits for all-reduce 1 out of order "
            "or before it starts");
  EXPECT_EQ(withCollectives({{0, false}}),
            "function 'predict', node 'all_reduce.bucket0': waits for all-reduce 0 out of order "
            "or before it starts");
  EXPECT_EQ(withCollectives({{0, true}, {1, true}, {0, false}}),
            "function 'predict', all-reduce 1 is never waited for");
  EXPECT_EQ(withCollectives({{0, true}, {0, false}}, 16),
            "function 'predict', node 'all_reduce.bucket0': all-reduce result 0 has 16 bytes, "
            "expected 32");
  EXPECT_EQ(withCollectives({{0, true}, {0, false}}, 32, nnc::BF16),
            "function 'predict', node 'all_reduce.bucket0': all-reduce of bf16 (only f32 is "
            "supported)");
  // The executor packs a bucket as whole values of the plan's dtype.
  EXPECT_EQ(withCollectives({{0, true}, {0, false}}, 30, nnc::F32, 30),
            "function 'predict', node 'all_reduce.bucket0': all-reduce source 0 is not whole f32 "
            "values");
}

/// A plan whose function `function` is one conv2d (node 'conv1') of a 1x3x8x8 input and a
/// 4x3x3x3 weight, to the output shape given, the slices one after another.
nnc::Conv2d *addConv(nnc::Plan &plan, const std::string &function,
                     std::initializer_list<int64_t> output) {
  nnc::Function *f = plan.add_functions();
  f->set_name(function);
  nnc::Command *command = f->add_commands();
  command->set_node("conv1");
  nnc::Conv2d *conv = command->mutable_conv2d();
  for (int64_t d : {1, 3, 8, 8})
    conv->add_input_shape(d);
  for (int64_t d : {4, 3, 3, 3})
    conv->add_weight_shape(d);
  int64_t outputBytes = 4;
  for (int64_t d : output) {
    conv->add_output_shape(d);
    outputBytes *= d;
  }
  *conv->mutable_input() = makeSlice(0, 768);
  *conv->mutable_weight() = makeSlice(768, 432);
  *conv->mutable_output() = makeSlice(1200, outputBytes);
  return conv;
}

TEST(PlanLoaderTest, RefusesConv2dWithWrongOutputShape) {
  nnc::Plan plan = test::makePlan(4096);
  nnc::Conv2d *conv = addConv(plan, "predict", {1, 4, 8, 8}); // padding 0 gives 6x6
  EXPECT_EQ(parseError(plan),
            "function 'predict', node 'conv1': conv2d output shape [1,4,8,8] should be [1,4,6,6]");
  conv->add_padding(1);
  conv->add_padding(1);
  EXPECT_EQ(parseError(plan), "(parsed)");
  conv->set_groups(2); // 3 channels do not split into 2 groups
  EXPECT_EQ(parseError(plan), "function 'predict', node 'conv1': conv2d weight 4,3,3,3 does not "
                              "fit 3 input channels in 2 groups");
}

TEST(PlanLoaderTest, RefusesConv2dBiasOrKeysThatItsPassCannotTake) {
  nnc::Plan plan = test::makePlan(4096);
  nnc::Conv2d *conv = addConv(plan, "train_step", {1, 4, 6, 6});
  *conv->mutable_bias() = makeSlice(1776, 16);
  conv->set_pass(nnc::CONV_PASS_BACKWARD_WEIGHTS); // writes dL/dbias at the bias slot
  conv->set_input_key(5);
  conv->set_output_key(9);
  EXPECT_EQ(parseError(plan), "(parsed)");
  conv->set_pass(nnc::CONV_PASS_BACKWARD_DATA);
  EXPECT_EQ(parseError(plan), "function 'train_step', node 'conv1': a backward_data conv2d takes "
                              "no bias");
  conv->set_pass(nnc::CONV_PASS_BACKWARD_WEIGHTS);
  conv->set_post_op(nnc::POST_OP_RELU);
  EXPECT_EQ(parseError(plan), "function 'train_step', node 'conv1': a backward conv2d pass takes "
                              "no post_op");
  conv->set_post_op(nnc::POST_OP_NONE);
  conv->set_output_key(-1);
  EXPECT_EQ(parseError(plan), "function 'train_step', node 'conv1': conv2d key -1 is outside "
                              "[0, 2^32)");
}

TEST(PlanLoaderTest, Conv2dBiasGradientIsF32WhateverTheDtype) {
  // A bf16 backward_weights pass writes dL/dbias in f32 (4 channels: 16 bytes); a forward
  // pass's bias has the operands' type (8 bytes).
  nnc::Plan plan = test::makePlan(4096);
  nnc::Conv2d *conv = addConv(plan, "train_step", {1, 4, 6, 6});
  conv->set_dtype(nnc::BF16);
  *conv->mutable_input() = makeSlice(0, 384);
  *conv->mutable_weight() = makeSlice(384, 216);
  *conv->mutable_output() = makeSlice(600, 288);
  conv->set_pass(nnc::CONV_PASS_BACKWARD_WEIGHTS);
  *conv->mutable_bias() = makeSlice(1024, 16);
  EXPECT_EQ(parseError(plan), "(parsed)");
  *conv->mutable_bias() = makeSlice(1024, 8);
  EXPECT_EQ(parseError(plan), "function 'train_step', node 'conv1': bias has 8 bytes, expected 16");
  conv->set_pass(nnc::CONV_PASS_FORWARD);
  EXPECT_EQ(parseError(plan), "(parsed)");
}

TEST(PlanLoaderTest, RefusesMissingCpuFeature) {
  std::string missing;
  for (std::string_view name : knownCpuFeatures())
    if (hostSupports(name) == FeatureSupport::Missing) {
      missing = name;
      break;
    }
  if (missing.empty())
    GTEST_SKIP() << "this machine has every feature the runtime knows";
  nnc::Plan plan = linearPlan();
  plan.mutable_metadata()->add_cpu_features(missing);
  EXPECT_EQ(parseError(plan), "plan needs CPU feature '" + missing +
                                  "' which this machine lacks (compiled for znver4)");
}

TEST(PlanLoaderTest, RefusesUnknownCpuFeature) {
  nnc::Plan plan = linearPlan();
  plan.mutable_metadata()->add_cpu_features("frobnicate");
  EXPECT_EQ(parseError(plan), "plan needs CPU feature 'frobnicate' which this nnrun cannot check "
                              "(compiled for znver4)");
}

} // namespace
} // namespace nnrt
