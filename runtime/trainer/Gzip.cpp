// readMaybeGzip over zlib's gzFile interface.
#include "runtime/trainer/Gzip.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace nnrt::trainer {

nnc::StatusOr<std::string> readMaybeGzip(const std::string &path) {
  using nnc::Status;
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    return Status::error(path + ": cannot read: " +
                         (std::filesystem::exists(path, error) ? "not a regular file"
                                                               : "no such file"));
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file)
    return Status::error(path + ": cannot read: " + std::strerror(errno));
  gzbuffer(file, 1 << 20);
  std::string bytes;
  char chunk[1 << 16];
  int n = 0;
  while ((n = gzread(file, chunk, sizeof chunk)) > 0)
    bytes.append(chunk, n);
  int code = 0;
  std::string problem = n < 0 ? gzerror(file, &code) : "";
  // A gzip stream cut short reads as a clean end of file; gzclose_r reports it (Z_BUF_ERROR).
  int closed = gzclose_r(file);
  if (n < 0 || closed != Z_OK)
    return Status::error(path + ": corrupt or truncated gzip data" +
                         (problem.empty() ? "" : " (" + problem + ")"));
  return bytes;
}

} // namespace nnrt::trainer
