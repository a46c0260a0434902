// Deploying what was trained: the predict graph of an nnc.Model (the one every plan embeds) with
// trained parameter values and the input normalization training applied, as an ONNX model
// (opset 17) that ONNX Runtime and other inference engines run. Plain C++ over protobuf
// classes, no MLIR: nnrun (--export-onnx) and the Python package (Plan.export_onnx) link it.
//
// Each nnc op maps to ONNX nodes through one entry of a table (OnnxExporter.cpp, opExporters());
// an op without an entry is refused with the node and op named. The graph computes in f32 from
// the f32 parameters, whatever precision the plan trained in (a bf16 plan's predictions then
// differ from it by bf16 rounding).
#pragma once

#include "proto/plan.pb.h"
#include "runtime/HostTensor.h"
#include "support/StatusOr.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace nnrt {
class Executor;
} // namespace nnrt

namespace nnc::exporter {

using NamedTensors = std::vector<std::pair<std::string, nnrt::HostTensor>>;

/// The ONNX ModelProto, serialized, computing `model`'s outputs from its features input(s).
/// `values` holds every parameter the outputs depend on (as the plan's parameter table or a
/// checkpoint names them) and, when training normalized the inputs, the tensors
/// nnc.input_mean / nnc.input_stddev, applied to the first features input in the graph. The
/// batch dimension is left symbolic ("batch"). `outputTypes` gives the outputs' shapes (a
/// plan's predict function knows them). Errors name the node and op that cannot be exported,
/// or the parameter that is missing.
nnc::StatusOr<std::string> exportOnnx(const nnc::Model &model, const NamedTensors &values,
                                      const std::map<std::string, nnc::TensorType> &outputTypes = {});

/// Exports the model `exec`'s plan was compiled from, with the executor's current parameter
/// values and `normalization` (as Normalization::tensors() gives them; may be empty), to
/// `path`, written to a temporary name and renamed into place. Errors start with `path` or
/// with `planPath`.
nnc::Status exportPlanToOnnx(const nnrt::Executor &exec, const NamedTensors &normalization,
                             const std::string &planPath, const std::string &path);

} // namespace nnc::exporter
