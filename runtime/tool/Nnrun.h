// nnrun's behaviour as a library function, so tests can drive the tool's command line without a
// process: tools/nnrun/nnrun.cpp only forwards argv here.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace nnrt {

/// Runs `nnrun <args...>` (args exclude the program name) and returns the exit code: 0 on
/// success, 1 after writing exactly one line "nnrun: error: <file>: <problem>" to `err`.
int nnrunMain(const std::vector<std::string> &args, std::ostream &out, std::ostream &err);

} // namespace nnrt
