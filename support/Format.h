// Number formatting for one-line diagnostics: "0.1", "1.5", "inf", not raw_ostream's "1.000000e-01".
#pragma once

#include <cstdio>
#include <string>

namespace nnc {
inline std::string formatNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}
} // namespace nnc
