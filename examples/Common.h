// What the example programs share: their command line (--help, unknown options refused), the
// Fashion-MNIST training recipe, and the tail that saves the model to argv[1] and prints one
// summary line (or one error line and a non-zero exit code).
#pragma once

#include "frontend/Model.h"

#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string_view>

namespace nnc::examples {

/// The options every example takes, checked before anything is built: `--help` (or `-h`) prints
/// "usage: <program> <usage>" and `about`, exit 0; any other argument that starts with '-' and is
/// not in `flags` is one error line, exit 2 (it would otherwise become a file name). Returns the
/// exit code, or -1 to go on.
inline int handleOptions(int argc, char **argv, const char *usage, const char *about,
                         std::initializer_list<std::string_view> flags = {}) {
  const char *slash = std::strrchr(argv[0], '/');
  const char *program = slash ? slash + 1 : argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("usage: %s %s\n\n%s", program, usage, about);
      return 0;
    }
    bool known = false;
    for (std::string_view flag : flags)
      known |= arg == flag;
    if (arg[0] == '-' && !known) {
      std::fprintf(stderr, "%s: error: unknown option '%s' (see %s --help)\n", program, argv[i],
                   program);
      return 2;
    }
  }
  return -1;
}

/// The Fashion-MNIST training recipe shared by the MLP and CNN examples: AdamW (lr 1e-3, weight
/// decay 0.01), global-norm clipping at 1.0, one epoch of warm-up then cosine decay, 10 epochs,
/// and accuracy / per-class accuracy / confusion-matrix metrics on `logits`.
inline void useFashionMnistRecipe(frontend::Model &m, const frontend::Tensor &logits) {
  TrainingSpec &t = m.training();
  t.mutable_optimizer()->set_kind(Optimizer::ADAMW);
  t.mutable_optimizer()->set_learning_rate(1e-3);
  t.mutable_optimizer()->set_weight_decay(0.01);
  t.set_grad_clip_norm(1.0);
  t.mutable_lr_schedule()->set_kind(LRSchedule::WARMUP_COSINE);
  // Warm up for one epoch of whatever data and split nnrun --fit is given.
  t.mutable_lr_schedule()->set_warmup_epochs(1);
  t.mutable_lr_schedule()->set_min_lr(1e-5);
  t.set_epochs(10);
  for (Metric::Kind kind :
       {Metric::ACCURACY, Metric::PER_CLASS_ACCURACY, Metric::CONFUSION_MATRIX}) {
    Metric *metric = t.add_metrics();
    metric->set_kind(kind);
    metric->set_output(logits.name());
  }
}

inline int writeModel(const frontend::Model &model, int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <model.pb>\n", argv[0]);
    return 2;
  }
  Status status = model.save(argv[1]);
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 1;
  }
  std::printf("%s, written to %s\n", model.summary().c_str(), argv[1]);
  return 0;
}

} // namespace nnc::examples
