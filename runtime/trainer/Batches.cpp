// makeBatch and the one-batch-ahead Prefetcher.
#include "runtime/trainer/Batches.h"

#include <algorithm>

namespace nnrt::trainer {

Batch makeBatch(const Dataset &data, const std::vector<int64_t> &order, int64_t begin,
                int64_t size) {
  Batch batch;
  batch.count = std::min<int64_t>(size, int64_t(order.size()) - begin);
  for (auto [from, to] : {std::pair{&data.features, &batch.features},
                          std::pair{&data.labels, &batch.labels}}) {
    Shape shape = from->shape;
    shape[0] = size;
    *to = HostTensor(from->dtype, shape);
    size_t rowBytes = from->data.size() / from->shape[0];
    for (int64_t i = 0; i < size; ++i) {
      int64_t row = order[begin + (i < batch.count ? i : 0)];
      std::copy_n(from->data.begin() + row * rowBytes, rowBytes, to->data.begin() + i * rowBytes);
    }
  }
  return batch;
}

Prefetcher::Prefetcher(const Dataset &data, std::vector<int64_t> order, int64_t size,
                       int64_t first, int64_t end)
    : data_(data), order_(std::move(order)), size_(size), next_(first), end_(end) {
  if (next_ < end_)
    start(next_);
}

Prefetcher::~Prefetcher() {
  if (pending_.valid())
    pending_.wait();  // the task reads order_ and data_, which must outlive it
}

void Prefetcher::start(int64_t b) {
  pending_ = std::async(std::launch::async,
                        [this, b] { return makeBatch(data_, order_, b * size_, size_); });
}

Batch Prefetcher::next() {
  Batch batch = pending_.get();
  if (++next_ < end_)
    start(next_);
  return batch;
}

nnc::StatusOr<HostTensor> oneHot(const HostTensor &labels, int64_t classes) {
  int64_t rows = labels.numElements();
  HostTensor out(nnc::F32, {rows, classes});
  const auto *ids = reinterpret_cast<const int64_t *>(labels.data.data());
  auto *values = reinterpret_cast<float *>(out.data.data());
  for (int64_t i = 0; i < rows; ++i) {
    if (ids[i] < 0 || ids[i] >= classes)
      return nnc::Status::error("label " + std::to_string(ids[i]) + " is out of range for " +
                                std::to_string(classes) + " classes");
    values[i * classes + ids[i]] = 1.0f;
  }
  return out;
}

} // namespace nnrt::trainer
