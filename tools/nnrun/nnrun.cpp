// nnrun: runs a plan compiled by `nnc compile`. All behaviour lives in runtime/tool/Nnrun.cpp.
#include "runtime/tool/Nnrun.h"

#include <iostream>

int main(int argc, char **argv) {
  return nnrt::nnrunMain(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
