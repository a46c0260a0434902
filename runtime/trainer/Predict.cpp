// Batch-by-batch prediction (see Predict.h).
#include "runtime/trainer/Predict.h"

#include "runtime/PlanLoader.h"

#include <algorithm>
#include <cstring>

namespace nnrt {

nnc::StatusOr<const nnc::Function *> findPredict(const nnc::Plan &plan,
                                                 const std::string &planPath) {
  const nnc::Function *predict = findFunction(plan, "predict");
  if (!predict)
    return nnc::Status::error(planPath + ": the plan has no function 'predict'");
  if (predict->inputs_size() == 0)
    return nnc::Status::error(planPath + ": function 'predict' has no inputs");
  if (predict->outputs_size() == 0)
    return nnc::Status::error(planPath + ": function 'predict' has no outputs");
  return predict;
}

std::string predictInputNames(const nnc::Function &predict) {
  std::string names;
  for (const nnc::TensorSlice &input : predict.inputs())
    names += (names.empty() ? "" : ", ") + input.name();
  return names;
}

/// The batch predict's inputs share (their leading dimension), or 0 when they share none (a
/// scalar input, or leading dimensions that differ): the inputs must then fit exactly.
static int64_t sharedBatch(const nnc::Function &predict) {
  int64_t batch = 0;
  for (const nnc::TensorSlice &input : predict.inputs()) {
    Shape shape = shapeOf(input.type());
    if (shape.empty() || (batch && shape[0] != batch))
      return 0;
    batch = shape[0];
  }
  return batch;
}

nnc::Status checkPredictInputs(const nnc::Function &predict,
                               const std::vector<HostTensor> &inputs,
                               const std::vector<std::string> &wheres) {
  if (inputs.size() != size_t(predict.inputs_size()))
    return nnc::Status::error("predict takes " + std::to_string(predict.inputs_size()) +
                              " inputs (" + predictInputNames(predict) + "), given " +
                              std::to_string(inputs.size()));
  bool byRows = sharedBatch(predict) > 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const nnc::TensorType &type = predict.inputs(i).type();
    const HostTensor &input = inputs[i];
    Shape batch = shapeOf(type);
    bool rowsFit = byRows && input.dtype == type.dtype() &&
                   input.shape.size() == batch.size() && input.shape[0] > 0 &&
                   std::equal(input.shape.begin() + 1, input.shape.end(), batch.begin() + 1);
    if (!rowsFit) {
      if (nnc::Status s = checkType(input, type); !s.ok())
        return nnc::Status::error(wheres[i] + ": " + s.message() +
                                  (byRows ? " (or any number of rows)" : ""));
    }
    if (byRows && i > 0 && input.shape[0] != inputs[0].shape[0])
      return nnc::Status::error(wheres[i] + ": " + std::to_string(input.shape[0]) + " rows, but " +
                                wheres[0] + " has " + std::to_string(inputs[0].shape[0]));
  }
  return nnc::Status();
}

/// Every output of the predict call that just ran, in the function's order.
static nnc::StatusOr<std::vector<HostTensor>> fetchOutputs(Executor &exec,
                                                           const nnc::Function &predict,
                                                           const std::string &planWhere) {
  std::vector<HostTensor> outputs;
  for (const nnc::TensorSlice &slot : predict.outputs()) {
    nnc::StatusOr<HostTensor> out = exec.getOutput("predict", slot.name());
    if (!out.ok())
      return nnc::Status::error(planWhere + ": " + out.status().message());
    outputs.push_back(std::move(*out));
  }
  return outputs;
}

nnc::StatusOr<std::vector<HostTensor>> predictOutputs(Executor &exec,
                                                    const nnc::Function &predict,
                                                    std::vector<HostTensor> inputs,
                                                    const trainer::Normalization *norm,
                                                    const std::vector<std::string> &inputWheres,
                                                    const std::string &planWhere) {
  HostTensor &features = inputs[0];
  if (norm && features.dtype == nnc::F32 && !features.shape.empty()) { // as training saw it
    size_t rowValues =
        features.data.size() / sizeof(float) / std::max<int64_t>(features.shape[0], 1);
    if (rowValues % norm->mean.size() != 0)
      return nnc::Status::error(inputWheres[0] + ": rows of " + std::to_string(rowValues) +
                                " values do not fit the training normalization's " +
                                std::to_string(norm->mean.size()) + " columns");
    norm->apply(reinterpret_cast<float *>(features.data.data()),
                features.data.size() / sizeof(float));
  }
  int64_t batchRows = sharedBatch(predict);
  if (batchRows == 0) { // exact inputs: one call
    for (size_t i = 0; i < inputs.size(); ++i)
      if (nnc::Status s = exec.setInput("predict", predict.inputs(i).name(), inputs[i]); !s.ok())
        return nnc::Status::error(inputWheres[i] + ": " + s.message());
    if (nnc::Status s = exec.run("predict"); !s.ok())
      return nnc::Status::error(planWhere + ": " + s.message());
    return fetchOutputs(exec, predict, planWhere);
  }
  std::vector<HostTensor> batchIns;
  for (const nnc::TensorSlice &slice : predict.inputs())
    batchIns.emplace_back(slice.type().dtype(), shapeOf(slice.type()));
  int64_t rows = inputs[0].shape[0];
  // Rows [b * batch, (b + 1) * batch) of the input give the same rows of every output.
  std::vector<HostTensor> results;
  for (int64_t start = 0; start < rows; start += batchRows) {
    int64_t count = std::min(batchRows, rows - start);
    for (size_t i = 0; i < inputs.size(); ++i) {
      HostTensor &batchIn = batchIns[i];
      size_t rowBytes = batchIn.data.size() / batchRows;
      std::fill(batchIn.data.begin(), batchIn.data.end(), 0);
      std::memcpy(batchIn.data.data(), inputs[i].data.data() + start * rowBytes,
                  count * rowBytes);
      if (nnc::Status s = exec.setInput("predict", predict.inputs(i).name(), batchIn); !s.ok())
        return nnc::Status::error(inputWheres[i] + ": " + s.message());
    }
    if (nnc::Status s = exec.run("predict"); !s.ok())
      return nnc::Status::error(planWhere + ": " + s.message());
    nnc::StatusOr<std::vector<HostTensor>> batchOuts = fetchOutputs(exec, predict, planWhere);
    if (!batchOuts.ok())
      return batchOuts.status();
    for (const HostTensor &out : *batchOuts)
      if (out.shape.empty() || out.shape[0] != batchRows) { // not per row: one batch
        if (rows != batchRows)
          return nnc::Status::error(inputWheres[0] + ": predict's output " + out.describe() +
                                    " is not per row, so the input must be exactly one batch");
        return std::move(*batchOuts);
      }
    if (results.empty())
      for (const HostTensor &out : *batchOuts) {
        results.emplace_back(out.dtype, out.shape);
        results.back().shape[0] = rows;
        results.back().data.resize(out.data.size() / batchRows * rows);
      }
    for (size_t o = 0; o < results.size(); ++o) {
      size_t outRowBytes = (*batchOuts)[o].data.size() / batchRows;
      std::memcpy(results[o].data.data() + start * outRowBytes, (*batchOuts)[o].data.data(),
                  count * outRowBytes);
    }
  }
  return results;
}

nnc::StatusOr<HostTensor> predictRows(Executor &exec, const nnc::Function &predict,
                                      std::vector<HostTensor> inputs,
                                      const trainer::Normalization *norm,
                                      const std::vector<std::string> &inputWheres,
                                      const std::string &planWhere) {
  nnc::StatusOr<std::vector<HostTensor>> outputs =
      predictOutputs(exec, predict, std::move(inputs), norm, inputWheres, planWhere);
  if (!outputs.ok())
    return outputs.status();
  return std::move(outputs->front());
}

} // namespace nnrt
