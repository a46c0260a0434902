// Unit tests for the C++ frontend: each layer and op emits the expected nodes, parameters and
// shapes; mistakes produce one sticky error that names the layer or node; and save() writes a
// proto that parses back identical.
#include "frontend/Layers.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace nnc::frontend {
namespace {

using Ints = std::vector<int64_t>;
using Names = std::vector<std::string>;

const Node *findNode(const frontend::Model &m, const std::string &name) {
  for (const Node &node : m.proto().nodes())
    if (node.name() == name)
      return &node;
  return nullptr;
}

const Parameter *findParam(const nnc::Model &proto, const std::string &name) {
  for (const Parameter &param : proto.parameters())
    if (param.name() == name)
      return &param;
  return nullptr;
}

Names nodeNames(const frontend::Model &m) {
  Names names;
  for (const Node &node : m.proto().nodes())
    names.push_back(node.name());
  return names;
}

Names inputsOf(const Node &node) { return Names(node.inputs().begin(), node.inputs().end()); }

Ints intsAttr(const Node &node, const std::string &key) {
  const IntList &list = node.attrs().at(key).ints();
  return Ints(list.values().begin(), list.values().end());
}

Ints shapeOf(const Parameter &param) {
  return Ints(param.type().shape().begin(), param.type().shape().end());
}

bool readModel(const std::string &path, nnc::Model &proto) {
  std::ifstream in(path, std::ios::binary);
  return in && proto.ParseFromIstream(&in);
}

// --- Layers ----------------------------------------------------------------------------------

TEST(LinearTest, CreatesParametersWithPyTorchInitializers) {
  frontend::Model m("m");
  Linear fc(m, "fc", 784, 256);
  ASSERT_TRUE(m.ok()) << m.error();
  ASSERT_EQ(m.proto().parameters_size(), 2);
  const Parameter *w = findParam(m.proto(), "fc.weight");
  const Parameter *b = findParam(m.proto(), "fc.bias");
  ASSERT_TRUE(w && b);
  EXPECT_EQ(shapeOf(*w), (Ints{256, 784}));
  EXPECT_EQ(w->type().dtype(), F32);
  EXPECT_FALSE(w->frozen());
  EXPECT_EQ(w->init().kind(), Initializer::KAIMING_UNIFORM);
  EXPECT_EQ(w->init().fan_in(), 784);
  EXPECT_EQ(w->init().gain(), 0.0); // 0 means PyTorch's sqrt(1/3)
  EXPECT_EQ(shapeOf(*b), (Ints{256}));
  EXPECT_EQ(b->init().kind(), Initializer::UNIFORM);
  EXPECT_DOUBLE_EQ(b->init().low(), -1.0 / 28);
  EXPECT_DOUBLE_EQ(b->init().high(), 1.0 / 28);
  EXPECT_EQ(m.parameterCount(), 784 * 256 + 256);
}

TEST(LinearTest, EmitsOneLinearNodeNamedAfterTheLayer) {
  frontend::Model m("m");
  Tensor x = m.input("x", {128, 784});
  Linear fc(m, "fc", 784, 256);
  Tensor y = fc(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.name(), "fc");
  EXPECT_EQ(y.shape(), (Ints{128, 256}));
  EXPECT_EQ(y.dtype(), F32);
  ASSERT_EQ(m.proto().nodes_size(), 1);
  const Node &node = m.proto().nodes(0);
  EXPECT_EQ(node.op(), "linear");
  EXPECT_EQ(inputsOf(node), (Names{"x", "fc.weight", "fc.bias"}));
  EXPECT_EQ(Names(node.outputs().begin(), node.outputs().end()), Names{"fc"});
  EXPECT_TRUE(node.attrs().empty());
}

TEST(LinearTest, AppliesOverLeadingDimsAndOmitsBias) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4, 8, 16});
  Linear fc(m, "fc", 16, 32, /*bias=*/false);
  Tensor y = fc(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{4, 8, 32}));
  EXPECT_EQ(m.proto().parameters_size(), 1);
  EXPECT_EQ(inputsOf(m.proto().nodes(0)), (Names{"x", "fc.weight"}));
}

TEST(LinearTest, FeatureMismatchNamesTheLayer) {
  frontend::Model m("m");
  Tensor x = m.input("x", {128, 784});
  Linear fc1(m, "fc1", 784, 300), fc2(m, "fc2", 256, 10);
  Tensor y = fc2(fc1(x));
  EXPECT_FALSE(y.valid());
  EXPECT_FALSE(m.ok());
  EXPECT_EQ(m.error(), "layer 'fc2' (Linear): input has 300 features, expected 256");
  EXPECT_EQ(m.proto().nodes_size(), 1);
}

TEST(LinearTest, SecondCallGetsItsOwnNodeName) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 8});
  Linear fc(m, "fc", 8, 8);
  Tensor y = fc(fc(x));
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(nodeNames(m), (Names{"fc", "fc/call2"}));
  EXPECT_EQ(inputsOf(m.proto().nodes(1)), (Names{"fc", "fc.weight", "fc.bias"}));
  EXPECT_EQ(m.proto().parameters_size(), 2);
}

TEST(Conv2dTest, ParametersAndNonDefaultAttributes) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 3, 32, 32});
  Conv2d conv(m, "conv", 3, 16, /*kernel=*/5, /*stride=*/2, /*padding=*/2);
  Tensor y = conv(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{2, 16, 16, 16})); // (32 + 4 - 5) / 2 + 1
  const Parameter *w = findParam(m.proto(), "conv.weight");
  const Parameter *b = findParam(m.proto(), "conv.bias");
  ASSERT_TRUE(w && b);
  EXPECT_EQ(shapeOf(*w), (Ints{16, 3, 5, 5}));
  EXPECT_EQ(w->init().kind(), Initializer::KAIMING_UNIFORM);
  EXPECT_EQ(w->init().fan_in(), 75);
  EXPECT_DOUBLE_EQ(b->init().high(), 1.0 / std::sqrt(75.0));
  const Node &node = m.proto().nodes(0);
  EXPECT_EQ(node.op(), "conv2d");
  EXPECT_EQ(node.attrs_size(), 2);
  EXPECT_EQ(intsAttr(node, "stride"), (Ints{2, 2}));
  EXPECT_EQ(intsAttr(node, "padding"), (Ints{2, 2}));
}

TEST(Conv2dTest, DefaultsWriteNoAttributes) {
  frontend::Model m("m");
  Tensor x = m.input("x", {1, 1, 28, 28});
  Conv2d conv(m, "conv", 1, 8, 3);
  Tensor y = conv(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{1, 8, 26, 26}));
  EXPECT_TRUE(m.proto().nodes(0).attrs().empty());
}

TEST(Conv2dTest, GroupsAndDilation) {
  frontend::Model m("m");
  Tensor x = m.input("x", {1, 8, 28, 28});
  Conv2d depthwise(m, "dw", 8, 8, 3, /*stride=*/1, /*padding=*/0, /*dilation=*/2, /*groups=*/8);
  Tensor y = depthwise(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{1, 8, 24, 24})); // effective kernel 5
  EXPECT_EQ(shapeOf(*findParam(m.proto(), "dw.weight")), (Ints{8, 1, 3, 3}));
  EXPECT_EQ(findParam(m.proto(), "dw.weight")->init().fan_in(), 9);
  const Node &node = m.proto().nodes(0);
  EXPECT_EQ(node.attrs().at("groups").i(), 8);
  EXPECT_EQ(intsAttr(node, "dilation"), (Ints{2, 2}));
}

TEST(Conv1dTest, GroupedStridedOverSequences) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 4, 32});
  Conv1d conv(m, "conv", 4, 8, /*kernel=*/3, /*stride=*/2, /*padding=*/2, /*dilation=*/2,
              /*groups=*/2);
  Tensor y = conv(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{2, 8, 16})); // (32 + 4 - 5) / 2 + 1
  // PyTorch's weight shape and fan_in (C / groups * K).
  EXPECT_EQ(shapeOf(*findParam(m.proto(), "conv.weight")), (Ints{8, 2, 3}));
  EXPECT_EQ(findParam(m.proto(), "conv.weight")->init().fan_in(), 6);
  // A conv2d with H = 1 named after the layer, between reshapes of the input and the weight.
  ASSERT_EQ(m.proto().nodes_size(), 4);
  EXPECT_EQ(m.proto().nodes(0).name(), "conv/input_2d");
  EXPECT_EQ(m.proto().nodes(1).name(), "conv/weight_2d");
  const Node &node = m.proto().nodes(2);
  EXPECT_EQ(node.name(), "conv");
  EXPECT_EQ(node.op(), "conv2d");
  EXPECT_EQ(intsAttr(node, "stride"), (Ints{1, 2}));
  EXPECT_EQ(intsAttr(node, "padding"), (Ints{0, 2}));
  EXPECT_EQ(intsAttr(node, "dilation"), (Ints{1, 2}));
  EXPECT_EQ(node.attrs().at("groups").i(), 2);
  Tensor bad = conv(m.input("img", {2, 4, 8, 8}));
  EXPECT_FALSE(bad.valid());
  EXPECT_EQ(m.error(), "layer 'conv' (Conv1d): expects input (N, C, L), got [2,4,8,8]");
}

TEST(ClampTest, BoundsAreOptionalAttributes) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 3});
  Tensor relu6 = m.clamp(x, 0.0, 6.0, "relu6");
  Tensor capped = m.clamp(relu6, std::nullopt, 1.5, "capped");
  ASSERT_TRUE(capped.valid()) << m.error();
  EXPECT_EQ(capped.shape(), (Ints{2, 3}));
  const Node &both = m.proto().nodes(0), &one = m.proto().nodes(1);
  EXPECT_EQ(both.op(), "clamp");
  EXPECT_DOUBLE_EQ(both.attrs().at("min").f(), 0.0);
  EXPECT_DOUBLE_EQ(both.attrs().at("max").f(), 6.0);
  EXPECT_EQ(one.attrs().count("min"), 0u);
  EXPECT_DOUBLE_EQ(one.attrs().at("max").f(), 1.5);
}

TEST(Conv2dTest, ChannelMismatchNamesTheLayer) {
  frontend::Model m("m");
  Tensor x = m.input("x", {1, 1, 28, 28});
  Conv2d conv1(m, "conv1", 1, 16, 3), conv2(m, "conv2", 32, 64, 3);
  EXPECT_FALSE(conv2(conv1(x)).valid());
  EXPECT_EQ(m.error(), "layer 'conv2' (Conv2d): input has 16 channels, expected 32");
}

TEST(Conv2dTest, RankMismatchNamesTheLayer) {
  frontend::Model m("m");
  Tensor x = m.input("x", {128, 784});
  Conv2d conv(m, "conv", 1, 16, 3);
  EXPECT_FALSE(conv(x).valid());
  EXPECT_EQ(m.error(), "layer 'conv' (Conv2d): expects input (N, C, H, W), got [128,784]");
}

TEST(PoolTest, MaxPoolStrideDefaultsToKernel) {
  frontend::Model m("m");
  Tensor x = m.input("x", {1, 4, 7, 7});
  MaxPool2d pool(m, "pool", 2);
  Tensor y = pool(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{1, 4, 3, 3})); // floor((7 - 2) / 2) + 1
  const Node &node = m.proto().nodes(0);
  EXPECT_EQ(node.op(), "max_pool2d");
  EXPECT_EQ(node.attrs_size(), 1);
  EXPECT_EQ(intsAttr(node, "kernel_size"), (Ints{2, 2}));
}

TEST(PoolTest, AvgPoolWithStrideAndPadding) {
  frontend::Model m("m");
  Tensor x = m.input("x", {1, 4, 7, 7});
  AvgPool2d pool(m, "pool", 3, /*stride=*/2, /*padding=*/1);
  Tensor y = pool(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{1, 4, 4, 4})); // (7 + 2 - 3) / 2 + 1
  const Node &node = m.proto().nodes(0);
  EXPECT_EQ(node.op(), "avg_pool2d");
  EXPECT_EQ(intsAttr(node, "stride"), (Ints{2, 2}));
  EXPECT_EQ(intsAttr(node, "padding"), (Ints{1, 1}));
}

TEST(DropoutTest, WritesRateAndRejectsOne) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4, 8});
  Dropout drop(m, "drop", 0.2);
  ASSERT_TRUE(drop(x).valid()) << m.error();
  EXPECT_EQ(m.proto().nodes(0).op(), "dropout");
  EXPECT_DOUBLE_EQ(m.proto().nodes(0).attrs().at("rate").f(), 0.2);
  Dropout bad(m, "bad", 1.0);
  EXPECT_EQ(m.error(), "layer 'bad' (Dropout): rate must be in [0, 1), got 1.000000");
}

TEST(LayerNormTest, OnesZerosAndEpsilonOnlyWhenNotDefault) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 5, 64});
  LayerNorm ln(m, "ln", 64), ln2(m, "ln2", 64, 1e-6);
  Tensor y = ln2(ln(x));
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{2, 5, 64}));
  EXPECT_EQ(findParam(m.proto(), "ln.weight")->init().kind(), Initializer::ONES);
  EXPECT_EQ(findParam(m.proto(), "ln.bias")->init().kind(), Initializer::ZEROS);
  EXPECT_EQ(shapeOf(*findParam(m.proto(), "ln.bias")), (Ints{64}));
  EXPECT_EQ(m.proto().nodes(0).op(), "layer_norm");
  EXPECT_EQ(inputsOf(m.proto().nodes(0)), (Names{"x", "ln.weight", "ln.bias"}));
  EXPECT_TRUE(m.proto().nodes(0).attrs().empty());
  EXPECT_DOUBLE_EQ(m.proto().nodes(1).attrs().at("epsilon").f(), 1e-6);
}

TEST(LayerNormTest, FeatureMismatchNamesTheLayer) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 32});
  LayerNorm ln(m, "ln", 64);
  EXPECT_FALSE(ln(x).valid());
  EXPECT_EQ(m.error(), "layer 'ln' (LayerNorm): input has 32 features, expected 64");
}

TEST(BatchNormTest, RunningStatisticsAreFrozenParameters) {
  frontend::Model m("m");
  Tensor x = m.input("x", {8, 4, 5, 5});
  BatchNorm2d bn(m, "bn", 4);
  Tensor y = bn(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{8, 4, 5, 5}));
  EXPECT_EQ(findParam(m.proto(), "bn.weight")->init().kind(), Initializer::ONES);
  EXPECT_FALSE(findParam(m.proto(), "bn.weight")->frozen());
  EXPECT_EQ(findParam(m.proto(), "bn.running_mean")->init().kind(), Initializer::ZEROS);
  EXPECT_TRUE(findParam(m.proto(), "bn.running_mean")->frozen());
  EXPECT_EQ(findParam(m.proto(), "bn.running_var")->init().kind(), Initializer::ONES);
  EXPECT_TRUE(findParam(m.proto(), "bn.running_var")->frozen());
  EXPECT_EQ(m.proto().nodes(0).op(), "batch_norm");
  EXPECT_EQ(inputsOf(m.proto().nodes(0)),
            (Names{"x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}));
  EXPECT_TRUE(m.proto().nodes(0).attrs().empty()); // PyTorch's defaults are not written
}

TEST(BatchNormTest, NonDefaultEpsilonAndMomentumAreAttributes) {
  frontend::Model m("m");
  Tensor x = m.input("x", {8, 16});
  BatchNorm1d bn(m, "bn", 16, 1e-3, 0.01);
  ASSERT_TRUE(bn(x).valid()) << m.error();
  EXPECT_DOUBLE_EQ(m.proto().nodes(0).attrs().at("epsilon").f(), 1e-3);
  EXPECT_DOUBLE_EQ(m.proto().nodes(0).attrs().at("momentum").f(), 0.01);
}

TEST(BatchNormTest, WrongRankOrChannelsNameTheLayer) {
  frontend::Model m("m");
  BatchNorm2d bn(m, "bn", 4);
  EXPECT_FALSE(bn(m.input("flat", {8, 4})).valid());
  EXPECT_EQ(m.error(), "layer 'bn' (BatchNorm2d): expects input (N, C, H, W), got [8,4]");
  frontend::Model m2("m2");
  BatchNorm1d bn1(m2, "bn1", 16);
  EXPECT_FALSE(bn1(m2.input("x", {8, 12})).valid());
  EXPECT_EQ(m2.error(), "layer 'bn1' (BatchNorm1d): input has 12 channels, expected 16");
  frontend::Model m3("m3");
  BatchNorm1d bad(m3, "bad", 16, 1e-5, 1.5);
  EXPECT_EQ(m3.error(), "layer 'bad' (BatchNorm1d): momentum must be in [0, 1], got 1.500000");
}

TEST(EmbeddingTest, NormalInitAndAppendsEmbeddingDim) {
  frontend::Model m("m");
  Tensor ids = m.input("ids", {4, 10}, I64);
  Embedding emb(m, "emb", 100, 16);
  Tensor y = emb(ids);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{4, 10, 16}));
  EXPECT_EQ(y.dtype(), F32);
  const Parameter *w = findParam(m.proto(), "emb.weight");
  EXPECT_EQ(shapeOf(*w), (Ints{100, 16}));
  EXPECT_EQ(w->init().kind(), Initializer::NORMAL);
  EXPECT_EQ(w->init().mean(), 0.0);
  EXPECT_EQ(w->init().stddev(), 1.0);
  EXPECT_EQ(m.proto().nodes(0).op(), "embedding");
}

TEST(EmbeddingTest, RejectsFloatIndices) {
  frontend::Model m("m");
  Tensor ids = m.input("ids", {4, 10}, F32);
  Embedding emb(m, "emb", 100, 16);
  EXPECT_FALSE(emb(ids).valid());
  EXPECT_EQ(m.error(), "layer 'emb' (Embedding): indices are f32, expected i32 or i64");
}

TEST(AttentionTest, EmitsNanoGptNodes) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 8, 16});
  CausalSelfAttention attn(m, "attn", 16, 4);
  Tensor y = attn(x);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{2, 8, 16}));
  EXPECT_EQ(nodeNames(m), (Names{"attn.qkv", "attn/q", "attn/q_heads", "attn/q_t", "attn/k",
                                 "attn/k_heads", "attn/k_t", "attn/v", "attn/v_heads", "attn/v_t",
                                 "attn/qk", "attn/scale", "attn/scaled", "attn/mask", "attn/probs",
                                 "attn/pv", "attn/merge_t", "attn/merge", "attn.proj"}));
  EXPECT_EQ(shapeOf(*findParam(m.proto(), "attn.qkv.weight")), (Ints{48, 16}));
  EXPECT_EQ(shapeOf(*findParam(m.proto(), "attn.proj.weight")), (Ints{16, 16}));
  EXPECT_EQ(m.proto().parameters_size(), 4);

  const Node &k = *findNode(m, "attn/k");
  EXPECT_EQ(k.op(), "slice");
  EXPECT_EQ(intsAttr(k, "start"), (Ints{0, 0, 16}));
  EXPECT_EQ(intsAttr(k, "limit"), (Ints{2, 8, 32}));
  EXPECT_EQ(k.attrs().count("step"), 0u);
  EXPECT_EQ(intsAttr(*findNode(m, "attn/k_heads"), "shape"), (Ints{2, 8, 4, 4}));
  EXPECT_EQ(intsAttr(*findNode(m, "attn/k_t"), "permutation"), (Ints{0, 2, 3, 1}));
  EXPECT_EQ(findNode(m, "attn/qk")->op(), "matmul");
  EXPECT_EQ(inputsOf(*findNode(m, "attn/qk")), (Names{"attn/q_t", "attn/k_t"}));
  const TensorValue &scale = findNode(m, "attn/scale")->attrs().at("value").tensor();
  EXPECT_EQ(scale.type().shape_size(), 0);
  EXPECT_FLOAT_EQ(scale.values(0), 0.5f); // 1 / sqrt(head dim 4)
  EXPECT_EQ(findNode(m, "attn/mask")->op(), "causal_mask");
  EXPECT_EQ(findNode(m, "attn/probs")->op(), "softmax");
  EXPECT_TRUE(findNode(m, "attn/probs")->attrs().empty());
  EXPECT_EQ(intsAttr(*findNode(m, "attn/merge"), "shape"), (Ints{2, 8, 16}));
}

TEST(AttentionTest, WidthMismatchNamesTheLayer) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 8, 12});
  CausalSelfAttention attn(m, "attn0", 16, 4);
  EXPECT_FALSE(attn(x).valid());
  EXPECT_EQ(m.error(),
            "layer 'attn0' (CausalSelfAttention): expects input (B, T, 16), got [2,8,12]");
}

TEST(AttentionTest, HeadsMustDivideWidth) {
  frontend::Model m("m");
  CausalSelfAttention attn(m, "attn", 16, 3);
  EXPECT_EQ(m.error(),
            "layer 'attn' (CausalSelfAttention): d_model 16 is not divisible by 3 heads");
}

TEST(ActivationTest, ReluTanhGeluAndFlatten) {
  frontend::Model m("m");
  Tensor x = m.input("x", {8, 4, 3, 3});
  ReLU relu(m, "relu");
  Tanh tanh(m, "tanh");
  GELU gelu(m, "gelu"), geluTanh(m, "gelu_tanh", "tanh");
  Flatten flatten(m, "flatten");
  Tensor y = flatten(geluTanh(gelu(tanh(relu(x)))));
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{8, 36}));
  Names ops;
  for (const Node &node : m.proto().nodes())
    ops.push_back(node.op());
  EXPECT_EQ(ops, (Names{"relu", "tanh", "gelu", "gelu", "reshape"}));
  EXPECT_TRUE(findNode(m, "gelu")->attrs().empty());
  EXPECT_EQ(findNode(m, "gelu_tanh")->attrs().at("approximate").s(), "tanh");
  EXPECT_EQ(intsAttr(*findNode(m, "flatten"), "shape"), (Ints{8, 36}));
}

TEST(ActivationTest, FlattenNeedsABatchDim) {
  frontend::Model m("m");
  Tensor x = m.input("x", {8});
  Flatten flatten(m, "flat");
  EXPECT_FALSE(flatten(x).valid());
  EXPECT_EQ(m.error(), "layer 'flat' (Flatten): expects input (N, ...) of rank >= 2, got [8]");
}

TEST(ParameterTest, FrozenBuffersAndFloatOnly) {
  frontend::Model m("m");
  Tensor buf = m.parameter("buf", {4, 2}, init::constant(3.0), F32, /*frozen=*/true);
  ASSERT_TRUE(buf.valid()) << m.error();
  EXPECT_EQ(buf.shape(), (Ints{4, 2}));
  const Parameter &param = *findParam(m.proto(), "buf");
  EXPECT_TRUE(param.frozen());
  EXPECT_EQ(param.init().kind(), Initializer::CONSTANT);
  EXPECT_EQ(param.init().value(), 3.0);
  EXPECT_FALSE(m.parameter("ids", {4}, init::zeros(), I64).valid());
  EXPECT_EQ(m.error(), "parameter 'ids': dtype must be a float type, got i64");
}

// --- Functional ops --------------------------------------------------------------------------

TEST(OpsTest, AutoNamesCountPerOpAndSkipTakenNames) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4});
  EXPECT_EQ(m.relu(x).name(), "relu_1");
  EXPECT_EQ(m.relu(x, "relu_2").name(), "relu_2");
  EXPECT_EQ(m.relu(x).name(), "relu_3");
  EXPECT_EQ(m.add(x, x).name(), "add_1");
  EXPECT_TRUE(m.ok()) << m.error();
}

TEST(OpsTest, MatmulBroadcastsBatchDims) {
  frontend::Model m("m");
  Tensor a = m.input("a", {2, 1, 4, 5}), b = m.input("b", {3, 5, 6});
  Tensor y = m.matmul(a, b);
  ASSERT_TRUE(y.valid()) << m.error();
  EXPECT_EQ(y.shape(), (Ints{2, 3, 4, 6}));
}

TEST(OpsTest, MatmulContractionMismatch) {
  frontend::Model m("m");
  Tensor a = m.input("a", {2, 4, 5}), b = m.input("b", {4, 6});
  EXPECT_FALSE(m.matmul(a, b, "mm").valid());
  EXPECT_EQ(m.error(), "node 'mm' (matmul): contracting dimensions differ: [2,4,5] @ [4,6]");
}

TEST(OpsTest, AddBroadcasting) {
  frontend::Model m("m");
  Tensor a = m.input("a", {4, 1, 3}), b = m.parameter("b", {5, 1}, init::zeros());
  EXPECT_EQ(m.add(a, b).shape(), (Ints{4, 5, 3}));
  EXPECT_EQ(m.mul(a, m.scalar(2.0)).shape(), (Ints{4, 1, 3}));
  Tensor c = m.input("c", {128, 10}), d = m.input("d", {5});
  EXPECT_FALSE(m.add(c, d, "bad").valid());
  EXPECT_EQ(m.error(), "node 'bad' (add): cannot broadcast [128,10] with [5]");
}

TEST(OpsTest, DTypeMismatch) {
  frontend::Model m("m");
  Tensor a = m.input("a", {4}), b = m.input("b", {4}, I64);
  EXPECT_FALSE(m.sub(a, b).valid());
  EXPECT_EQ(m.error(), "node 'sub_1' (sub): dtype mismatch: 'a' is f32, 'b' is i64");
}

TEST(OpsTest, CrossEntropyAttributesAndTargets) {
  frontend::Model m("m");
  Tensor logits = m.input("logits", {8, 10});
  Tensor labels = m.input("labels", {8}, I64, GraphInput::LABELS);
  Tensor probs = m.input("probs", {8, 10});
  Tensor a = m.crossEntropy(logits, labels, 0.1);
  Tensor b = m.crossEntropy(logits, probs, 0.0, "sum");
  ASSERT_TRUE(a.valid() && b.valid()) << m.error();
  EXPECT_TRUE(a.shape().empty());
  EXPECT_EQ(a.dtype(), F32);
  const Node &na = *findNode(m, a.name()), &nb = *findNode(m, b.name());
  EXPECT_EQ(na.op(), "cross_entropy");
  EXPECT_EQ(na.attrs_size(), 1);
  EXPECT_DOUBLE_EQ(na.attrs().at("label_smoothing").f(), 0.1);
  EXPECT_EQ(nb.attrs_size(), 1);
  EXPECT_EQ(nb.attrs().at("reduction").s(), "sum");

  Tensor wrong = m.input("wrong", {8, 1}, I64);
  EXPECT_FALSE(m.crossEntropy(logits, wrong, 0.0, "mean", "ce").valid());
  EXPECT_EQ(m.error(),
            "node 'ce' (cross_entropy): class-index target must have shape [8] for logits "
            "[8,10], got [8,1]");
}

TEST(OpsTest, MseLossIsScalar) {
  frontend::Model m("m");
  Tensor p = m.input("p", {8, 3}), t = m.input("t", {8, 3}, F32, GraphInput::LABELS);
  Tensor loss = m.mseLoss(p, t);
  EXPECT_EQ(loss.name(), "mse_loss_1");
  EXPECT_TRUE(loss.shape().empty());
  EXPECT_EQ(inputsOf(*findNode(m, "mse_loss_1")), (Names{"p", "t"}));
}

TEST(OpsTest, ShapeOps) {
  frontend::Model m("m");
  Tensor x = m.input("x", {2, 3, 4});
  EXPECT_EQ(m.transpose(x, {2, 0, 1}).shape(), (Ints{4, 2, 3}));
  EXPECT_EQ(m.concat({x, x}, -1).shape(), (Ints{2, 3, 8}));
  EXPECT_EQ(m.slice(x, {0, 1, 0}, {2, 3, 4}, {1, 1, 3}, "s").shape(), (Ints{2, 2, 2}));
  EXPECT_EQ(intsAttr(*findNode(m, "s"), "step"), (Ints{1, 1, 3}));
  EXPECT_EQ(m.reduceSum(x, {1}).shape(), (Ints{2, 4}));
  EXPECT_EQ(m.reduceMean(x, {0, -1}, /*keepdim=*/true, "mean").shape(), (Ints{1, 3, 1}));
  EXPECT_TRUE(findNode(m, "mean")->attrs().at("keepdim").b());
  EXPECT_EQ(m.reduceMax(x, {2}).shape(), (Ints{2, 3}));
  EXPECT_EQ(m.softmax(x, 1, "sm").shape(), (Ints{2, 3, 4}));
  EXPECT_EQ(findNode(m, "sm")->attrs().at("axis").i(), 1);
  EXPECT_EQ(m.logSoftmax(x).name(), "log_softmax_1");
  EXPECT_TRUE(m.ok()) << m.error();
  EXPECT_FALSE(m.reshape(x, {5, 5}, "r").valid());
  EXPECT_EQ(m.error(), "node 'r' (reshape): cannot reshape [2,3,4] (24 elements) to [5,5]");
}

TEST(OpsTest, ConstantStoresItsValue) {
  frontend::Model m("m");
  Tensor c = m.constant({2, 2}, {1, 2, 3, 4}, I32, "c");
  ASSERT_TRUE(c.valid()) << m.error();
  const TensorValue &value = findNode(m, "c")->attrs().at("value").tensor();
  EXPECT_EQ(value.type().dtype(), I32);
  EXPECT_EQ(Ints(value.type().shape().begin(), value.type().shape().end()), (Ints{2, 2}));
  EXPECT_EQ(std::vector<float>(value.values().begin(), value.values().end()),
            (std::vector<float>{1, 2, 3, 4}));
  EXPECT_TRUE(findNode(m, "c")->inputs().empty());
  EXPECT_FALSE(m.constant({3}, {1, 2}).valid());
  EXPECT_EQ(m.error(),
            "node 'constant_1' (constant): shape [3] has 3 elements but 2 values were given");
}

// --- Errors ----------------------------------------------------------------------------------

TEST(ErrorTest, DuplicateLayerName) {
  frontend::Model m("m");
  Linear a(m, "fc", 4, 4), b(m, "fc", 4, 4);
  EXPECT_EQ(m.error(), "layer 'fc' (Linear): duplicate layer name");
}

TEST(ErrorTest, DuplicateNodeName) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4});
  m.relu(x, "r");
  EXPECT_FALSE(m.relu(x, "r").valid());
  EXPECT_EQ(m.error(), "node 'r' (relu): duplicate name");
}

TEST(ErrorTest, DuplicateParameterAndInputNames) {
  frontend::Model m("m");
  m.parameter("w", {4}, init::zeros());
  EXPECT_FALSE(m.parameter("w", {4}, init::zeros()).valid());
  EXPECT_EQ(m.error(), "parameter 'w': duplicate name");

  frontend::Model m2("m2");
  m2.input("x", {4});
  EXPECT_FALSE(m2.parameter("x", {4}, init::ones()).valid());
  EXPECT_EQ(m2.error(), "parameter 'x': duplicate name");
}

TEST(ErrorTest, NonPositiveSizes) {
  frontend::Model m("m");
  Linear fc(m, "fc", 0, 10);
  EXPECT_EQ(m.error(), "layer 'fc' (Linear): in_features must be positive, got 0");

  frontend::Model m2("m2");
  EXPECT_FALSE(m2.input("x", {4, 0}).valid());
  EXPECT_EQ(m2.error(), "input 'x': dimension 1 must be positive, got [4,0]");
}

TEST(ErrorTest, LayerRejectsNonF32Input) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4, 8}, I64);
  Linear fc(m, "fc", 8, 2);
  EXPECT_FALSE(fc(x).valid());
  EXPECT_EQ(m.error(), "layer 'fc' (Linear): input is i64, expected f32");
}

TEST(ErrorTest, InvalidInputTensor) {
  frontend::Model m("m");
  EXPECT_FALSE(m.relu(Tensor()).valid());
  EXPECT_EQ(m.error(), "node 'relu_1' (relu): input 0 is not a valid tensor");
}

TEST(ErrorTest, FirstErrorIsStickyAndNothingMoreIsRecorded) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4, 8});
  Linear fc(m, "fc", 16, 2);
  EXPECT_FALSE(fc(x).valid());
  std::string first = m.error();
  EXPECT_EQ(first, "layer 'fc' (Linear): input has 8 features, expected 16");

  // Later valid and invalid calls alike return invalid tensors and leave the error alone.
  EXPECT_FALSE(m.relu(x).valid());
  EXPECT_FALSE(m.input("y", {4}).valid());
  EXPECT_FALSE(m.add(x, m.input("z", {3})).valid());
  Linear other(m, "fc", 0, 0);
  EXPECT_EQ(m.error(), first);
  EXPECT_EQ(m.proto().nodes_size(), 0);
  EXPECT_EQ(m.proto().inputs_size(), 1);
  EXPECT_EQ(m.proto().parameters_size(), 2);
}

// --- Saving ----------------------------------------------------------------------------------

TEST(SaveTest, RefusesWithoutLoss) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4, 8});
  Linear fc(m, "fc", 8, 2);
  fc(x);
  Status status = m.save(::testing::TempDir() + "noloss.pb");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "model 'm': no loss set; call setLoss()");
}

TEST(SaveTest, RefusesAfterAnError) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4, 8});
  Tensor y = m.input("y", {4, 8});
  m.setLoss(m.mseLoss(x, y, "loss"));
  m.relu(Tensor());
  Status status = m.save(::testing::TempDir() + "error.pb");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "model 'm': not saved because of an earlier error: node "
                              "'relu_1' (relu): input 0 is not a valid tensor");
}

TEST(SaveTest, LossMustBeAScalar) {
  frontend::Model m("m");
  Tensor x = m.input("x", {4, 8});
  m.setLoss(x);
  EXPECT_EQ(m.error(), "setLoss: 'x' must be a float scalar, got f32[4,8]");
}

TEST(SaveTest, RoundTripsThroughTheFile) {
  frontend::Model m("roundtrip");
  Tensor x = m.input("x", {16, 8});
  Tensor label = m.input("label", {16}, I64, GraphInput::LABELS);
  Linear fc(m, "fc", 8, 3);
  Tensor logits = fc(x);
  m.setLoss(m.crossEntropy(logits, label, 0.1, "mean", "loss"));
  m.addOutput(logits);
  m.training().mutable_optimizer()->set_kind(Optimizer::SGD);
  m.training().mutable_optimizer()->set_learning_rate(0.1);
  m.training().set_epochs(3);
  ASSERT_TRUE(m.ok()) << m.error();

  std::string path = ::testing::TempDir() + "roundtrip.pb";
  Status status = m.save(path);
  ASSERT_TRUE(status.ok()) << status.message();
  nnc::Model parsed;
  ASSERT_TRUE(readModel(path, parsed));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, m.proto()));
  EXPECT_EQ(parsed.format_version(), static_cast<uint32_t>(FORMAT_VERSION_CURRENT));
  EXPECT_EQ(parsed.training().loss(), "loss");
  EXPECT_EQ(Names(parsed.outputs().begin(), parsed.outputs().end()), Names{"fc"});
}

} // namespace
} // namespace nnc::frontend
