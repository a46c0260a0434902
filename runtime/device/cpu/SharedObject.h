// Loading a shared object from bytes in memory, with no file on disk and no linker: the bytes go
// into an anonymous memfd that dlopen maps through /proc/self/fd/N.
#pragma once

#include "runtime/device/Device.h"

namespace nnrt {

/// A kernel of a loaded library: its entry, and where the kernel's work splits into row shares,
/// the entry that runs share `part` of `parts` (shares write disjoint memory and may run on
/// several threads at once); null otherwise.
struct CpuKernel {
  using Entry = void (*)(void **args);
  using PartEntry = void (*)(void **args, int64_t part, int64_t parts);
  Entry entry = nullptr;
  PartEntry part = nullptr;
};

/// The share entry of kernel `s` is `s + kPartSuffix` (compiler/codegen/CpuCodegen.h).
inline constexpr const char *kPartSuffix = "_part";

/// Loads `image` (an ELF shared object) and resolves `symbols` in order; the result's kernel(i)
/// is a CpuKernel for symbols[i].
nnc::StatusOr<std::unique_ptr<KernelLibrary>>
loadSharedObject(std::string_view image, const std::vector<std::string> &symbols);

} // namespace nnrt
