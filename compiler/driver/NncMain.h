// Entry points of the `nnc` tool: tools/nnc/nnc.cpp only calls nncMain; compileModel is
// `nnc compile` after its flags are parsed, which the Python package calls in process.
#pragma once

#include "compiler/driver/ModelFlags.h"
#include "compiler/pipeline/Pipeline.h"

#include <cstdint>
#include <string>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace nnc {
/// Runs `nnc <command> ...`; returns the process exit code.
int nncMain(int argc, char **argv);

/// The flags of `nnc compile`, parsed.
struct CompileRequest {
  std::string input;             // model.pb, model.pbtxt or model.onnx
  std::string output = "-";      // -o
  std::string compileTo = "plan";
  std::string target = "cpu";    // cpu or cuda
  int64_t dataParallel = 0, bucketBytes = 0, pipelineStages = 0, microBatches = 0;
  std::string stageBoundaries;   // comma-separated node names
  bool printLaunchStats = false; // --print-launch-stats (--target cuda)
  bool gpuIr = false;            // --gpu-ir (--target cuda --compile-to=codegen)
  int64_t memoryBudget = 0;      // --memory-budget in bytes (0: none), nnc-recompute's
  ModelOptions model;            // --batch-size, --loss, --optimizer, ... (ModelFlags.h)
  int64_t tensorParallel = 0;    // --tensor-parallel T
  // --fuse-attention (CPU plans); none: auto, bf16/fp16 models too where the CPU has no AMX.
  std::optional<AttentionFusion> fuseAttention;
  int64_t zeroStage = -1;        // --zero (issue 20); -1: the model's data_parallel.zero_stage
};

/// Runs `nnc compile` as its flags asked, writing what the tool prints on stderr (a summary,
/// warnings, or the one error line "nnc: error: ...") to `errs`; returns the exit code. A
/// process may call it any number of times.
int compileModel(const CompileRequest &request, llvm::raw_ostream &errs);
} // namespace nnc
