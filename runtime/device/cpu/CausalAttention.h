// The cpu driver's fused causal attention (issue 23): FlashAttention-2 on tiles of queries and
// keys, f32 arithmetic on f32 or bf16 tensors (bf16 products on AVX512_BF16), threaded on
// OpenMP's pool like oneDNN's calls.
#pragma once

#include "runtime/device/Device.h"

#include <memory>

namespace nnrt {

/// An attention call for `desc` (forward or backward; desc.avx512 picks the AVX-512 build of
/// the loops, else the portable one; with bf16 tensors, desc.avx512bf16 the pair products).
std::unique_ptr<AttentionCall> makeCpuAttention(const AttentionDesc &desc);

} // namespace nnrt
