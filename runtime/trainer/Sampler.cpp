// TextSampler: the plan and data checks, then the token-by-token loop (see Sampler.h).
#include "runtime/trainer/Sampler.h"

#include "runtime/Executor.h"
#include "runtime/Philox.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nnrt::trainer {

using nnc::Status;

namespace {

constexpr int64_t kMaxPrompt = 32;
constexpr uint64_t kSampleStream = 0x53414d504c45ull;  // "SAMPLE": apart from dropout's streams

} // namespace

nnc::StatusOr<TextSampler> TextSampler::create(const nnc::Plan &plan,
                                               const std::string &planPath,
                                               const DataSplits &data,
                                               const SampleConfig &config) {
  const nnc::Function *predict = nullptr;
  for (const nnc::Function &function : plan.functions())
    if (function.name() == "predict")
      predict = &function;
  auto refuse = [&](const std::string &why) {
    return Status::error("--sample-every: " + planPath + " " + why +
                         "; samples need a language model whose predict takes token ids (B, T) "
                         "i64 and returns logits (B, T, V) f32");
  };
  if (!predict || predict->inputs_size() != 1 || predict->outputs_size() < 1)
    return refuse("has no predict function of one input");
  TextSampler sampler;
  sampler.config_ = config;
  sampler.input_ = predict->inputs(0);
  sampler.logits_ = predict->outputs(0);
  Shape in = shapeOf(sampler.input_.type()), out = shapeOf(sampler.logits_.type());
  if (sampler.input_.type().dtype() != nnc::I64 || in.size() != 2 ||
      sampler.logits_.type().dtype() != nnc::F32 || out.size() != 3 || out[0] != in[0] ||
      out[1] != in[1])
    return refuse("predicts " + formatShape(out) + " " +
                  formatDType(sampler.logits_.type().dtype()) + " from " + formatShape(in) + " " +
                  formatDType(sampler.input_.type().dtype()));
  sampler.context_ = in[1];
  sampler.vocab_ = out[2];
  if (sampler.vocab_ > 256)
    return refuse("has a vocabulary of " + std::to_string(sampler.vocab_) +
                  " tokens, more than bytes can show");
  const Dataset &train = data.train;
  const HostTensor &ids = train.features;
  if (ids.dtype != nnc::I64 || ids.shape.size() != 2 || train.size() == 0)
    return Status::error("--sample-every: " + train.featuresFile +
                         " is not token ids (a text file)");
  sampler.known_.assign(sampler.vocab_, false);
  const auto *all = reinterpret_cast<const int64_t *>(ids.data.data());
  for (int64_t i = 0; i < ids.numElements(); ++i)
    if (all[i] >= 0 && all[i] < sampler.vocab_)
      sampler.known_[all[i]] = true;
  const Dataset &source = data.validation.size() ? data.validation : train;
  const auto *first = reinterpret_cast<const int64_t *>(source.features.data.data());
  int64_t promptLength = std::min(kMaxPrompt, std::min(sampler.context_ / 2, ids.shape[1]));
  sampler.prompt_.assign(first, first + std::max<int64_t>(promptLength, 1));
  return sampler;
}

nnc::StatusOr<monitor::SampleEvent> TextSampler::generate(Executor &executor, int64_t step,
                                                           int64_t epoch, uint64_t seed) const {
  HostTensor batch(nnc::I64, shapeOf(input_.type()));
  auto *row = reinterpret_cast<int64_t *>(batch.data.data());
  std::vector<int64_t> tokens = prompt_;
  std::vector<double> weights(vocab_);
  for (int64_t k = 0; k < config_.length; ++k) {
    int64_t n = std::min<int64_t>(tokens.size(), context_);
    std::fill(row, row + batch.numElements(), 0);
    std::copy(tokens.end() - n, tokens.end(), row);
    if (Status s = executor.write(input_, batch); !s.ok())
      return Status::error("function 'predict', input '" + input_.name() + "': " + s.message());
    if (Status s = executor.run("predict"); !s.ok())
      return s;
    nnc::StatusOr<HostTensor> out = executor.read(logits_);
    if (!out.ok())
      return out.status();
    const float *logits = reinterpret_cast<const float *>(out->data.data()) + (n - 1) * vocab_;
    int64_t best = -1;
    for (int64_t v = 0; v < vocab_; ++v)
      if (known_[v] && (best < 0 || logits[v] > logits[best]))
        best = v;
    if (config_.temperature > 0) {
      // softmax(logits / T) over the known ids, shifted by the best logit so exp cannot overflow.
      double total = 0;
      for (int64_t v = 0; v < vocab_; ++v) {
        weights[v] = known_[v] ? std::exp((logits[v] - logits[best]) / config_.temperature) : 0;
        total += weights[v];
      }
      PhiloxCounter block = philoxBlock(seed, kSampleStream + uint64_t(step), uint64_t(k) * 4);
      double u = uniformFromBits(block[0]) * total;
      for (int64_t v = 0; v < vocab_; ++v)
        if (weights[v] > 0 && (u -= weights[v]) < 0) {
          best = v;
          break;
        }
    }
    tokens.push_back(best);
  }
  monitor::SampleEvent event;
  event.step = step, event.epoch = epoch, event.temperature = config_.temperature;
  for (size_t i = 0; i < tokens.size(); ++i)
    (i < prompt_.size() ? event.prompt : event.text) += static_cast<char>(tokens[i]);
  return event;
}

} // namespace nnrt::trainer
