// Whole-file reads and writes with one-line errors that start with the path, shared by the plan
// loader and the .npy reader.
#pragma once

#include "support/StatusOr.h"

#include <string>
#include <string_view>

namespace nnrt {

/// The file's bytes, or "<path>: cannot read: <reason>".
nnc::StatusOr<std::string> readFile(const std::string &path);
/// Writes `bytes` to `path` (replacing it), or "<path>: cannot write: <reason>".
nnc::Status writeFile(const std::string &path, std::string_view bytes);

} // namespace nnrt
