// A character-level GPT in the style of nanoGPT: ASCII vocabulary (128), context 128, d_model
// 128, 4 heads, 2 pre-LayerNorm blocks, learned position embeddings and an untied, bias-free LM
// head, trained with AdamW on next-character cross entropy. Writes model.pb to argv[1].
#include "examples/Common.h"
#include "frontend/Layers.h"

#include <string>

using namespace nnc;
using namespace nnc::frontend;

namespace {
constexpr int64_t kVocab = 128, kContext = 128, kBatch = 32, kDModel = 128, kHeads = 4;
constexpr int kBlocks = 2;

/// One pre-LN transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)).
class Block {
public:
  Block(frontend::Model &m, const std::string &name)
      : m_(m), name_(name), ln1_(m, name + ".ln1", kDModel),
        attn_(m, name + ".attn", kDModel, kHeads), ln2_(m, name + ".ln2", kDModel),
        fc_(m, name + ".fc", kDModel, 4 * kDModel), gelu_(m, name + ".gelu"),
        proj_(m, name + ".proj", 4 * kDModel, kDModel) {}

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
  if (int exit = examples::handleOptions(
          argc, argv, "<model.pb>",
          "Writes a character-level GPT (2 pre-LayerNorm blocks, d_model 128, 4 heads, context\n"
          "128, ASCII vocabulary; AdamW) to <model.pb>, for `nnc compile`; train it with\n"
          "`nnrun --fit --data text.txt`.\n");
      exit >= 0)
    return exit;
  frontend::Model m("chargpt");
  Tensor tokens = m.input("tokens", {kBatch, kContext}, I64, GraphInput::FEATURES);
  Tensor targets = m.input("targets", {kBatch, kContext}, I64, GraphInput::LABELS);

  Embedding tokEmb(m, "tok_emb", kVocab, kDModel);
  // GPT-2's position-embedding init; (T, d) broadcasts over the batch when added.
  Tensor posEmb = m.parameter("pos_emb", {kContext, kDModel}, init::normal(0.0, 0.02));
  Tensor x = m.add(tokEmb(tokens), posEmb, "embed"); // (B, T, d)

  for (int i = 0; i < kBlocks; ++i) {
    Block block(m, "h" + std::to_string(i));
    x = block(x);
  }
  LayerNorm lnF(m, "ln_f", kDModel);
  Linear lmHead(m, "lm_head", kDModel, kVocab, /*bias=*/false);
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
  return examples::writeModel(m, argc, argv);
}
