// A scratch file for fuzzers whose reader takes a path (zlib's gzread): in memory (/dev/shm) where
// there is one, written with a plain fwrite (nnrt::writeFile's fsync would cost more than the
// parse), and removed afterwards.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>

class TempFile {
public:
  /// "/dev/shm/nnc-fuzz-<pid>-<name>" (or in /tmp) holding `bytes`.
  TempFile(const std::string &name, std::string_view bytes)
      : path_(std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/nnc-fuzz-" +
              std::to_string(getpid()) + "-" + name) {
    if (FILE *file = std::fopen(path_.c_str(), "wb")) {
      std::fwrite(bytes.data(), 1, bytes.size(), file);
      std::fclose(file);
    }
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};
