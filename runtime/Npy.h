// NumPy .npy files (format versions 1.0, 2.0 and 3.0): how nnrun takes inputs and hands back
// outputs and parameters, so a Python script can compare them with PyTorch. Only little-endian,
// C-order arrays of the dtypes plans use: '<f4' (f32), '<f2' (f16), '<i8' (i64), '<i4' (i32).
#pragma once

#include "runtime/HostTensor.h"
#include "support/StatusOr.h"

#include <string>
#include <string_view>

namespace nnrt {

/// Parses the bytes of a .npy file. Errors are one line without a file name: "not a .npy file",
/// "unsupported dtype '>f8' ...", "truncated data: ...".
nnc::StatusOr<HostTensor> parseNpy(std::string_view bytes);
/// The bytes of a version 1.0 .npy file (2.0 if the header needs more than 64 KiB).
std::string serializeNpy(const HostTensor &tensor);

/// File wrappers; their errors start with the path: "input.npy: not a .npy file".
nnc::StatusOr<HostTensor> readNpy(const std::string &path);
nnc::Status writeNpy(const std::string &path, const HostTensor &tensor);

} // namespace nnrt
