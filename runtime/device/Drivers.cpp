// The registry table. Adding a driver is one line here and one factory in its own directory.
#include "runtime/device/Drivers.h"

#include "runtime/device/cpu/CpuDevice.h"
#include "runtime/device/null/NullDevice.h"

namespace nnrt {
namespace {

struct Driver {
  std::string_view name;
  std::unique_ptr<Device> (*create)();
};

const Driver kDrivers[] = {
    {"cpu", [] { return std::unique_ptr<Device>(std::make_unique<CpuDevice>()); }},
    {"null", [] { return std::unique_ptr<Device>(std::make_unique<NullDevice>()); }},
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
