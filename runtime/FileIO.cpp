// Whole-file I/O with errors that carry strerror's reason; writes are atomic.
#include "runtime/FileIO.h"

#include "support/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

namespace nnrt {

nnc::StatusOr<std::string> readFile(const std::string &path) {
  auto fail = [&](int error) {
    return nnc::Status::error(path + ": cannot read: " + std::strerror(error));
  };
  // fopen succeeds on a directory and fread then fails with EISDIR; stat first for a clear reason.
  struct stat info;
  if (::stat(path.c_str(), &info) != 0)
    return fail(errno);
  if (S_ISDIR(info.st_mode))
    return fail(EISDIR);
  // A device such as /dev/zero would be read until memory runs out; a FIFO or socket would
  // block until something writes to it.
  if (!S_ISREG(info.st_mode))
    return nnc::Status::error(path + ": cannot read: not a regular file");
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return fail(errno);
  std::string bytes;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0)
    bytes.append(buffer, n);
  int error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (error)
    return fail(error);
  return bytes;
}

nnc::Status writeFile(const std::string &path, std::string_view bytes) {
  return nnc::writeFileAtomically(path, bytes);
}

} // namespace nnrt
