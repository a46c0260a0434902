// HostTensor: a dense, row-major tensor in host memory — what goes into a plan's inputs, comes out
// of its outputs and is read from or written to .npy files — and the dtype/shape helpers that
// every runtime error message uses ("expected shape [128,784] f32, got [10,784] f32").
#pragma once

#include "proto/plan.pb.h"
#include "support/Status.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace nnrt {

using Shape = std::vector<int64_t>;

/// Bytes per element; 0 for DTYPE_UNSET and unknown values.
int64_t dtypeSize(nnc::DType dtype);
/// "f32", "i64", ...; "unset" for anything else.
std::string formatDType(nnc::DType dtype);
/// "[128,784]"; "[]" for a scalar.
std::string formatShape(const Shape &shape);
/// The product of the dimensions (1 for a scalar); -1 if a dimension is negative or the product
/// overflows int64, so callers can refuse hostile shapes from files.
int64_t numElements(const Shape &shape);
/// The bytes of a dense tensor of this type; -1 when numElements is -1 or the dtype is unknown.
int64_t byteSize(nnc::DType dtype, const Shape &shape);
Shape shapeOf(const nnc::TensorType &type);

struct HostTensor {
  nnc::DType dtype = nnc::DTYPE_UNSET;
  Shape shape;
  std::vector<uint8_t> data; // byteSize(dtype, shape) bytes, little-endian, C order

  HostTensor() = default;
  /// A zero-filled tensor.
  HostTensor(nnc::DType dtype, Shape shape);
  /// An f32 tensor holding `values` (numElements(shape) of them; extra values are ignored,
  /// missing ones stay 0).
  static HostTensor fromFloats(Shape shape, const std::vector<float> &values);

  int64_t numElements() const { return nnrt::numElements(shape); }
  /// The elements as floats; requires dtype F32.
  std::vector<float> toFloats() const;
  /// "[128,784] f32"
  std::string describe() const { return formatShape(shape) + " " + formatDType(dtype); }
};

/// Ok if `tensor` has exactly `type`'s dtype and shape, else
/// "expected shape [128,784] f32, got [10,784] f32".
nnc::Status checkType(const HostTensor &tensor, const nnc::TensorType &type);

/// The first element of `ids` (I64 or I32) outside [0, limit), or -1 (also for other dtypes).
int64_t firstIdOutside(const HostTensor &ids, int64_t limit);

} // namespace nnrt
