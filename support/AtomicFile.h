// Whole-file writes that a reader, a crash or a kill never sees half done: the bytes go to a
// temporary file beside the target, are fsync'ed, then renamed over it. Shared by the compiler
// (plans, IR), the frontend (model.pb) and the runtime's reports.
#pragma once

#include "support/Status.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace nnc {

/// The temporary name writeFileAtomically uses for `path`: in the same directory, so the rename
/// stays within one file system, and unique per process. Callers that can catch signals (nnc,
/// through LLVM's RemoveFileOnSignal) register it for removal.
inline std::string temporaryPathFor(const std::string &path) {
  return path + ".tmp." + std::to_string(::getpid());
}

/// Replaces `path` with `bytes`: afterwards it holds either its old contents or all of `bytes`,
/// never a prefix. A failure removes the temporary file. Errors read "<path>: cannot write:
/// <reason>". A symbolic link at `path` is replaced, not followed; an existing file that is not
/// a regular file (/dev/null, a pipe) is written in place, since renaming over it would replace
/// the device itself.
inline Status writeFileAtomically(const std::string &path, std::string_view bytes) {
  auto writeAll = [&](int fd) {
    for (size_t done = 0; done < bytes.size();) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? errno : EIO;
      done += size_t(n);
    }
    return 0;
  };
  auto fail = [&](int error) {
    return Status::error(path + ": cannot write: " + std::strerror(error));
  };

  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
      return fail(errno);
    int error = writeAll(fd);
    if (::close(fd) != 0 && !error)
      error = errno;
    return error ? fail(error) : Status();
  }

  std::string temporary = temporaryPathFor(path);
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return fail(errno);
  int error = writeAll(fd);
  if (!error && ::fsync(fd) != 0)
    error = errno;
  if (::close(fd) != 0 && !error)
    error = errno;
  if (!error && ::rename(temporary.c_str(), path.c_str()) != 0)
    error = errno;
  if (error) {
    ::unlink(temporary.c_str());
    return fail(error);
  }
  // The new name lives in the directory: sync it too, or a crash may forget the rename.
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
  return Status();
}

} // namespace nnc
