// Fuzzes the CSV reader (--data table.csv) with integer and float labels.
#include "runtime/trainer/Dataset.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  (void)nnrt::trainer::parseCsv(text, "fuzz.csv", "label", nnc::I64);
  (void)nnrt::trainer::parseCsv(text, "fuzz.csv", "label", nnc::F32, /*allowNonfinite=*/true);
  return 0;
}
