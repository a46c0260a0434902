// Fashion-MNIST MLP (784-256-256-10, ReLU, dropout 0.2) trained with AdamW, label smoothing and
// a warm-up + cosine schedule. Writes model.pb to argv[1] for `nnc compile`.
#include "examples/Common.h"
#include "frontend/Layers.h"

using namespace nnc;
using namespace nnc::frontend;

int main(int argc, char **argv) {
  if (int exit = examples::handleOptions(
          argc, argv, "<model.pb>",
          "Writes the Fashion-MNIST MLP (784-256-256-10, ReLU, dropout 0.2; AdamW, label\n"
          "smoothing, warm-up + cosine) to <model.pb>, for `nnc compile`.\n");
      exit >= 0)
    return exit;
  frontend::Model m("fashion_mnist_mlp");
  Tensor image = m.input("image", {128, 784}, F32, GraphInput::FEATURES);
  Tensor label = m.input("label", {128}, I64, GraphInput::LABELS);

  Linear fc1(m, "fc1", 784, 256), fc2(m, "fc2", 256, 256), fc3(m, "fc3", 256, 10);
  ReLU relu1(m, "relu1"), relu2(m, "relu2");
  Dropout drop1(m, "drop1", 0.2), drop2(m, "drop2", 0.2);

  Tensor h = drop1(relu1(fc1(image))); // (128, 256)
  h = drop2(relu2(fc2(h)));            // (128, 256)
  Tensor logits = fc3(h);              // (128, 10)
  m.setLoss(m.crossEntropy(logits, label, /*labelSmoothing=*/0.1, "mean", "loss"));
  m.addOutput(logits);

  examples::useFashionMnistRecipe(m, logits);
  return examples::writeModel(m, argc, argv);
}
