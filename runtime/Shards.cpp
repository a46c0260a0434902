// Tensor parallelism's parameter parts (see Shards.h).
#include "runtime/Shards.h"

#include <algorithm>
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

ShardSpec shardOf(const nnc::WriteBytes &write) {
  return {write.shard_axis(), std::max<int64_t>(write.shards(), 1),
          std::max<int64_t>(write.shard_groups(), 1)};
}

nnc::StatusOr<int64_t> partBytes(nnc::DType dtype, const Shape &whole, const ShardSpec &spec) {
  int64_t bytes = byteSize(dtype, whole);
  if (!spec.split())
    return bytes;
  // Whole groups; a part of a single group may be padded (a vocabulary T does not divide).
  if (bytes < 0 || spec.axis < 0 || spec.axis >= int64_t(whole.size()) ||
      whole[spec.axis] % spec.groups != 0 ||
      (spec.groups > 1 && whole[spec.axis] % (spec.shards * spec.groups) != 0))
    return nnc::Status::error("part of " + std::to_string(spec.shards) + " along axis " +
                              std::to_string(spec.axis) + " (" + std::to_string(spec.groups) +
                              " groups) does not divide the shape " + formatShape(whole));
  if (whole[spec.axis] == 0)
    return int64_t(0);
  int64_t piece = (whole[spec.axis] + spec.shards - 1) / spec.shards;
  return bytes / whole[spec.axis] * piece;
}

// The whole tensor is (outer, groups, group extent, inner); part `rank` is (outer, groups, piece,
// inner), piece = ceil(group extent / shards): rows [rank * piece, (rank + 1) * piece) of each
// group, of which those past the group's end are padding (zeros in the part, never written back).
void copyPart(const Shape &whole, const ShardSpec &spec, int64_t rank, int64_t elementBytes,
              char *wholeData, char *partData, bool intoWhole) {
  int64_t outer = 1, inner = elementBytes;
  for (int64_t d = 0; d < spec.axis; ++d)
    outer *= whole[d];
  for (size_t d = spec.axis + 1; d < whole.size(); ++d)
    inner *= whole[d];
  int64_t extent = whole[spec.axis], groupExtent = extent / spec.groups;
  int64_t piece = (groupExtent + spec.shards - 1) / spec.shards;
  int64_t valid = std::clamp<int64_t>(groupExtent - rank * piece, 0, piece);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t g = 0; g < spec.groups; ++g) {
      char *p = partData + ((o * spec.groups + g) * piece) * inner;
      if (!intoWhole)
        std::memset(p + valid * inner, 0, size_t((piece - valid) * inner));
      if (valid == 0)
        continue;
      char *w = wholeData + (o * extent + g * groupExtent + rank * piece) * inner;
      if (intoWhole)
        std::memcpy(w, p, size_t(valid * inner));
      else
        std::memcpy(p, w, size_t(valid * inner));
    }
}

} // namespace nnrt
