// Fashion-MNIST CNN: two conv3x3-ReLU-maxpool stages (32 and 64 channels), then fc 128 with
// dropout 0.5 (the classic Keras MNIST CNN's rate) and fc 10. Same training setup as mlp.cpp.
#include "examples/Common.h"
#include "frontend/Layers.h"

using namespace nnc;
using namespace nnc::frontend;

int main(int argc, char **argv) {
  if (int exit = examples::handleOptions(
          argc, argv, "<model.pb>",
          "Writes the Fashion-MNIST CNN (two conv3x3-ReLU-maxpool stages, fc 128 with dropout\n"
          "0.5, fc 10; AdamW, warm-up + cosine) to <model.pb>, for `nnc compile`.\n");
      exit >= 0)
    return exit;
  frontend::Model m("fashion_mnist_cnn");
  Tensor image = m.input("image", {128, 1, 28, 28}, F32, GraphInput::FEATURES);
  Tensor label = m.input("label", {128}, I64, GraphInput::LABELS);

  Conv2d conv1(m, "conv1", 1, 32, /*kernel=*/3, /*stride=*/1, /*padding=*/1);
  Conv2d conv2(m, "conv2", 32, 64, /*kernel=*/3, /*stride=*/1, /*padding=*/1);
  ReLU relu1(m, "relu1"), relu2(m, "relu2"), relu3(m, "relu3");
  MaxPool2d pool1(m, "pool1", 2), pool2(m, "pool2", 2);
  Flatten flatten(m, "flatten");
  Linear fc1(m, "fc1", 64 * 7 * 7, 128), fc2(m, "fc2", 128, 10);
  Dropout drop(m, "drop", 0.5);

  Tensor h = pool1(relu1(conv1(image))); // (128, 32, 14, 14)
  h = pool2(relu2(conv2(h)));            // (128, 64, 7, 7)
  h = drop(relu3(fc1(flatten(h))));      // (128, 128)
  Tensor logits = fc2(h);                // (128, 10)
  m.setLoss(m.crossEntropy(logits, label, /*labelSmoothing=*/0.1, "mean", "loss"));
  m.addOutput(logits);

  examples::useFashionMnistRecipe(m, logits);
  return examples::writeModel(m, argc, argv);
}
