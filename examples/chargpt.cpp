// A character-level GPT in the style of nanoGPT: ASCII vocabulary (128), context 128, d_model
// 128, 4 heads, 2 pre-LayerNorm blocks, learned position embeddings and an untied, bias-free LM
// head, trained with AdamW on next-character cross entropy. Writes model.pb to argv[1]; the
// optional sizes after it build the same recipe at other sizes (bench/compile_bench.py's GPTs).
//   nnc-example-chargpt model.pb [BLOCKS D_MODEL HEADS CONTEXT BATCH]
#include "examples/Common.h"
#include "frontend/Layers.h"

#include <cstdlib>
#include <string>

using namespace nnc;
using namespace nnc::frontend;

namespace {
constexpr int64_t kVocab = 128;

/// The model's sizes: the example's defaults, or the ones given on the command line.
struct Sizes {
  int64_t blocks = 2, dModel = 128, heads = 4, context = 128, batch = 32;
};

/// One pre-LN transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)).
class Block {
public:
  Block(frontend::Model &m, const std::string &name, int64_t d, int64_t heads)
      : m_(m), name_(name), ln1_(m, name + ".ln1", d), attn_(m, name + ".attn", d, heads),
        ln2_(m, name + ".ln2", d), fc_(m, name + ".fc", d, 4 * d), gelu_(m, name + ".gelu"),
        proj_(m, name + ".proj", 4 * d, d) {}

  Tensor operator()(Tensor x) { // (B, T, d) -> (B, T, d)
    x = m_.add(x, attn_(ln1_(x)), name_ + ".res1");
    return m_.add(x, proj_(gelu_(fc_(ln2_(x)))), name_ + ".res2");
  }

private:
  frontend::Model &m_;
  std::string name_;
  LayerNorm ln1_;
  CausalSelfAttention attn_;
  LayerNorm ln2_;
  Linear fc_;
  GELU gelu_;
  Linear proj_;
};
} // namespace

int main(int argc, char **argv) {
  const char *usage = "<model.pb> [BLOCKS D_MODEL HEADS CONTEXT BATCH]";
  if (int exit = examples::handleOptions(
          argc, argv, usage,
          "Writes a character-level GPT (2 pre-LayerNorm blocks, d_model 128, 4 heads, context\n"
          "128, batch 32, ASCII vocabulary; AdamW) to <model.pb>, for `nnc compile`; train it\n"
          "with `nnrun --fit --data text.txt`. The five sizes, all or none, build it at another\n"
          "size (HEADS must divide D_MODEL).\n");
      exit >= 0)
    return exit;
  auto positive = [](const char *text) {
    char *end = nullptr;
    long value = std::strtol(text, &end, 10);
    return *end == '\0' && value > 0 && value < (1 << 20) ? value : 0L;
  };
  Sizes s;
  if (argc == 7) {
    s = {positive(argv[2]), positive(argv[3]), positive(argv[4]), positive(argv[5]),
         positive(argv[6])};
  }
  if ((argc != 2 && argc != 7) || !s.blocks || !s.dModel || !s.heads || !s.context ||
      !s.batch || s.dModel % s.heads) {
    std::fprintf(stderr, "usage: %s %s  (positive integers, HEADS dividing D_MODEL)\n", argv[0],
                 usage);
    return 2;
  }
  frontend::Model m("chargpt");
  Tensor tokens = m.input("tokens", {s.batch, s.context}, I64, GraphInput::FEATURES);
  Tensor targets = m.input("targets", {s.batch, s.context}, I64, GraphInput::LABELS);

  Embedding tokEmb(m, "tok_emb", kVocab, s.dModel);
  // GPT-2's position-embedding init; (T, d) broadcasts over the batch when added.
  Tensor posEmb = m.parameter("pos_emb", {s.context, s.dModel}, init::normal(0.0, 0.02));
  Tensor x = m.add(tokEmb(tokens), posEmb, "embed"); // (B, T, d)

  for (int64_t i = 0; i < s.blocks; ++i) {
    Block block(m, "h" + std::to_string(i), s.dModel, s.heads);
    x = block(x);
  }
  LayerNorm lnF(m, "ln_f", s.dModel);
  Linear lmHead(m, "lm_head", s.dModel, kVocab, /*bias=*/false);
  Tensor logits = lmHead(lnF(x)); // (B, T, vocab)
  m.setLoss(m.crossEntropy(logits, targets, 0.0, "mean", "loss"));
  m.addOutput(logits);

  TrainingSpec &t = m.training();
  Optimizer *opt = t.mutable_optimizer();
  opt->set_kind(Optimizer::ADAMW);
  opt->set_learning_rate(3e-4);
  opt->set_beta1(0.9);
  opt->set_beta2(0.99); // nanoGPT's choice for small char-level batches
  opt->set_weight_decay(0.1);
  t.set_grad_clip_norm(1.0);
  t.mutable_lr_schedule()->set_kind(LRSchedule::WARMUP_COSINE);
  t.mutable_lr_schedule()->set_warmup_steps(100);
  t.mutable_lr_schedule()->set_min_lr(3e-5);
  t.set_epochs(5);
  char *model[] = {argv[0], argv[1]};
  return examples::writeModel(m, 2, model);
}
