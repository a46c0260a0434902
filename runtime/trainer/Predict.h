// Running a plan's "predict" function on any number of rows: batch by batch at the plan's fixed
// batch size (the last batch zero-padded, its padding rows dropped), the input normalized as
// training normalized it. nnrun --predict and the Python package's Plan.predict both call this.
#pragma once

#include "runtime/Executor.h"
#include "runtime/trainer/Dataset.h"
#include "support/StatusOr.h"

#include <string>
#include <vector>

namespace nnrt {

/// The plan's "predict" function, which must have an input and an output.
/// Errors start with `planPath`: "mlp.plan: the plan has no function 'predict'".
nnc::StatusOr<const nnc::Function *> findPredict(const nnc::Plan &plan,
                                                 const std::string &planPath);

/// Predict's input names, "a, b", for messages.
std::string predictInputNames(const nnc::Function &predict);

/// Ok if `inputs` fit predict's inputs, one each in order: its exact type, or any number of its
/// rows, the same number for all; else "x.npy: expected shape [128,784] f32, got [10,20] f32 (or
/// any number of rows)". `wheres` names each input in messages (its file).
nnc::Status checkPredictInputs(const nnc::Function &predict,
                               const std::vector<HostTensor> &inputs,
                               const std::vector<std::string> &wheres);

/// Runs predict over every row of `inputs` (checked by checkPredictInputs) and returns every
/// output, in predict's order, for them all: each (rows, ...), or the outputs of one batch when
/// one of them is not per row (the inputs must then be one batch). `norm` (may be null), --fit's
/// normalization of the features, is applied to the first input when it is f32. Errors about an input start with its
/// `inputWheres` entry, errors of the plan with `planWhere`.
nnc::StatusOr<std::vector<HostTensor>> predictOutputs(Executor &exec,
                                                    const nnc::Function &predict,
                                                    std::vector<HostTensor> inputs,
                                                    const trainer::Normalization *norm,
                                                    const std::vector<std::string> &inputWheres,
                                                    const std::string &planWhere);

/// predictOutputs' first output: for callers that want one array (kept so that code written
/// against the single-output interface still builds).
nnc::StatusOr<HostTensor> predictRows(Executor &exec, const nnc::Function &predict,
                                      std::vector<HostTensor> inputs,
                                      const trainer::Normalization *norm,
                                      const std::vector<std::string> &inputWheres,
                                      const std::string &planWhere);

} // namespace nnrt
