// nn.batch_norm's train-step and inference forms as `nn` ops (see BatchNorm.h). The train form
// normalizes with nn.batch_norm_training, whose VJP is the whole normalization's (two
// reductions instead of the seven its parts' VJPs make), and expands to elementwise ops after
// autodiff; the elementwise ones fuse when lowered.
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

/// centered * (weight / sqrt(var + eps)) + bias, `centered` and `var` broadcastable to the
/// input: the division is per channel, each element one multiply-add.
Value scaleAndShift(OpBuilder &b, Location loc, Value centered, Value var, Value weight,
                    Value bias, double epsilon) {
  RankedTensorType input = typeOf(centered);
  Value sigma = SqrtOp::create(b, loc, AddOp::create(b, loc, var, scalar(b, loc, var, epsilon)));
  Value scale = DivOp::create(b, loc, perChannel(b, loc, weight, input), sigma);
  Value scaled = MulOp::create(b, loc, centered, scale);
  return AddOp::create(b, loc, scaled, perChannel(b, loc, bias, input));
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
  SmallVector<int64_t> axes = batchAxes(input);
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
  FloatAttr epsilon = b.getF64FloatAttr(epsilonOf(op));
  Value result = BatchNormTrainingOp::create(b, loc, x, mean, var, op.getWeight(), op.getBias(),
                                             epsilon);
  return {result, blend(b, loc, op.getRunningMean(), mean, momentum),
          blend(b, loc, op.getRunningVar(), unbiased, momentum)};
}

Value expandBatchNormTraining(OpBuilder &b, BatchNormTrainingOp op) {
  Location loc = op.getLoc();
  double epsilon =
      op.getEpsilon() ? op.getEpsilon()->convertToDouble() : defaults::kBatchNormEpsilon;
  return scaleAndShift(b, loc, SubOp::create(b, loc, op.getInput(), op.getMean()), op.getVar(),
                       op.getWeight(), op.getBias(), epsilon);
}

SmallVector<int64_t> batchAxes(RankedTensorType input) {
  SmallVector<int64_t> axes = {0};
  for (int64_t d = 2; d < input.getRank(); ++d)
    axes.push_back(d);
  return axes;
}

bool isBatchStatisticsOf(BatchNormTrainingOp op) {
  Value x = op.getInput();
  SmallVector<int64_t> axes = batchAxes(typeOf(x));
  auto isMeanOverBatch = [&](Value v) -> ReduceMeanOp {
    auto mean = v.getDefiningOp<ReduceMeanOp>();
    bool overBatch = mean && mean.getKeepdim().value_or(false) && mean.getAxes() == ArrayRef(axes);
    return overBatch ? mean : ReduceMeanOp();
  };
  ReduceMeanOp mean = isMeanOverBatch(op.getMean()), var = isMeanOverBatch(op.getVar());
  if (!mean || !var || mean.getInput() != x)
    return false;
  auto square = var.getInput().getDefiningOp<MulOp>();
  auto centered = square ? square.getLhs().getDefiningOp<SubOp>() : SubOp();
  return centered && square.getRhs() == square.getLhs() && centered.getLhs() == x &&
         centered.getRhs() == op.getMean();
}

Value buildBatchNormInference(OpBuilder &b, BatchNormOp op) {
  Location loc = op.getLoc();
  RankedTensorType input = typeOf(op.getInput());
  Value centered =
      SubOp::create(b, loc, op.getInput(), perChannel(b, loc, op.getRunningMean(), input));
  return scaleAndShift(b, loc, centered, perChannel(b, loc, op.getRunningVar(), input),
                       op.getWeight(), op.getBias(), epsilonOf(op));
}

} // namespace nnc::nn
