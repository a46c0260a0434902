// Whole-file I/O with errors that carry strerror's reason; writes are atomic.
#include "runtime/FileIO.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

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
  // A device such as /dev/zero would be read until memory runs out.
  if (S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode))
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

namespace {

nnc::Status errnoError(const std::string &path, const char *action, int error = errno) {
  return nnc::Status::error(path + ": cannot " + action + ": " + std::strerror(error));
}

} // namespace

nnc::Status writeFile(const std::string &path, std::string_view bytes) {
  std::filesystem::path target(path);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::string temp = (dir / ("." + target.filename().string() + ".tmp")).string();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errnoError(path, "write");
  auto fail = [&](const char *action) {
    nnc::Status error = errnoError(path, action);
    ::close(fd);
    ::unlink(temp.c_str());
    return error;
  };
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return fail("write");
    done += size_t(n);
  }
  if (::fsync(fd) != 0)
    return fail("write (fsync)");
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    nnc::Status error = errnoError(path, "write (rename into place)");
    ::unlink(temp.c_str());
    return error;
  }
  // The rename itself lives in the directory: sync it, or a crash may forget the new name.
  int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0)
    return errnoError(dir.string(), "open directory");
  int synced = ::fsync(dirFd);
  ::close(dirFd);
  if (synced != 0)
    return errnoError(dir.string(), "fsync directory");
  return nnc::Status();
}

} // namespace nnrt
