// Host CPU feature checks for plans: the compiler records the LLVM feature names its kernels were
// built for (PlanMetadata.cpu_features) and the runtime refuses a plan whose code would die of an
// illegal instruction here.
#pragma once

#include "support/Status.h"

#include <string>
#include <string_view>
#include <vector>

namespace nnrt {

/// Whether this machine has the LLVM-named feature: true/false, or an error for a name the
/// runtime does not know. A leading '+' is accepted ("+avx512f", as in LLVM feature strings).
/// Names follow LLVM's X86 target ("sse4.2", "avx512vnni", "evex512", "64bit").
enum class FeatureSupport { Present, Missing, Unknown };
FeatureSupport hostSupports(std::string_view llvmName);

/// Ok if the host has every feature, else one line naming the first missing or unknown one, e.g.
/// "plan needs CPU feature 'avx512f' which this machine lacks (compiled for znver4)".
/// Entries starting with '-' (features the compiler disabled) need nothing and are skipped.
nnc::Status checkCpuFeatures(const std::vector<std::string> &features, std::string_view targetCpu);

/// The feature names the runtime knows, for messages and tests.
std::vector<std::string_view> knownCpuFeatures();

} // namespace nnrt
