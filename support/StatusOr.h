// StatusOr<T>: a value or the error that prevented it, for the parts of nnc that do not use LLVM
// (frontend, runtime). It is nnc::Status with a payload: `if (!r.ok()) return r.status();`.
#pragma once

#include "support/Status.h"

#include <cassert>
#include <optional>
#include <type_traits>
#include <utility>

namespace nnc {

template <typename T> class [[nodiscard]] StatusOr {
  static_assert(!std::is_same_v<T, Status>, "StatusOr<Status> is meaningless");

public:
  StatusOr(T value) : value_(std::move(value)) {}
  // Only errors convert: an ok Status carries no value. Release builds turn the mistake into an
  // error instead of a StatusOr that claims a value it does not have.
  StatusOr(Status status) : status_(std::move(status)) {
    assert(!status_.ok() && "StatusOr constructed from an ok Status");
    if (status_.ok())
      status_ = Status::error("internal error: StatusOr constructed from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  /// The error; an ok Status when there is a value.
  const Status &status() const { return status_; }

  T &value() & { return *value_; }
  const T &value() const & { return *value_; }
  T &&value() && { return std::move(*value_); }
  T &operator*() & { return *value_; }
  const T &operator*() const & { return *value_; }
  T &&operator*() && { return std::move(*value_); }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }

private:
  Status status_;
  std::optional<T> value_;
};

} // namespace nnc
