// Fashion-MNIST ResNet: a conv3x3(32)-BN-ReLU stem with a 2x2 max pool, three stages of one
// basic residual block each (32 channels at 14x14, 64 at 7x7, 128 at 4x4, the later two entered
// with stride 2 and a 1x1 conv + BN shortcut), global average pooling and fc 10. BatchNorm
// trains on batch statistics and evaluates on its running ones. Trained with flip + crop
// augmentation (scripts/demo.sh, MODEL=resnet).
#include "examples/Common.h"
#include "frontend/Layers.h"

#include <memory>

using namespace nnc;
using namespace nnc::frontend;

namespace {

/// He et al.'s basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the input (through a 1x1 conv + BN
/// when the shape changes), then ReLU. PyTorch's layout: "<name>.conv1", "<name>.bn1", ...
class BasicBlock {
public:
  BasicBlock(frontend::Model &m, const std::string &name, int64_t in, int64_t out, int64_t stride)
      : conv1_(m, name + ".conv1", in, out, 3, stride, 1, 1, 1, /*bias=*/false),
        bn1_(m, name + ".bn1", out), relu1_(m, name + ".relu1"),
        conv2_(m, name + ".conv2", out, out, 3, 1, 1, 1, 1, /*bias=*/false),
        bn2_(m, name + ".bn2", out), relu2_(m, name + ".relu2"), model_(m), name_(name) {
    if (stride != 1 || in != out) {
      shortcutConv_ = std::make_unique<Conv2d>(m, name + ".downsample.0", in, out, 1, stride, 0,
                                               1, 1, /*bias=*/false);
      shortcutBn_ = std::make_unique<BatchNorm2d>(m, name + ".downsample.1", out);
    }
  }

  Tensor operator()(Tensor x) {
    Tensor h = bn2_(conv2_(relu1_(bn1_(conv1_(x)))));
    Tensor shortcut = shortcutConv_ ? (*shortcutBn_)((*shortcutConv_)(x)) : x;
    return relu2_(model_.add(h, shortcut, name_ + ".add"));
  }

private:
  Conv2d conv1_;
  BatchNorm2d bn1_;
  ReLU relu1_;
  Conv2d conv2_;
  BatchNorm2d bn2_;
  ReLU relu2_;
  std::unique_ptr<Conv2d> shortcutConv_;
  std::unique_ptr<BatchNorm2d> shortcutBn_;
  frontend::Model &model_;
  std::string name_;
};

} // namespace

int main(int argc, char **argv) {
  if (int exit = examples::handleOptions(
          argc, argv, "<model.pb>",
          "Writes the Fashion-MNIST ResNet (conv3x3(32)-BN-ReLU-maxpool stem, basic residual\n"
          "blocks of 32, 64 and 128 channels, global average pooling, fc 10; AdamW, warm-up +\n"
          "cosine) to <model.pb>, for `nnc compile`. Train it with --augment-flip and\n"
          "--augment-crop (scripts/demo.sh with MODEL=resnet).\n");
      exit >= 0)
    return exit;
  frontend::Model m("fashion_mnist_resnet");
  Tensor image = m.input("image", {128, 1, 28, 28}, F32, GraphInput::FEATURES);
  Tensor label = m.input("label", {128}, I64, GraphInput::LABELS);

  Conv2d stem(m, "conv1", 1, 32, 3, 1, 1, 1, 1, /*bias=*/false);
  BatchNorm2d stemBn(m, "bn1", 32);
  ReLU stemRelu(m, "relu");
  MaxPool2d pool(m, "maxpool", 2);
  BasicBlock layer1(m, "layer1.0", 32, 32, 1), layer2(m, "layer2.0", 32, 64, 2),
      layer3(m, "layer3.0", 64, 128, 2);
  AvgPool2d globalPool(m, "avgpool", 4);
  Flatten flatten(m, "flatten");
  Linear fc(m, "fc", 128, 10);

  Tensor h = pool(stemRelu(stemBn(stem(image)))); // (128, 32, 14, 14)
  h = layer1(h);                                  // (128, 32, 14, 14)
  h = layer2(h);                                  // (128, 64, 7, 7)
  h = layer3(h);                                  // (128, 128, 4, 4)
  Tensor logits = fc(flatten(globalPool(h)));     // (128, 10)
  m.setLoss(m.crossEntropy(logits, label, /*labelSmoothing=*/0.1, "mean", "loss"));
  m.addOutput(logits);

  examples::useFashionMnistRecipe(m, logits);
  return examples::writeModel(m, argc, argv);
}
