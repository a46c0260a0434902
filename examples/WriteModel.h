// The shared tail of every example program: save the model to argv[1] and print one summary
// line, or one error line and a non-zero exit code.
#pragma once

#include "frontend/Model.h"

#include <cstdio>

namespace nnc::examples {

inline int writeModel(const frontend::Model &model, int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <model.pb>\n", argv[0]);
    return 2;
  }
  Status status = model.save(argv[1]);
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 1;
  }
  std::printf("%s, written to %s\n", model.summary().c_str(), argv[1]);
  return 0;
}

} // namespace nnc::examples
