// Reading data files that may or may not be gzipped (Debian ships MNIST-style datasets as .gz):
// zlib's gzread passes plain files through unchanged, so callers need not know which they have.
#pragma once

#include "support/StatusOr.h"

#include <string>

namespace nnrt::trainer {

/// The file's bytes, inflated if it is gzip; "<path>: cannot read: ..." or "<path>: corrupt or
/// truncated gzip data" otherwise.
nnc::StatusOr<std::string> readMaybeGzip(const std::string &path);

} // namespace nnrt::trainer
