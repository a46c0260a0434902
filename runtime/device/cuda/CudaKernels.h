// The host-side logic of running a TARGET_CUDA plan's kernels, apart from any CUDA call so that
// it is tested without a GPU: checking the plan's CudaKernelLibrary against the symbols the
// executor asks for, and packing a KernelCall's device pointers into cuLaunchKernel parameters.
#pragma once

#include "proto/plan.pb.h"
#include "support/StatusOr.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nnrt::cuda {

/// One cuLaunchKernel: a PTX entry, its grid and block, and which KernelCall argument each of
/// its parameters is.
struct LaunchSpec {
  std::string function;
  std::array<uint32_t, 3> grid{1, 1, 1};
  std::array<uint32_t, 3> block{1, 1, 1};
  std::vector<uint32_t> args;
  size_t argsNeeded = 0; // 1 + the largest index in args (0 when none)
};

/// What one KernelCall symbol runs, in order.
struct KernelSpec {
  std::string symbol;
  std::vector<LaunchSpec> launches;
};

struct ParsedLibrary {
  std::string ptx; // NUL-terminated by std::string's c_str()
  std::string arch;
  std::vector<KernelSpec> kernels; // in the order of the requested symbols
};

/// Parses `image` (a serialized nnc.CudaKernelLibrary) and resolves `symbols` in order. Refuses a
/// library that is not one ("not CUDA code: compiled with --target cpu?"), lacks a symbol
/// ("kernel library does not export 'nnc_k0'"), or has a launch outside CUDA's limits.
nnc::StatusOr<ParsedLibrary> parseKernelLibrary(std::string_view image,
                                                const std::vector<std::string> &symbols);

/// cuLaunchKernel's kernelParams for `launch`: params[j] points at args[launch.args[j]], the
/// slot holding that argument's device address (each PTX parameter is one 64-bit pointer). The
/// slots must stay put until the launch call returns.
nnc::Status packLaunchParams(const LaunchSpec &launch, void **args, size_t count,
                             std::vector<void *> &params);

} // namespace nnrt::cuda
