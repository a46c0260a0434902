// The driver registry: an explicit table of the drivers this runtime was built with, so which
// devices exist is visible in one place (not discovered from files or the environment).
#pragma once

#include "runtime/device/Device.h"

#include <memory>
#include <string_view>
#include <vector>

namespace nnrt {

/// A new device of the named driver, or "unknown device 'x' (available: cpu, null)".
nnc::StatusOr<std::unique_ptr<Device>> createDevice(std::string_view driver);
/// The registered driver names, in registration order.
std::vector<std::string_view> driverNames();

} // namespace nnrt
