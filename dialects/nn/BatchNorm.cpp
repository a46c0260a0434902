// nn.batch_norm's train-step and inference forms as `nn` ops (see BatchNorm.h). The train form
// differentiates through the VJPs of the ops it is made of; the elementwise ones fuse when
// lowered.
#include "dialects/nn/BatchNorm.h"

using namespace mlir;

namespace nnc::nn {
namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

Value scalar(OpBuilder &b, Location loc, Value like, double value) {
  auto type = RankedTensorType::get({}, typeOf(like).getElementType());
  return ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, b.getFloatAttr(type.getElementType(), value)));
}

/// (1, C) or (1, C, 1, 1): a per-channel vector shaped to broadcast against the input.
SmallVector<int64_t> channelShape(RankedTensorType input) {
  SmallVector<int64_t> shape(input.getRank(), 1);
  shape[1] = input.getDimSize(1);
  return shape;
}

Value perChannel(OpBuilder &b, Location loc, Value v, RankedTensorType input) {
  return ReshapeOp::create(b, loc, v, channelShape(input));
}

double epsilonOf(BatchNormOp op) {
  return op.getEpsilon() ? op.getEpsilon()->convertToDouble() : defaults::kBatchNormEpsilon;
}

/// centered / sqrt(var + eps) * weight + bias, `centered` and `var` broadcastable to the input.
Value scaleAndShift(OpBuilder &b, BatchNormOp op, Value centered, Value var) {
  Location loc = op.getLoc();
  RankedTensorType input = typeOf(op.getInput());
  Value sigma =
      SqrtOp::create(b, loc, AddOp::create(b, loc, var, scalar(b, loc, var, epsilonOf(op))));
  Value xhat = DivOp::create(b, loc, centered, sigma);
  Value scaled = MulOp::create(b, loc, xhat, perChannel(b, loc, op.getWeight(), input));
  return AddOp::create(b, loc, scaled, perChannel(b, loc, op.getBias(), input));
}

/// (1 - momentum) * running + momentum * batch, `batch` reshaped to (C).
Value blend(OpBuilder &b, Location loc, Value running, Value batch, double momentum) {
  Value current = ReshapeOp::create(b, loc, batch, typeOf(running).getShape());
  Value kept = MulOp::create(b, loc, running, scalar(b, loc, running, 1.0 - momentum));
  Value added = MulOp::create(b, loc, current, scalar(b, loc, running, momentum));
  return AddOp::create(b, loc, kept, added);
}

} // namespace

BatchNormTraining buildBatchNormTraining(OpBuilder &b, BatchNormOp op) {
  Location loc = op.getLoc();
  Value x = op.getInput();
  RankedTensorType input = typeOf(x);
  SmallVector<int64_t> axes = {0};
  for (int64_t d = 2; d < input.getRank(); ++d)
    axes.push_back(d);
  int64_t count = input.getNumElements() / input.getDimSize(1); // values per channel
  BoolAttr keep = b.getBoolAttr(true);
  Value mean = ReduceMeanOp::create(b, loc, x, axes, keep);
  Value centered = SubOp::create(b, loc, x, mean);
  Value var = ReduceMeanOp::create(b, loc, MulOp::create(b, loc, centered, centered), axes, keep);

  double momentum =
      op.getMomentum() ? op.getMomentum()->convertToDouble() : defaults::kBatchNormMomentum;
  // The running variance estimates the population's: Bessel's correction (none for one value).
  double unbias = count > 1 ? double(count) / double(count - 1) : 1.0;
  Value unbiased = MulOp::create(b, loc, var, scalar(b, loc, var, unbias));
  return {scaleAndShift(b, op, centered, var),
          blend(b, loc, op.getRunningMean(), mean, momentum),
          blend(b, loc, op.getRunningVar(), unbiased, momentum)};
}

Value buildBatchNormInference(OpBuilder &b, BatchNormOp op) {
  Location loc = op.getLoc();
  RankedTensorType input = typeOf(op.getInput());
  Value centered =
      SubOp::create(b, loc, op.getInput(), perChannel(b, loc, op.getRunningMean(), input));
  return scaleAndShift(b, op, centered, perChannel(b, loc, op.getRunningVar(), input));
}

} // namespace nnc::nn
