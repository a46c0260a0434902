// nnrun: runs a plan compiled by `nnc compile`. All behaviour lives in runtime/tool/Nnrun.cpp.
#include "runtime/tool/Nnrun.h"

#include <cstdio>
#include <iostream>

int main(int argc, char **argv) {
  // A log redirected to a file (or piped to mpirun) shows each line as it is printed, not when
  // a 4 KiB buffer fills or the run ends; std::cout writes through stdio's stdout.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return nnrt::nnrunMain(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
