// Loading a shared object from bytes in memory, with no file on disk and no linker: the bytes go
// into an anonymous memfd that dlopen maps through /proc/self/fd/N.
#pragma once

#include "runtime/device/Device.h"

namespace nnrt {

/// Loads `image` (an ELF shared object) and resolves `symbols` in order; the result's kernel(i)
/// is the address of symbols[i].
nnc::StatusOr<std::unique_ptr<KernelLibrary>>
loadSharedObject(std::string_view image, const std::vector<std::string> &symbols);

} // namespace nnrt
