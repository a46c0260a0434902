// The plan's integrity check, shared by the compiler (which writes it) and the runtime (which
// verifies it): FNV-1a 64 over the plan serialized deterministically with `checksum` = 0. It
// catches damaged files, not tampering.
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <string>

namespace nnc {

/// Serializes with map entries in key order, so equal messages give equal bytes.
inline std::string serializeDeterministic(const google::protobuf::MessageLite &message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

inline uint64_t fnv1a64(const std::string &bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

/// The checksum of `plan` (a message with a `checksum` field), computed with that field at 0.
template <typename PlanT>
uint64_t planChecksum(PlanT plan) {
  plan.set_checksum(0);
  return fnv1a64(serializeDeterministic(plan));
}

} // namespace nnc
