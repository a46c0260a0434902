// Fuzzes plan loading: parsePlan on the input's bytes, then validatePlan on any input protobuf
// accepts, so mutated plans reach the structural checks despite their stale checksum.
#include "runtime/PlanLoader.h"

#include <google/protobuf/stubs/logging.h>

#include <climits>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  (void)nnrt::parsePlan(bytes);
  nnc::Plan plan;
  google::protobuf::LogSilencer silence;
  if (size <= INT_MAX && plan.ParseFromArray(data, int(size)))
    (void)nnrt::validatePlan(plan);
  return 0;
}
