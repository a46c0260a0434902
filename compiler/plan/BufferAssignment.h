// Buffer assignment: places every buffer of a function in one arena so that buffers whose live
// ranges overlap never share bytes and dead ones are reused. No MLIR here: the plan builder
// describes the buffers, this decides the offsets (and tests can call it directly).
#pragma once

#include <cstdint>
#include <vector>

namespace nnc {

/// One buffer to place: its size and its live range [start, end] in command indices, inclusive.
struct BufferRequest {
  int64_t size = 0;
  int64_t start = 0;
  int64_t end = 0;
};

struct BufferAssignment {
  std::vector<int64_t> offsets; // per request, aligned
  int64_t peakBytes = 0;        // the arena size: max(offset + size)
};

/// Greedy best-fit by decreasing size: each buffer takes the lowest aligned offset that does not
/// overlap (in bytes) any already placed buffer live at the same time. Deterministic.
BufferAssignment assignBuffers(const std::vector<BufferRequest> &requests,
                               int64_t alignment = 64);

} // namespace nnc
