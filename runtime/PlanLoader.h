// Reading a plan (proto/plan.proto) and refusing, with one clear line, any plan this runtime
// cannot run safely: unreadable or corrupt files, other format versions, slices outside the arena
// or of the wrong size, malformed commands, and CPU features this machine lacks.
#pragma once

#include "proto/plan.pb.h"
#include "runtime/device/Device.h"
#include "support/StatusOr.h"

#include <string>
#include <string_view>

namespace nnrt {

/// Reads and checks a plan file: parsePlan on its bytes, errors prefixed with the path
/// ("model.plan: plan version 7 is not supported (this nnrun reads version 1)").
nnc::StatusOr<nnc::Plan> loadPlan(const std::string &path);

/// Parses plan bytes, then validatePlan and checkCpuFeatures.
nnc::StatusOr<nnc::Plan> parsePlan(std::string_view bytes);

/// The structural checks, independent of the host: version, every slice inside the arena and of
/// the size its type or command implies, well-formed commands, unique function names.
nnc::Status validatePlan(const nnc::Plan &plan);

/// A Gemm / Conv2d command as the device sees it, with the plan's defaults filled in (batch 0 ->
/// 1; empty stride / dilation -> 1, empty padding -> 0, groups 0 -> 1).
GemmDesc gemmDescOf(const nnc::Gemm &gemm);
Conv2dDesc conv2dDescOf(const nnc::Conv2d &conv);
/// Issue 23: a CausalAttention command as the device sees it (avx512 left unset: the executor
/// sets it from the plan's CPU features).
AttentionDesc attentionDescOf(const nnc::CausalAttention &attention);

/// "node 'fc1'", or "command 3" for a command without a node name.
std::string describeCommand(const nnc::Command &command, int index);

/// The plan's function named `name`, or null.
const nnc::Function *findFunction(const nnc::Plan &plan, std::string_view name);

} // namespace nnrt
