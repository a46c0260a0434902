// Whole-file reads and atomic writes with one-line errors that start with the path, shared by
// the plan loader, checkpoints, reports and the .npy reader and writer.
#pragma once

#include "support/StatusOr.h"

#include <string>
#include <string_view>

namespace nnrt {

/// The file's bytes, or "<path>: cannot read: <reason>".
nnc::StatusOr<std::string> readFile(const std::string &path);
/// Writes `bytes` to `path` atomically (support/AtomicFile.h: a temporary file beside it, fsync,
/// rename), or "<path>: cannot write: <reason>". A crash or a kill at any point leaves the old
/// file or the new one, never a mix.
nnc::Status writeFile(const std::string &path, std::string_view bytes);

} // namespace nnrt
