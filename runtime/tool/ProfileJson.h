// nnrun --profile-json FILE (issue 23): every profiled command as one JSON object per line, each
// library call with its FLOPs and its time run alone, for bench/gemm_instep.py.
#pragma once

#include "runtime/tool/NnrunArgs.h"

#include <optional>
#include <string>

namespace nnrt {

class Executor;

/// Creates (truncates) `path` before any work, so that a run does not train and then find it
/// cannot write.
std::optional<NnrunFailure> createProfileJson(const std::string &path);

/// Times each library call of every function that ran alone (Executor::timeLibraryCallsAlone)
/// and writes every command's record to `path`.
std::optional<NnrunFailure> writeProfileJson(Executor &exec, const std::string &path);

} // namespace nnrt
