// nn.batch_norm in its two forms, written with other `nn` ops: the autodiff pass builds the
// train-step form (batch statistics, running-statistic updates; the normalization as
// nn.batch_norm_training until the backward pass is built) and the lowering the inference form
// (running statistics). Both reach CPU and CUDA code through the ops they use.
#pragma once

#include "dialects/nn/NNDialect.h"

#include "mlir/IR/Builders.h"

namespace nnc::nn {

/// The train-step form's values: the normalized output and the new running statistics (C).
struct BatchNormTraining {
  mlir::Value result, runningMean, runningVar;
};

/// y = (x - mean) / sqrt(var + eps) * weight + bias over the batch's mean and biased variance
/// (every dimension but 1); running = (1 - momentum) * running + momentum * batch statistic,
/// the variance unbiased (n / (n - 1)), as PyTorch's training mode does.
BatchNormTraining buildBatchNormTraining(mlir::OpBuilder &b, BatchNormOp op);

/// nn.batch_norm_training's elementwise form, for after autodiff.
mlir::Value expandBatchNormTraining(mlir::OpBuilder &b, BatchNormTrainingOp op);

/// The dimensions batch statistics reduce: every one but 1.
llvm::SmallVector<int64_t> batchAxes(mlir::RankedTensorType input);

/// Whether `op`'s mean and var are its input's batch statistics as buildBatchNormTraining
/// builds them, which its VJP assumes.
bool isBatchStatisticsOf(BatchNormTrainingOp op);

/// y = (x - running_mean) / sqrt(running_var + eps) * weight + bias (evaluation mode).
mlir::Value buildBatchNormInference(mlir::OpBuilder &b, BatchNormOp op);

} // namespace nnc::nn
