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
  if (predict->inputs_size() != 1)
    return nnc::Status::error(planPath + ": function 'predict' has " +
                              std::to_string(predict->inputs_size()) +
                              " inputs; --predict feeds exactly one");
  if (predict->outputs_size() == 0)
    return nnc::Status::error(planPath + ": function 'predict' has no outputs");
  return predict;
}

nnc::Status checkPredictInput(const nnc::Function &predict, const HostTensor &input) {
  const nnc::TensorType &type = predict.inputs(0).type();
  Shape batch = shapeOf(type);
  bool rowsFit = !batch.empty() && input.dtype == type.dtype() &&
                 input.shape.size() == batch.size() && input.shape[0] > 0 &&
                 std::equal(input.shape.begin() + 1, input.shape.end(), batch.begin() + 1);
  if (rowsFit)
    return nnc::Status();
  nnc::Status s = checkType(input, type);
  return s.ok() ? s : nnc::Status::error(s.message() + " (or any number of rows)");
}

nnc::StatusOr<HostTensor> predictRows(Executor &exec, const nnc::Function &predict,
                                      HostTensor input, const trainer::Normalization *norm,
                                      const std::string &inputWhere,
                                      const std::string &planWhere) {
  const nnc::TensorSlice &inputSlice = predict.inputs(0);
  const std::string &inputName = inputSlice.name(), &outputName = predict.outputs(0).name();
  HostTensor batchIn(inputSlice.type().dtype(), shapeOf(inputSlice.type()));
  int64_t batchRows = batchIn.shape[0], rows = input.shape[0];
  size_t inRowBytes = batchIn.data.size() / batchRows;
  if (norm && input.dtype == nnc::F32) {  // the input as training saw it
    size_t rowValues = inRowBytes / sizeof(float);
    if (rowValues % norm->mean.size() != 0)
      return nnc::Status::error(inputWhere + ": rows of " + std::to_string(rowValues) +
                                " values do not fit the training normalization's " +
                                std::to_string(norm->mean.size()) + " columns");
    norm->apply(reinterpret_cast<float *>(input.data.data()), input.data.size() / sizeof(float));
  }
  // Rows [b * batch, (b + 1) * batch) of the input give the same rows of the output.
  HostTensor result;
  for (int64_t start = 0; start < rows; start += batchRows) {
    int64_t count = std::min(batchRows, rows - start);
    std::fill(batchIn.data.begin(), batchIn.data.end(), 0);
    std::memcpy(batchIn.data.data(), input.data.data() + start * inRowBytes, count * inRowBytes);
    if (nnc::Status s = exec.setInput("predict", inputName, batchIn); !s.ok())
      return nnc::Status::error(inputWhere + ": " + s.message());
    if (nnc::Status s = exec.run("predict"); !s.ok())
      return nnc::Status::error(planWhere + ": " + s.message());
    nnc::StatusOr<HostTensor> batchOut = exec.getOutput("predict", outputName);
    if (!batchOut.ok())
      return nnc::Status::error(planWhere + ": " + batchOut.status().message());
    if (batchOut->shape.empty() || batchOut->shape[0] != batchRows) { // not per-row: one batch
      if (rows != batchRows)
        return nnc::Status::error(inputWhere + ": predict's output " + batchOut->describe() +
                                  " is not per row, so the input must be exactly one batch");
      return std::move(*batchOut);
    }
    if (result.data.empty()) {
      result = HostTensor(batchOut->dtype, batchOut->shape);
      result.shape[0] = rows;
      result.data.resize(batchOut->data.size() / batchRows * rows);
    }
    size_t outRowBytes = batchOut->data.size() / batchRows;
    std::memcpy(result.data.data() + start * outRowBytes, batchOut->data.data(),
                count * outRowBytes);
  }
  return result;
}

} // namespace nnrt
