// Tests that the example programs run and write the models they describe: node and parameter
// counts, parameter totals and the training spec, read back from the model.pb each one writes.
#include "proto/model.pb.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace nnc {
namespace {

using Ints = std::vector<int64_t>;
using Names = std::vector<std::string>;

/// Runs an example program (its path comes from CMake) and parses the model it writes.
Model runExample(const std::string &program, const std::string &name) {
  std::string path = ::testing::TempDir() + name + ".pb";
  std::string command = "'" + program + "' '" + path + "' > /dev/null";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  Model proto;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in && proto.ParseFromIstream(&in)) << path;
  return proto;
}

const Node &findNode(const Model &proto, const std::string &name) {
  for (const Node &node : proto.nodes())
    if (node.name() == name)
      return node;
  ADD_FAILURE() << "no node '" << name << "'";
  static const Node missing;
  return missing;
}

Names inputsOf(const Node &node) { return Names(node.inputs().begin(), node.inputs().end()); }

Ints intsAttr(const Node &node, const std::string &key) {
  auto it = node.attrs().find(key);
  if (it == node.attrs().end())
    return {};
  return Ints(it->second.ints().values().begin(), it->second.ints().values().end());
}

int64_t parameterCount(const Model &proto) {
  int64_t total = 0;
  for (const Parameter &param : proto.parameters()) {
    int64_t n = 1;
    for (int64_t d : param.type().shape())
      n *= d;
    total += n;
  }
  return total;
}

TEST(ExamplesTest, Mlp) {
  Model proto = runExample(NNC_EXAMPLE_MLP, "mlp");
  EXPECT_EQ(proto.name(), "fashion_mnist_mlp");
  EXPECT_EQ(proto.nodes_size(), 8);
  EXPECT_EQ(proto.parameters_size(), 6);
  EXPECT_EQ(parameterCount(proto), 269322);
  EXPECT_EQ(proto.training().loss(), "loss");
  EXPECT_EQ(proto.training().optimizer().kind(), Optimizer::ADAMW);
  EXPECT_EQ(proto.training().metrics_size(), 3);
  EXPECT_EQ(proto.training().metrics(0).output(), "fc3");
  EXPECT_DOUBLE_EQ(proto.nodes(7).attrs().at("label_smoothing").f(), 0.1);
}

TEST(ExamplesTest, Cnn) {
  Model proto = runExample(NNC_EXAMPLE_CNN, "cnn");
  EXPECT_EQ(proto.nodes_size(), 12);
  EXPECT_EQ(proto.parameters_size(), 8);
  EXPECT_EQ(parameterCount(proto), 421642);
  EXPECT_EQ(Names(proto.outputs().begin(), proto.outputs().end()), Names{"fc2"});
  EXPECT_EQ(intsAttr(findNode(proto, "conv2"), "padding"), (Ints{1, 1}));
  EXPECT_EQ(intsAttr(findNode(proto, "pool2"), "kernel_size"), (Ints{2, 2}));
  EXPECT_EQ(intsAttr(findNode(proto, "flatten"), "shape"), (Ints{128, 64 * 7 * 7}));
  EXPECT_DOUBLE_EQ(findNode(proto, "drop").attrs().at("rate").f(), 0.5);
}

TEST(ExamplesTest, CharGpt) {
  Model proto = runExample(NNC_EXAMPLE_CHARGPT, "chargpt");
  EXPECT_EQ(proto.nodes_size(), 57);
  EXPECT_EQ(proto.parameters_size(), 29);
  EXPECT_EQ(parameterCount(proto), 445952);
  EXPECT_EQ(proto.training().optimizer().learning_rate(), 3e-4);
  EXPECT_EQ(proto.inputs(1).name(), "targets");
  EXPECT_EQ(proto.inputs(1).role(), GraphInput::LABELS);
  EXPECT_EQ(inputsOf(findNode(proto, "embed")), (Names{"tok_emb", "pos_emb"}));
  EXPECT_EQ(findNode(proto, "h1.attn/mask").op(), "causal_mask");
  EXPECT_EQ(findNode(proto, "h1.gelu").op(), "gelu");
  EXPECT_EQ(inputsOf(findNode(proto, "lm_head")), (Names{"ln_f", "lm_head.weight"}));
  EXPECT_EQ(inputsOf(findNode(proto, "loss")), (Names{"lm_head", "targets"}));
  EXPECT_EQ(proto.nodes(proto.nodes_size() - 1).op(), "cross_entropy");
}

} // namespace
} // namespace nnc
