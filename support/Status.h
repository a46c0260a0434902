// Status: errors as values for the parts of nnc that do not use LLVM (frontend, runtime).
// A Status is either ok or carries one human-readable line that names what went wrong.
#pragma once

#include <string>
#include <utility>

namespace nnc {

class [[nodiscard]] Status {
public:
  Status() = default;
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string &message() const { return message_; }

private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

} // namespace nnc
