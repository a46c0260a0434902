// Generated text for language models (`nnrun --fit --sample-every N`): every N steps the plan's
// predict function continues a prompt taken from the data, one token per call, and the monitor
// shows the result (progress line, JSON lines, HTML report). Token ids are bytes, as the text
// dataset reads them (TextDataset.cpp), and only ids the training text holds may be chosen.
//
// 1. The prompt: the first P tokens of the first validation example (else training example).
// 2. Per token: the last min(n, T) tokens at positions 0.. of batch row 0, the rest zeros (the
//    model is causal, so they cannot change the logits at the last real position); predict;
//    the next id from that position's logits: argmax, or softmax(logits / temperature)
//    sampled with Philox keyed by (seed, step, token), so a run is reproducible.
#pragma once

#include "proto/plan.pb.h"
#include "runtime/monitor/Hooks.h"
#include "runtime/trainer/Dataset.h"
#include "support/StatusOr.h"

#include <vector>

namespace nnrt {
class Executor;
}

namespace nnrt::trainer {

struct SampleConfig {
  int64_t every = 0;        // steps between samples; 0: none
  int64_t length = 64;      // tokens generated per sample
  double temperature = 0;   // 0: greedy (argmax); > 0: sampled from softmax(logits / T)
};

class TextSampler {
public:
  /// Checks that `plan` is a language model (predict: token ids (B, T) i64 -> logits (B, T, V)
  /// f32, V <= 256) and takes the prompt and the vocabulary from `data`. Errors name the flag.
  static nnc::StatusOr<TextSampler> create(const nnc::Plan &plan, const std::string &planPath,
                                           const DataSplits &data, const SampleConfig &config);

  const SampleConfig &config() const { return config_; }

  /// The sample after step `step` (1-based), drawn with `seed`.
  nnc::StatusOr<monitor::SampleEvent> generate(Executor &executor, int64_t step, int64_t epoch,
                                                uint64_t seed) const;

private:
  SampleConfig config_;
  nnc::TensorSlice input_, logits_;
  int64_t context_ = 0, vocab_ = 0;
  std::vector<int64_t> prompt_;
  std::vector<bool> known_;  // by id: the training text holds it
};

} // namespace nnrt::trainer
