// Parameter initializers (nnc::Initializer) with PyTorch's definitions, drawn from Philox so that
// a parameter's values depend only on (plan seed, parameter stream, element index): the same on
// every machine, thread count and device.
#pragma once

#include "runtime/HostTensor.h"
#include "support/StatusOr.h"

#include <cstdint>

namespace nnrt {

/// fan_in and fan_out as torch.nn.init._calculate_fan_in_and_fan_out derives them from a weight
/// of shape (out, in, *kernel): fan_in = in * prod(kernel), fan_out = out * prod(kernel).
struct Fans {
  int64_t in = 0, out = 0;
};
/// The initializer's fans: its own when set (non-zero), else derived from the shape; an error for
/// a shape of rank < 2 that has to derive them.
nnc::StatusOr<Fans> fansOf(const nnc::Initializer &init, const Shape &shape);

/// Ok if `init` can fill a tensor of `type` (known kind, f32, fans derivable, sane bounds).
nnc::Status checkInitializer(const nnc::Initializer &init, const nnc::TensorType &type);

/// Fills `values` (numElements(type) floats) per `init`:
///   ZEROS, ONES, CONSTANT(value);
///   UNIFORM: U[low, high);
///   NORMAL: mean + stddev * N(0, 1), Box-Muller over pairs of words;
///   KAIMING_UNIFORM: U(-b, b), b = gain * sqrt(3 / fan_in), gain 0 meaning sqrt(1/3) — so
///     PyTorch's default kaiming_uniform_(a=sqrt(5)) bound 1/sqrt(fan_in);
///   XAVIER_UNIFORM: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)), gain 0 meaning 1 (as
///     torch.nn.init.xavier_uniform_).
/// Element i uses word i % 4 of Philox block i / 4 of `stream` (see Philox.h).
nnc::Status initialize(const nnc::Initializer &init, const nnc::TensorType &type, uint64_t seed,
                       uint64_t stream, float *values);

} // namespace nnrt
