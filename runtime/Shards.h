// Tensor parallelism's parameter parts: a split parameter is one logical (whole) tensor, of which
// each of `shards` ranks holds one part along `axis` (TensorSlice / InitParameter shard fields).
// With `groups` G > 1 the axis is G equal groups (a fused q/k/v weight) and a rank's part is its
// piece of every group, concatenated. Everything outside the executor sees whole tensors. With
// one group the axis need not divide: each part has ceil(extent / shards) rows, the last ones
// padded with zeros (a vocabulary that --tensor-parallel T does not divide).
#pragma once

#include "runtime/HostTensor.h"
#include "proto/plan.pb.h"
#include "support/StatusOr.h"

namespace nnrt {

struct ShardSpec {
  int64_t axis = 0, shards = 1, groups = 1;
  bool split() const { return shards > 1; }
};

ShardSpec shardOf(const nnc::TensorSlice &tensor);
ShardSpec shardOf(const nnc::InitParameter &init);
ShardSpec shardOf(const nnc::WriteBytes &write);

/// The bytes of one part of a `whole`-shaped tensor of `dtype`, or an error when the spec does
/// not divide it (an axis outside the shape, extents that are not multiples).
nnc::StatusOr<int64_t> partBytes(nnc::DType dtype, const Shape &whole, const ShardSpec &spec);

/// Copies part `rank` between a whole tensor and its packed part: into `part` (extract) or,
/// with `intoWhole`, from `part` into its place in `whole` (the rest of `whole` untouched).
void copyPart(const Shape &whole, const ShardSpec &spec, int64_t rank, int64_t elementBytes,
              char *wholeData, char *partData, bool intoWhole);

} // namespace nnrt
