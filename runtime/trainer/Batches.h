// Batches for the trainer: the rows of a dataset in a given order, cut into the plan's fixed batch
// size, assembled one batch ahead on a background thread while the current step runs.
#pragma once

#include "runtime/trainer/Dataset.h"
#include "support/StatusOr.h"

#include <future>
#include <vector>

namespace nnrt::trainer {

struct Batch {
  HostTensor features, labels;  // one full batch each
  int64_t count = 0;            // real rows; the rest repeat the first real row
};

/// Rows order[begin, begin + size) of `data` (fewer at the end of `order`), padded to `size` rows
/// with copies of the first: padding that is a real example keeps the loss finite and lets the
/// evaluator subtract its contribution exactly (see Evaluate.cpp).
Batch makeBatch(const Dataset &data, const std::vector<int64_t> &order, int64_t begin,
                int64_t size);

/// Class ids (B) as one-hot f32 rows (B, classes); an error names an id out of range.
nnc::StatusOr<HostTensor> oneHot(const HostTensor &labels, int64_t classes);

/// Batches first .. end-1 of `order` (batch b starts at row b * size), each made on a background
/// thread while the caller works on the previous one.
class Prefetcher {
public:
  Prefetcher(const Dataset &data, std::vector<int64_t> order, int64_t size, int64_t first,
             int64_t end);
  ~Prefetcher();
  /// The next batch; call at most end - first times.
  Batch next();

private:
  void start(int64_t b);

  const Dataset &data_;
  std::vector<int64_t> order_;
  int64_t size_, next_, end_;
  std::future<Batch> pending_;
};

} // namespace nnrt::trainer
