// The registry table. Adding a driver is one line here and one factory in its own directory.
#include "runtime/device/Drivers.h"

#include "runtime/device/cpu/CpuDevice.h"
#include "runtime/device/null/NullDevice.h"
#if NNRT_WITH_CUDA
#include "runtime/device/cuda/CudaDevice.h"
#endif

namespace nnrt {
namespace {

/// A driver's factory fails where its hardware or libraries are missing ("CUDA is not
/// available: ...").
struct Driver {
  std::string_view name;
  nnc::StatusOr<std::unique_ptr<Device>> (*create)();
};

const Driver kDrivers[] = {
    {"cpu", [] { return nnc::StatusOr<std::unique_ptr<Device>>(std::make_unique<CpuDevice>()); }},
    {"null", [] { return nnc::StatusOr<std::unique_ptr<Device>>(std::make_unique<NullDevice>()); }},
#if NNRT_WITH_CUDA
    {"cuda", createCudaDevice},
#else
    {"cuda",
     [] {
       return nnc::StatusOr<std::unique_ptr<Device>>(nnc::Status::error(
           "CUDA is not available: this nnrun was built without the CUDA headers"));
     }},
#endif
};

} // namespace

nnc::StatusOr<std::unique_ptr<Device>> createDevice(std::string_view driver) {
  std::string available;
  for (const Driver &entry : kDrivers) {
    if (entry.name == driver)
      return entry.create();
    available += (available.empty() ? "" : ", ") + std::string(entry.name);
  }
  return nnc::Status::error("unknown device '" + std::string(driver) + "' (available: " +
                            available + ")");
}

std::vector<std::string_view> driverNames() {
  std::vector<std::string_view> names;
  for (const Driver &entry : kDrivers)
    names.push_back(entry.name);
  return names;
}

} // namespace nnrt
