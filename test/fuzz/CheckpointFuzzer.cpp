// Fuzzes checkpoint parsing (--resume). Every input is parsed twice: as it is, and with its
// record and file checksums recomputed, so that mutations reach the state text and the tensor
// records instead of stopping at a checksum mismatch.
#include "runtime/trainer/Checkpoint.h"
#include "support/Checksum.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

template <typename T> bool read(const std::string &bytes, size_t at, T &value) {
  if (at > bytes.size() || bytes.size() - at < sizeof value)
    return false;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return true;
}

/// Rewrites the checksum of every whole record (see Checkpoint.h for the layout) and the file's.
std::string withChecksums(std::string bytes) {
  size_t at = 8;  // the magic
  for (;;) {
    uint32_t nameLength = 0;
    uint64_t payloadLength = 0;
    if (!read(bytes, at, nameLength) || !read(bytes, at + 4 + nameLength, payloadLength))
      break;
    size_t payloadAt = at + 4 + nameLength + 8;
    if (payloadLength > bytes.size() || bytes.size() - payloadAt < payloadLength + 16)
      break;  // the last record must leave room for its checksum and the file's
    uint64_t sum = nnc::fnv1a64(bytes.substr(payloadAt, payloadLength));
    std::memcpy(&bytes[payloadAt + payloadLength], &sum, sizeof sum);
    at = payloadAt + payloadLength + 8;
  }
  if (bytes.size() >= 8 + 8) {
    uint64_t sum = nnc::fnv1a64(bytes.substr(0, bytes.size() - 8));
    std::memcpy(&bytes[bytes.size() - 8], &sum, sizeof sum);
  }
  return bytes;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  (void)nnrt::trainer::parseCheckpoint(bytes, "fuzz.ckpt");
  (void)nnrt::trainer::parseCheckpoint(withChecksums(bytes), "fuzz.ckpt");
  return 0;
}
