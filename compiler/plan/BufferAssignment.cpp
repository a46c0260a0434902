// Greedy, size-ordered buffer placement with liveness-based reuse (see BufferAssignment.h).
#include "compiler/plan/BufferAssignment.h"

#include <algorithm>
#include <numeric>

namespace nnc {

BufferAssignment assignBuffers(const std::vector<BufferRequest> &requests, int64_t alignment) {
  // 1. Largest first: big buffers are hardest to fit, so they get the low offsets.
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].size != requests[b].size)
      return requests[a].size > requests[b].size;
    return requests[a].start < requests[b].start;
  });

  BufferAssignment result;
  result.offsets.assign(requests.size(), 0);
  std::vector<size_t> placed;
  for (size_t i : order) {
    const BufferRequest &r = requests[i];
    // 2. The byte ranges of placed buffers live at the same time, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed)
      if (requests[j].start <= r.end && r.start <= requests[j].end)
        busy.push_back({result.offsets[j], result.offsets[j] + requests[j].size});
    std::sort(busy.begin(), busy.end());
    // 3. The first aligned gap that holds this buffer.
    int64_t offset = 0;
    for (auto [begin, end] : busy) {
      if (offset + r.size <= begin)
        break;
      offset = std::max(offset, (end + alignment - 1) / alignment * alignment);
    }
    result.offsets[i] = offset;
    result.peakBytes = std::max(result.peakBytes, offset + r.size);
    placed.push_back(i);
  }
  return result;
}

} // namespace nnc
