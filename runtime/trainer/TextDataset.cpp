// Raw text for character-level language models: the bytes are the token ids (a model's vocabulary
// covers them, e.g. 128 for ASCII), cut into windows whose targets are the inputs shifted by one.
#include "runtime/trainer/Dataset.h"

#include "runtime/trainer/Gzip.h"

#include <cmath>

namespace nnrt::trainer {
namespace {

/// Non-overlapping windows of `ids`: example i is x = ids[iT : iT+T], y = ids[iT+1 : iT+T+1].
Dataset windows(const std::string &ids, int64_t context, const std::string &file) {
  int64_t n = ids.size() > 0 ? int64_t(ids.size() - 1) / context : 0;
  Dataset data;
  data.featuresFile = data.labelsFile = file;
  data.features = HostTensor(nnc::I64, {n, context});
  data.labels = HostTensor(nnc::I64, {n, context});
  auto *x = reinterpret_cast<int64_t *>(data.features.data.data());
  auto *y = reinterpret_cast<int64_t *>(data.labels.data.data());
  for (int64_t i = 0; i < n * context; ++i) {
    x[i] = static_cast<unsigned char>(ids[i]);
    y[i] = static_cast<unsigned char>(ids[i + 1]);
  }
  return data;
}

} // namespace

nnc::StatusOr<DataSplits> loadText(const std::string &file, int64_t context, int64_t vocab,
                                   double valFraction) {
  using nnc::Status;
  nnc::StatusOr<std::string> text = readMaybeGzip(file);
  if (!text.ok())
    return text.status();
  for (size_t i = 0; i < text->size(); ++i) {
    int byte = static_cast<unsigned char>((*text)[i]);
    if (vocab > 0 && byte >= vocab)
      return Status::error(file + ": byte " + std::to_string(byte) + " at offset " +
                           std::to_string(i) + " is outside the model's vocabulary of " +
                           std::to_string(vocab) + " (the logits' last dimension)");
  }
  size_t valBytes = size_t(std::llround(double(text->size()) * valFraction));
  DataSplits splits;
  splits.train = windows(text->substr(0, text->size() - valBytes), context, file);
  if (valBytes > 0)
    splits.validation = windows(text->substr(text->size() - valBytes), context, file);
  if (splits.train.size() == 0)
    return Status::error(file + ": holds no training example: " + std::to_string(text->size()) +
                         " bytes (" + std::to_string(text->size() - valBytes) +
                         " for training) give no window of " + std::to_string(context) +
                         " tokens plus one target");
  return splits;
}

} // namespace nnrt::trainer
