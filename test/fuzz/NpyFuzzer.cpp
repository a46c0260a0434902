// Fuzzes .npy parsing (nnrun's inputs, outputs and --data X.npy,Y.npy); a parsed tensor must
// round-trip through serializeNpy.
#include "runtime/Npy.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  nnc::StatusOr<nnrt::HostTensor> tensor = nnrt::parseNpy(bytes);
  if (!tensor.ok())
    return 0;
  nnc::StatusOr<nnrt::HostTensor> again = nnrt::parseNpy(nnrt::serializeNpy(*tensor));
  if (!again.ok() || again->shape != tensor->shape || again->data != tensor->data)
    std::abort();
  return 0;
}
