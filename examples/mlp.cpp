// Fashion-MNIST MLP (784-256-256-10, ReLU, dropout 0.2) trained with AdamW, label smoothing and
// a warm-up + cosine schedule. Writes model.pb to argv[1] for `nnc compile`.
#include "examples/WriteModel.h"
#include "frontend/Layers.h"

using namespace nnc;
using namespace nnc::frontend;

int main(int argc, char **argv) {
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

  TrainingSpec &t = m.training();
  t.mutable_optimizer()->set_kind(Optimizer::ADAMW);
  t.mutable_optimizer()->set_learning_rate(1e-3);
  t.mutable_optimizer()->set_weight_decay(0.01);
  t.set_grad_clip_norm(1.0);
  t.mutable_lr_schedule()->set_kind(LRSchedule::WARMUP_COSINE);
  // Warm up for one epoch: 60000 / 128 steps, the last partial batch dropped.
  t.mutable_lr_schedule()->set_warmup_steps(468);
  t.mutable_lr_schedule()->set_min_lr(1e-5);
  t.set_epochs(10);
  for (Metric::Kind kind :
       {Metric::ACCURACY, Metric::PER_CLASS_ACCURACY, Metric::CONFUSION_MATRIX}) {
    Metric *metric = t.add_metrics();
    metric->set_kind(kind);
    metric->set_output(logits.name());
  }
  return examples::writeModel(m, argc, argv);
}
