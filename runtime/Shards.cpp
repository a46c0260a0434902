// Tensor parallelism's parameter parts (see Shards.h).
#include "runtime/Shards.h"

#include <cstring>

namespace nnrt {

ShardSpec shardOf(const nnc::TensorSlice &tensor) {
  return {tensor.shard_axis(), std::max<int64_t>(tensor.shards(), 1),
          std::max<int64_t>(tensor.shard_groups(), 1)};
}

ShardSpec shardOf(const nnc::InitParameter &init) {
  return {init.shard_axis(), std::max<int64_t>(init.shards(), 1),
          std::max<int64_t>(init.shard_groups(), 1)};
}

nnc::StatusOr<int64_t> partBytes(nnc::DType dtype, const Shape &whole, const ShardSpec &spec) {
  int64_t bytes = byteSize(dtype, whole);
  if (!spec.split())
    return bytes;
  if (bytes < 0 || spec.axis < 0 || spec.axis >= int64_t(whole.size()) ||
      whole[spec.axis] % (spec.shards * spec.groups) != 0)
    return nnc::Status::error("part of " + std::to_string(spec.shards) + " along axis " +
                              std::to_string(spec.axis) + " (" + std::to_string(spec.groups) +
                              " groups) does not divide the shape " + formatShape(whole));
  return bytes / spec.shards;
}

// The whole tensor is (outer, groups, shards, piece, inner); a part is (outer, groups, piece,
// inner): rows of `piece * inner` elements each.
void copyPart(const Shape &whole, const ShardSpec &spec, int64_t rank, int64_t elementBytes,
              char *wholeData, char *partData, bool intoWhole) {
  int64_t outer = 1, inner = elementBytes;
  for (int64_t d = 0; d < spec.axis; ++d)
    outer *= whole[d];
  for (size_t d = spec.axis + 1; d < whole.size(); ++d)
    inner *= whole[d];
  int64_t piece = whole[spec.axis] / (spec.groups * spec.shards);
  int64_t row = piece * inner;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t g = 0; g < spec.groups; ++g) {
      char *w = wholeData + ((o * spec.groups + g) * spec.shards + rank) * row;
      char *p = partData + (o * spec.groups + g) * row;
      if (intoWhole)
        std::memcpy(w, p, size_t(row));
      else
        std::memcpy(p, w, size_t(row));
    }
}

} // namespace nnrt
