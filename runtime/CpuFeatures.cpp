// The feature table: LLVM's X86 feature names mapped to GCC's __builtin_cpu_supports, which reads
// CPUID once at startup and also accounts for OS support of the AVX/AVX-512 register state.
//
// Names GCC 12 does not accept, and what they mean here:
//   - "64bit", "x87", "fxsr", "cx8", "cmov", "mmx", "sse", "sse2": part of every x86-64 CPU, so
//     present whenever this (x86-64) runtime runs at all.
//   - "cx16" (cmpxchg16b): missing only on the very first x86-64 CPUs; read from CPUID directly.
//   - "crc32" (split from "sse4.2" in LLVM 14): the same hardware as sse4.2.
//   - "evex512" (LLVM 18, for AVX10/256-only parts): 512-bit EVEX, present with avx512f on every
//     AVX-512 CPU this runtime can meet.
// Anything else is Unknown and refused: running code built for a feature the table cannot check
// risks SIGILL in the middle of training, which is worse than a clear refusal.
#include "runtime/CpuFeatures.h"

#include <cpuid.h>

namespace nnrt {
namespace {

bool hasCx16() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_CMPXCHG16B);
}

struct Feature {
  std::string_view name;
  bool (*present)();
};

// __builtin_cpu_supports needs a string literal, hence one lambda per name.
#define NNRT_GCC_FEATURE(name)                                                                     \
  Feature { name, [] { return __builtin_cpu_supports(name) != 0; } }
#define NNRT_BASELINE_FEATURE(name)                                                                \
  Feature { name, [] { return true; } }

const Feature kFeatures[] = {
    NNRT_BASELINE_FEATURE("64bit"), NNRT_BASELINE_FEATURE("x87"), NNRT_BASELINE_FEATURE("fxsr"),
    NNRT_BASELINE_FEATURE("cx8"), NNRT_BASELINE_FEATURE("cmov"), NNRT_BASELINE_FEATURE("mmx"),
    NNRT_BASELINE_FEATURE("sse"), NNRT_BASELINE_FEATURE("sse2"), Feature{"cx16", hasCx16},
    Feature{"crc32", [] { return __builtin_cpu_supports("sse4.2") != 0; }},
    Feature{"evex512", [] { return __builtin_cpu_supports("avx512f") != 0; }},
    NNRT_GCC_FEATURE("sse3"), NNRT_GCC_FEATURE("ssse3"), NNRT_GCC_FEATURE("sse4.1"),
    NNRT_GCC_FEATURE("sse4.2"), NNRT_GCC_FEATURE("sse4a"), NNRT_GCC_FEATURE("popcnt"),
    NNRT_GCC_FEATURE("lzcnt"), NNRT_GCC_FEATURE("movbe"), NNRT_GCC_FEATURE("bmi"),
    NNRT_GCC_FEATURE("bmi2"), NNRT_GCC_FEATURE("adx"), NNRT_GCC_FEATURE("aes"),
    NNRT_GCC_FEATURE("pclmul"), NNRT_GCC_FEATURE("sha"), NNRT_GCC_FEATURE("vaes"),
    NNRT_GCC_FEATURE("vpclmulqdq"), NNRT_GCC_FEATURE("gfni"), NNRT_GCC_FEATURE("rdrnd"),
    NNRT_GCC_FEATURE("rdseed"), NNRT_GCC_FEATURE("xsave"), NNRT_GCC_FEATURE("prfchw"),
    NNRT_GCC_FEATURE("f16c"), NNRT_GCC_FEATURE("fma"), NNRT_GCC_FEATURE("fma4"),
    NNRT_GCC_FEATURE("xop"), NNRT_GCC_FEATURE("avx"), NNRT_GCC_FEATURE("avx2"),
    NNRT_GCC_FEATURE("avxvnni"), NNRT_GCC_FEATURE("avx512f"), NNRT_GCC_FEATURE("avx512bw"),
    NNRT_GCC_FEATURE("avx512cd"), NNRT_GCC_FEATURE("avx512dq"), NNRT_GCC_FEATURE("avx512vl"),
    NNRT_GCC_FEATURE("avx512vnni"), NNRT_GCC_FEATURE("avx512bf16"), NNRT_GCC_FEATURE("avx512fp16"),
    NNRT_GCC_FEATURE("avx512ifma"), NNRT_GCC_FEATURE("avx512vbmi"), NNRT_GCC_FEATURE("avx512vbmi2"),
    NNRT_GCC_FEATURE("avx512bitalg"), NNRT_GCC_FEATURE("avx512vpopcntdq"),
    NNRT_GCC_FEATURE("avx512vp2intersect"), NNRT_GCC_FEATURE("amx-tile"),
    NNRT_GCC_FEATURE("amx-int8"), NNRT_GCC_FEATURE("amx-bf16"),
};

#undef NNRT_GCC_FEATURE
#undef NNRT_BASELINE_FEATURE

} // namespace

FeatureSupport hostSupports(std::string_view llvmName) {
  // libgcc fills the CPU model from a constructor; calling it again is cheap and makes the table
  // safe to use from other constructors too.
  __builtin_cpu_init();
  if (!llvmName.empty() && llvmName.front() == '+')
    llvmName.remove_prefix(1);
  for (const Feature &feature : kFeatures)
    if (feature.name == llvmName)
      return feature.present() ? FeatureSupport::Present : FeatureSupport::Missing;
  return FeatureSupport::Unknown;
}

nnc::Status checkCpuFeatures(const std::vector<std::string> &features, std::string_view targetCpu) {
  std::string compiledFor =
      targetCpu.empty() ? "" : " (compiled for " + std::string(targetCpu) + ")";
  for (const std::string &feature : features) {
    if (!feature.empty() && feature.front() == '-')
      continue;
    std::string name = feature.empty() || feature.front() != '+' ? feature : feature.substr(1);
    switch (hostSupports(name)) {
    case FeatureSupport::Present:
      break;
    case FeatureSupport::Missing:
      return nnc::Status::error("plan needs CPU feature '" + name + "' which this machine lacks" +
                                compiledFor);
    case FeatureSupport::Unknown:
      return nnc::Status::error("plan needs CPU feature '" + name +
                                "' which this nnrun cannot check" + compiledFor);
    }
  }
  return nnc::Status();
}

std::vector<std::string_view> knownCpuFeatures() {
  std::vector<std::string_view> names;
  for (const Feature &feature : kFeatures)
    names.push_back(feature.name);
  return names;
}

} // namespace nnrt
