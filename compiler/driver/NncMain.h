// Entry point of the `nnc` tool; tools/nnc/nnc.cpp only calls it.
#pragma once

namespace nnc {
/// Runs `nnc <command> ...`; returns the process exit code.
int nncMain(int argc, char **argv);
} // namespace nnc
