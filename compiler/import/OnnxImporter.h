// The ONNX importer: an ONNX file (a PyTorch export) becomes an `nnc.Model`, which the pipeline
// then compiles exactly like a model.pb (compiler/import/ModelImporter.h).
//
// ONNX has no loss or optimizer; the importer adds the loss node and its labels input when asked
// (OnnxImportOptions::loss), the driver's flags fill in the rest of the TrainingSpec.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nnc {
class Model;

struct OnnxImportOptions {
  /// The batch (leading) dimension of every graph input; 0 keeps the file's, which must then be
  /// a number (a symbolic dim_param needs a batch size).
  int64_t batchSize = 0;
  /// "" (no loss), "cross-entropy" (labels: i64 class ids, the output's shape without its last
  /// dimension) or "mse" (labels: the output's shape), over the model's first output.
  std::string loss;
  double labelSmoothing = 0;
};

/// Whether `path` holds an ONNX model: it ends in ".onnx", or it parses as an ONNX ModelProto
/// with a graph (and not as an nnc model).
bool isOnnxFile(const std::string &path);

/// Reads the ONNX file at `path` (external-data files are looked up beside it) into `model`.
/// On failure returns false and sets `error` to one line, without the path, naming the node,
/// its op and the offending value.
bool importOnnxFile(const std::string &path, const OnnxImportOptions &options, Model &model,
                    std::string &error);

/// The ONNX ops the importer maps, each with what it becomes, for `nnc import --list-ops`.
std::vector<std::pair<std::string, std::string>> supportedOnnxOps();

} // namespace nnc
