// A small classifier (64-32-10 MLP, ReLU, Adam) built with nnc's frontend; writes model.pb to
// argv[1] for `nnc compile`.
#include "frontend/Layers.h"

#include <cstdio>

using namespace nnc;
using namespace nnc::frontend;

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <model.pb>\n", argv[0]);
    return 2;
  }
  frontend::Model m("small_mlp");
  Tensor x = m.input("x", {16, 64}, F32, GraphInput::FEATURES);
  Tensor y = m.input("y", {16}, I64, GraphInput::LABELS);
  Linear fc1(m, "fc1", 64, 32), fc2(m, "fc2", 32, 10);
  ReLU relu(m, "relu");
  Tensor logits = fc2(relu(fc1(x))); // (16, 10)
  m.setLoss(m.crossEntropy(logits, y, /*labelSmoothing=*/0.0, "mean", "loss"));
  m.addOutput(logits);
  m.training().mutable_optimizer()->set_kind(Optimizer::ADAM);
  m.training().mutable_optimizer()->set_learning_rate(1e-2);

  if (Status status = m.save(argv[1]); !status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 1;
  }
  std::printf("%s\n", m.summary().c_str());
  return 0;
}
