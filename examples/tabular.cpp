// A tabular classifier: an MLP (features-64-64-classes, ReLU, dropout 0.1) for rows of a CSV
// file, trained with AdamW and a warm-up + cosine schedule. `nnrun --fit --data rows.csv
// --label-column NAME` standardizes each column on the training split and feeds it. With
// --soft-labels the labels input takes class probabilities (batch, classes), which mixup needs.
//   nnc-example-tabular model.pb FEATURES CLASSES [BATCH] [--soft-labels]
#include "examples/Common.h"
#include "frontend/Layers.h"

#include <cstdlib>
#include <string>

using namespace nnc;
using namespace nnc::frontend;

int main(int argc, char **argv) {
  if (int exit = examples::handleOptions(
          argc, argv, "<model.pb> FEATURES CLASSES [BATCH] [--soft-labels]",
          "Writes an MLP classifier (FEATURES-64-64-CLASSES, ReLU, dropout 0.1; AdamW) for rows\n"
          "of a CSV file, batch BATCH (default 32), to <model.pb>. Train it with\n"
          "`nnrun --fit --data rows.csv --label-column NAME`. --soft-labels: the labels are\n"
          "class probabilities (batch, CLASSES), as mixup needs.\n",
          {"--soft-labels"});
      exit >= 0)
    return exit;
  bool soft = argc > 1 && std::string(argv[argc - 1]) == "--soft-labels";
  if (soft)
    --argc;
  auto positive = [](const char *text) {
    char *end = nullptr;
    long value = std::strtol(text, &end, 10);
    return *end == '\0' && value > 0 && value < (1 << 20) ? value : 0L;
  };
  int64_t features = argc >= 4 ? positive(argv[2]) : 0, classes = argc >= 4 ? positive(argv[3]) : 0;
  int64_t batch = argc == 5 ? positive(argv[4]) : 32;
  if (argc < 4 || argc > 5 || !features || classes < 2 || !batch) {
    std::fprintf(stderr, "usage: %s <model.pb> FEATURES CLASSES [BATCH] [--soft-labels]  "
                         "(positive integers, CLASSES >= 2)\n", argv[0]);
    return 2;
  }
  frontend::Model m("tabular_mlp");
  Tensor rows = m.input("rows", {batch, features}, F32, GraphInput::FEATURES);
  Tensor label = soft ? m.input("label", {batch, classes}, F32, GraphInput::LABELS)
                      : m.input("label", {batch}, I64, GraphInput::LABELS);

  Linear fc1(m, "fc1", features, 64), fc2(m, "fc2", 64, 64), fc3(m, "fc3", 64, classes);
  ReLU relu1(m, "relu1"), relu2(m, "relu2");
  Dropout drop(m, "drop", 0.1);

  Tensor h = relu1(fc1(rows));
  h = drop(relu2(fc2(h)));
  Tensor logits = fc3(h);
  m.setLoss(m.crossEntropy(logits, label, /*labelSmoothing=*/0.0, "mean", "loss"));
  m.addOutput(logits);

  TrainingSpec &t = m.training();
  t.mutable_optimizer()->set_kind(Optimizer::ADAMW);
  t.mutable_optimizer()->set_learning_rate(3e-3);
  t.mutable_optimizer()->set_weight_decay(0.01);
  t.set_grad_clip_norm(1.0);
  t.mutable_lr_schedule()->set_kind(LRSchedule::WARMUP_COSINE);
  t.mutable_lr_schedule()->set_warmup_steps(20);
  t.mutable_lr_schedule()->set_min_lr(1e-5);
  t.set_epochs(20);
  char *model[] = {argv[0], argv[1]};
  return examples::writeModel(m, 2, model);
}
