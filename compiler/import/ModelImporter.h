// The importer: a model.pb (nnc.Model) becomes a module holding one `nn`-dialect function.
//
// The function `@forward` takes the graph inputs and then the parameters as arguments and returns
// the loss followed by the model's outputs. Every op is located at its node's name (NameLoc), and
// the TrainingSpec rides along as the module attribute `nn.training`.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace nnc {
class Model;

/// Reads a model file: binary protobuf, or protobuf text format when the path ends in ".pbtxt".
/// On failure returns false and sets `error` to one line naming the problem (without the path).
bool readModelFile(const std::string &path, Model &model, std::string &error);

/// Builds and verifies the `nn` module for `model`. Problems are emitted as MLIR diagnostics at
/// the offending node's location (or an unknown location for model-level fields); the first one
/// stops the import and null is returned. `inference`: the model's training spec is ignored and
/// @forward returns only its outputs (the module is marked nnc.inference).
mlir::OwningOpRef<mlir::ModuleOp> importModel(const Model &model, mlir::MLIRContext *context,
                                              bool inference = false);

} // namespace nnc
