// HostTensor and the dtype/shape helpers behind the runtime's error messages.
#include "runtime/HostTensor.h"

#include <algorithm>

namespace nnrt {

int64_t dtypeSize(nnc::DType dtype) {
  switch (dtype) {
  case nnc::F32:
  case nnc::I32:
    return 4;
  case nnc::F16:
  case nnc::BF16:
    return 2;
  case nnc::I64:
    return 8;
  default:
    return 0;
  }
}

std::string formatDType(nnc::DType dtype) {
  switch (dtype) {
  case nnc::F32:
    return "f32";
  case nnc::F16:
    return "f16";
  case nnc::BF16:
    return "bf16";
  case nnc::I32:
    return "i32";
  case nnc::I64:
    return "i64";
  default:
    return "unset";
  }
}

std::string formatShape(const Shape &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t numElements(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return -1;
  }
  return n;
}

int64_t byteSize(nnc::DType dtype, const Shape &shape) {
  int64_t n = numElements(shape), size = dtypeSize(dtype), bytes = 0;
  if (n < 0 || size == 0 || __builtin_mul_overflow(n, size, &bytes))
    return -1;
  return bytes;
}

Shape shapeOf(const nnc::TensorType &type) { return Shape(type.shape().begin(), type.shape().end()); }

HostTensor::HostTensor(nnc::DType dtype, Shape shape)
    : dtype(dtype), shape(std::move(shape)),
      data(static_cast<size_t>(std::max<int64_t>(byteSize(dtype, this->shape), 0))) {}

HostTensor HostTensor::fromFloats(Shape shape, const std::vector<float> &values) {
  HostTensor t(nnc::F32, std::move(shape));
  if (!values.empty()) // memcpy from an empty vector's null data() is undefined even for 0 bytes
    std::memcpy(t.data.data(), values.data(), std::min(t.data.size(), values.size() * 4));
  return t;
}

std::vector<float> HostTensor::toFloats() const {
  std::vector<float> values(data.size() / 4);
  if (!values.empty())
    std::memcpy(values.data(), data.data(), values.size() * 4);
  return values;
}

int64_t firstIdOutside(const HostTensor &ids, int64_t limit) {
  auto find = [&](const auto *values) {
    for (int64_t i = 0; i < ids.numElements(); ++i)
      if (values[i] < 0 || values[i] >= limit)
        return i;
    return int64_t(-1);
  };
  if (ids.dtype == nnc::I64)
    return find(reinterpret_cast<const int64_t *>(ids.data.data()));
  if (ids.dtype == nnc::I32)
    return find(reinterpret_cast<const int32_t *>(ids.data.data()));
  return -1;
}

nnc::Status checkType(const HostTensor &tensor, const nnc::TensorType &type) {
  if (tensor.dtype == type.dtype() && tensor.shape == shapeOf(type))
    return nnc::Status();
  return nnc::Status::error("expected shape " + formatShape(shapeOf(type)) + " " +
                            formatDType(type.dtype()) + ", got " + tensor.describe());
}

} // namespace nnrt
