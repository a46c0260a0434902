// Checking a CudaKernelLibrary and packing launch parameters (no CUDA calls here).
#include "runtime/device/cuda/CudaKernels.h"

#include <google/protobuf/stubs/logging.h>

#include <climits>
#include <map>

namespace nnrt::cuda {

namespace {

/// CUDA's limits on any launch (compute capability 3.0 and later).
constexpr uint64_t kMaxGrid[3] = {2147483647u, 65535u, 65535u};
constexpr uint32_t kMaxBlock[3] = {1024, 1024, 64};
constexpr uint64_t kMaxThreadsPerBlock = 1024;

nnc::Status checkLaunch(const nnc::CudaLaunch &launch, LaunchSpec &spec) {
  if (launch.function().empty())
    return nnc::Status::error("a launch without a PTX entry name");
  spec.function = launch.function();
  std::string where = "launch of '" + launch.function() + "'";
  if (launch.grid_size() != 3 || launch.block_size() != 3)
    return nnc::Status::error(where + " needs 3 grid and 3 block dimensions");
  uint64_t threads = 1;
  for (int i = 0; i < 3; ++i) {
    if (launch.grid(i) < 1 || launch.grid(i) > kMaxGrid[i] || launch.block(i) < 1 ||
        launch.block(i) > kMaxBlock[i])
      return nnc::Status::error(where + " has grid (" + std::to_string(launch.grid(0)) + ", " +
                                std::to_string(launch.grid(1)) + ", " +
                                std::to_string(launch.grid(2)) + ") and block (" +
                                std::to_string(launch.block(0)) + ", " +
                                std::to_string(launch.block(1)) + ", " +
                                std::to_string(launch.block(2)) + "), outside CUDA's limits");
    spec.grid[i] = launch.grid(i);
    spec.block[i] = launch.block(i);
    threads *= launch.block(i);
  }
  if (threads > kMaxThreadsPerBlock)
    return nnc::Status::error(where + " has " + std::to_string(threads) +
                              " threads per block, more than CUDA's 1024");
  for (uint32_t arg : launch.args()) {
    spec.args.push_back(arg);
    spec.argsNeeded = std::max<size_t>(spec.argsNeeded, size_t(arg) + 1);
  }
  return nnc::Status();
}

} // namespace

nnc::StatusOr<ParsedLibrary> parseKernelLibrary(std::string_view image,
                                                const std::vector<std::string> &symbols) {
  nnc::CudaKernelLibrary library;
  bool parsed;
  {
    google::protobuf::LogSilencer silence;
    parsed = image.size() < INT_MAX &&
             library.ParseFromArray(image.data(), static_cast<int>(image.size()));
  }
  // An ELF shared object (a --target cpu plan) starts with 0x7f 'E' 'L' 'F', which protobuf
  // rejects (field 15, wire type 7); an empty one parses as an empty library.
  if (!parsed || (library.arch().empty() && library.kernels_size() == 0))
    return nnc::Status::error("the kernel library is not CUDA code (was the plan compiled with "
                              "'nnc compile --target cuda'?)");
  std::map<std::string, const nnc::CudaKernel *> bySymbol;
  for (const nnc::CudaKernel &kernel : library.kernels())
    if (!bySymbol.emplace(kernel.symbol(), &kernel).second)
      return nnc::Status::error("kernel library defines '" + kernel.symbol() + "' twice");
  ParsedLibrary result;
  result.arch = library.arch();
  bool anyLaunch = false;
  for (const std::string &symbol : symbols) {
    auto it = bySymbol.find(symbol);
    if (it == bySymbol.end())
      return nnc::Status::error("kernel library does not export '" + symbol + "'");
    KernelSpec &spec = result.kernels.emplace_back();
    spec.symbol = symbol;
    for (const nnc::CudaLaunch &launch : it->second->launches()) {
      if (nnc::Status s = checkLaunch(launch, spec.launches.emplace_back()); !s.ok())
        return nnc::Status::error("kernel '" + symbol + "': " + s.message());
      anyLaunch = true;
    }
  }
  if (anyLaunch && library.ptx().empty())
    return nnc::Status::error("kernel library has launches but no PTX");
  result.ptx = library.ptx();
  return result;
}

nnc::Status packLaunchParams(const LaunchSpec &launch, void **args, size_t count,
                             std::vector<void *> &params) {
  if (launch.argsNeeded > count)
    return nnc::Status::error("launch of '" + launch.function + "' needs argument " +
                              std::to_string(launch.argsNeeded - 1) + " but the call has " +
                              std::to_string(count));
  params.resize(launch.args.size());
  for (size_t j = 0; j < launch.args.size(); ++j)
    params[j] = &args[launch.args[j]];
  return nnc::Status();
}

} // namespace nnrt::cuda
