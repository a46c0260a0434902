// Running a plan's "predict" function on any number of rows: batch by batch at the plan's fixed
// batch size (the last batch zero-padded, its padding rows dropped), the input normalized as
// training normalized it. nnrun --predict and the Python package's Plan.predict both call this.
#pragma once

#include "runtime/Executor.h"
#include "runtime/trainer/Dataset.h"
#include "support/StatusOr.h"

#include <string>

namespace nnrt {

/// The plan's "predict" function, which must take exactly one input and have an output.
/// Errors start with `planPath`: "mlp.plan: the plan has no function 'predict'".
nnc::StatusOr<const nnc::Function *> findPredict(const nnc::Plan &plan,
                                                 const std::string &planPath);

/// Ok if `input` fits predict's input: its exact type, or any number of its rows; else
/// "expected shape [128,784] f32, got [10,20] f32 (or any number of rows)".
nnc::Status checkPredictInput(const nnc::Function &predict, const HostTensor &input);

/// Runs predict over every row of `input` (checked by checkPredictInput) and returns its first
/// output for them all: (rows, ...), or the output of one batch when it is not per row (the
/// input must then be one batch). `norm` (may be null) is applied to f32 input first. Errors
/// about the input start with `inputWhere`, errors of the plan with `planWhere`.
nnc::StatusOr<HostTensor> predictRows(Executor &exec, const nnc::Function &predict,
                                      HostTensor input, const trainer::Normalization *norm,
                                      const std::string &inputWhere,
                                      const std::string &planWhere);

} // namespace nnrt
