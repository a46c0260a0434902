// Vector-Jacobian products of the `nn` ops (DifferentiableOpInterface), written with `nn` ops.
// `g` is the gradient of the loss with respect to the op's result; shapes are static, so every
// reduction a broadcast needs is known here.
#include "dialects/nn/BatchNorm.h"
#include "dialects/nn/NNDialect.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace nnc::nn;

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

Value reshape(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> shape) {
  if (typeOf(v).getShape() == shape)
    return v;
  return ReshapeOp::create(b, loc, v, shape);
}

/// A scalar constant of `like`'s element type, broadcast by the binary ops.
Value scalar(OpBuilder &b, Location loc, Value like, double value) {
  auto type = RankedTensorType::get({}, typeOf(like).getElementType());
  return ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getFloatAttr(type.getElementType(), value)));
}

/// Sums `grad` (shaped like a broadcast result) back to `target`'s shape: over the leading
/// dimensions the target lacks and over the dimensions where it has size 1.
Value unbroadcast(OpBuilder &b, Location loc, Value grad, RankedTensorType target) {
  ArrayRef<int64_t> shape = typeOf(grad).getShape();
  int64_t offset = shape.size() - target.getRank();
  SmallVector<int64_t> axes;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
    if (d < offset || (target.getDimSize(d - offset) == 1 && shape[d] != 1))
      axes.push_back(d);
  if (!axes.empty())
    grad = ReduceSumOp::create(b, loc, grad, axes, /*keepdim=*/BoolAttr());
  return reshape(b, loc, grad, target.getShape());
}

/// The permutation that swaps the last two dimensions of a rank-`rank` tensor.
SmallVector<int64_t> swapLastTwo(int64_t rank) {
  SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(perm[rank - 1], perm[rank - 2]);
  return perm;
}

/// (..., k) -> (prod(...), k): contractions over a flattened leading dimension.
Value flatten2d(OpBuilder &b, Location loc, Value v) {
  RankedTensorType type = typeOf(v);
  int64_t last = type.getShape().back();
  return reshape(b, loc, v, {type.getNumElements() / last, last});
}

} // namespace

LogicalResult LinearOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // y = act(x W^T + b): x (..., in), W (out, in), g (..., out).
  Location loc = getLoc();
  if (getActivation())
    g = ReluGradOp::create(b, loc, getResult(), g);
  Value x2 = flatten2d(b, loc, getInput()); // (M, in)
  Value g2 = flatten2d(b, loc, g);          // (M, out)
  Value dx = MatmulOp::create(b, loc, g2, getWeight());           // (M, in)
  Value gT = TransposeOp::create(b, loc, g2, ArrayRef<int64_t>{1, 0}); // (out, M)
  Value dw = MatmulOp::create(b, loc, gT, x2);                    // (out, in)
  grads.assign({reshape(b, loc, dx, typeOf(getInput()).getShape()), dw});
  if (getBias())
    grads.push_back(ReduceSumOp::create(b, loc, g2, ArrayRef<int64_t>{0}, BoolAttr()));
  return success();
}

LogicalResult Conv2dOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // y = act(conv(x, W) + bias): the two backward convolutions (library calls, like the forward)
  // and the bias gradient, g summed over (N, OH, OW).
  Location loc = getLoc();
  if (getActivation())
    g = ReluGradOp::create(b, loc, getResult(), g);
  Value dx = Conv2dGradInputOp::create(b, loc, g, getWeight(), typeOf(getInput()).getShape(),
                                       getStrideAttr(), getPaddingAttr(), getDilationAttr(),
                                       getGroupsAttr());
  Value dw = Conv2dGradWeightOp::create(b, loc, getInput(), g, typeOf(getWeight()).getShape(),
                                        getStrideAttr(), getPaddingAttr(), getDilationAttr(),
                                        getGroupsAttr())
                 .getResult();
  grads.assign({dx, dw});
  if (getBias())
    grads.push_back(ReduceSumOp::create(b, loc, g, ArrayRef<int64_t>{0, 2, 3}, BoolAttr()));
  return success();
}

LogicalResult MatmulOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // c = a b: a (..., M, K), b (..., K, N), g (..., M, N).
  Location loc = getLoc();
  if (hasFoldedLayouts())
    return emitOpError("has no gradient with folded layouts (fold after differentiating)");
  RankedTensorType a = typeOf(getLhs()), bt = typeOf(getRhs());
  Value da = MatmulOp::create(
      b, loc, g, TransposeOp::create(b, loc, getRhs(), swapLastTwo(bt.getRank())));
  Value db;
  if (bt.getRank() == 2) {
    // One rhs for every batch: contract over all rows of every batch at once.
    Value a2 = flatten2d(b, loc, getLhs()), g2 = flatten2d(b, loc, g);
    db = MatmulOp::create(b, loc, TransposeOp::create(b, loc, a2, ArrayRef<int64_t>{1, 0}), g2);
  } else if (a.getShape().drop_back(2) == bt.getShape().drop_back(2)) {
    db = MatmulOp::create(b, loc, TransposeOp::create(b, loc, getLhs(), swapLastTwo(a.getRank())),
                          g);
  } else {
    return emitOpError("has no gradient for broadcast batch dimensions yet: ")
           << a << " and " << bt;
  }
  grads.assign({reshape(b, loc, da, a.getShape()), db});
  return success();
}

template <typename OpTy>
static LogicalResult requireFloat(OpTy op) {
  if (isa<FloatType>(typeOf(op.getResult()).getElementType()))
    return success();
  return op.emitOpError("has no gradient: its operands are integers");
}

LogicalResult AddOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  if (failed(requireFloat(*this)))
    return failure();
  grads.assign({unbroadcast(b, getLoc(), g, typeOf(getLhs())),
           unbroadcast(b, getLoc(), g, typeOf(getRhs()))});
  return success();
}

LogicalResult SubOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  if (failed(requireFloat(*this)))
    return failure();
  Location loc = getLoc();
  Value negated = MulOp::create(b, loc, g, scalar(b, loc, g, -1.0));
  grads.assign({unbroadcast(b, loc, g, typeOf(getLhs())), unbroadcast(b, loc, negated, typeOf(getRhs()))});
  return success();
}

LogicalResult MulOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  if (failed(requireFloat(*this)))
    return failure();
  Location loc = getLoc();
  grads.assign({unbroadcast(b, loc, MulOp::create(b, loc, g, getRhs()), typeOf(getLhs())),
           unbroadcast(b, loc, MulOp::create(b, loc, g, getLhs()), typeOf(getRhs()))});
  return success();
}

LogicalResult DivOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  if (failed(requireFloat(*this)))
    return failure();
  // d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b.
  Location loc = getLoc();
  Value da = DivOp::create(b, loc, g, getRhs());
  Value minusGq = MulOp::create(b, loc, MulOp::create(b, loc, g, getResult()),
                                scalar(b, loc, g, -1.0));
  Value db = DivOp::create(b, loc, minusGq, getRhs());
  grads.assign({unbroadcast(b, loc, da, typeOf(getLhs())), unbroadcast(b, loc, db, typeOf(getRhs()))});
  return success();
}

LogicalResult ReluOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({ReluGradOp::create(b, getLoc(), getResult(), g)});
  return success();
}

LogicalResult TanhOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // (1 - y^2) g
  Location loc = getLoc();
  Value y = getResult();
  Value oneMinus = SubOp::create(b, loc, scalar(b, loc, y, 1.0), MulOp::create(b, loc, y, y));
  grads.assign({MulOp::create(b, loc, g, oneMinus)});
  return success();
}

LogicalResult SigmoidOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // y (1 - y) g
  Location loc = getLoc();
  Value y = getResult();
  Value slope = MulOp::create(b, loc, y, SubOp::create(b, loc, scalar(b, loc, y, 1.0), y));
  grads.assign({MulOp::create(b, loc, g, slope)});
  return success();
}

LogicalResult DropoutOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // The same mask and scale, applied to the gradient: a dropout with the same key.
  if (!getStep() || getRate().convertToDouble() == 0.0) {
    grads.assign({g, Value()});
    return success();
  }
  auto grad = cast<DropoutOp>(b.clone(*getOperation()));
  grad->setOperand(0, g);
  grads.assign({grad.getResult(), Value()});
  return success();
}

LogicalResult ReshapeOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({reshape(b, getLoc(), g, typeOf(getInput()).getShape())});
  return success();
}

LogicalResult TransposeOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  ArrayRef<int64_t> perm = getPermutation();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  grads.assign({TransposeOp::create(b, getLoc(), g, inverse)});
  return success();
}

LogicalResult CrossEntropyOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // loss = reduce_r(lse_r * sum_c w_rc - sum_c w_rc x_rc), w = (1 - s) target + s / C:
  // dx = (softmax(x) * sum_c w - w) * g (/ rows for the mean).
  Location loc = getLoc();
  Value x = getLogits();
  RankedTensorType type = typeOf(x);
  int64_t classes = type.getShape().back(), rows = type.getNumElements() / classes;
  double s = getLabelSmoothing() ? getLabelSmoothing()->convertToDouble() : defaults::kLabelSmoothing;
  Value target = getTarget();
  if (isa<IntegerType>(typeOf(target).getElementType()))
    target = OneHotOp::create(b, loc, target, b.getI64IntegerAttr(classes),
                              TypeAttr::get(type.getElementType()));
  Value w = AddOp::create(b, loc, MulOp::create(b, loc, target, scalar(b, loc, x, 1.0 - s)),
                          scalar(b, loc, x, s / classes));
  Value weightSum = ReduceSumOp::create(b, loc, w, ArrayRef<int64_t>{type.getRank() - 1},
                                        b.getBoolAttr(true));
  Value p = SoftmaxOp::create(b, loc, x, IntegerAttr());
  Value dx = SubOp::create(b, loc, MulOp::create(b, loc, p, weightSum), w);
  bool mean = getReduction().value_or(defaults::kReduction) == Reduction::mean;
  Value scale = mean ? DivOp::create(b, loc, g, scalar(b, loc, g, rows)).getResult() : g;
  grads.assign({MulOp::create(b, loc, dx, scale), Value()});
  return success();
}

LogicalResult MseLossOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // d/dp mean((p - t)^2) = 2 (p - t) / n.
  Location loc = getLoc();
  Value diff = SubOp::create(b, loc, getPrediction(), getTarget());
  double n = typeOf(diff).getNumElements();
  Value scale = MulOp::create(b, loc, g, scalar(b, loc, g, 2.0 / n));
  Value dp = MulOp::create(b, loc, diff, scale);
  grads.assign({dp, MulOp::create(b, loc, dp, scalar(b, loc, dp, -1.0))});
  return success();
}

LogicalResult CausalMaskOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // Masked entries do not depend on the input.
  grads.assign({CausalMaskOp::create(b, getLoc(), g, b.getF64FloatAttr(0.0)).getResult()});
  return success();
}

/// The axis of a softmax-like op, normalized.
template <typename OpTy>
static int64_t softmaxAxis(OpTy op) {
  int64_t axis = op.getAxis().value_or(defaults::kAxis);
  return axis < 0 ? axis + typeOf(op.getResult()).getRank() : axis;
}

LogicalResult SoftmaxOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // dx = y * (g - sum(g * y)) along the axis.
  Location loc = getLoc();
  Value y = getResult();
  Value dot = ReduceSumOp::create(b, loc, MulOp::create(b, loc, g, y),
                                  ArrayRef<int64_t>{softmaxAxis(*this)}, b.getBoolAttr(true));
  grads.assign({MulOp::create(b, loc, y, SubOp::create(b, loc, g, dot)).getResult()});
  return success();
}

LogicalResult LogSoftmaxOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // dx = g - exp(y) * sum(g) along the axis.
  Location loc = getLoc();
  Value sum = ReduceSumOp::create(b, loc, g, ArrayRef<int64_t>{softmaxAxis(*this)},
                                  b.getBoolAttr(true));
  Value p = ExpOp::create(b, loc, getResult());
  grads.assign({SubOp::create(b, loc, g, MulOp::create(b, loc, p, sum)).getResult()});
  return success();
}

LogicalResult LayerNormOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // With xhat = (x - mean) / sigma over the normalized (trailing) axes and gw = g * weight:
  //   dx = (gw - mean(gw) - xhat * mean(gw * xhat)) / sigma,
  //   dweight = sum over the leading axes of g * xhat, dbias = the same sum of g.
  Location loc = getLoc();
  Value x = getInput();
  RankedTensorType type = typeOf(x);
  int64_t count = typeOf(getWeight()).getRank();
  SmallVector<int64_t> normAxes = llvm::to_vector(llvm::seq<int64_t>(type.getRank() - count, type.getRank()));
  SmallVector<int64_t> leadAxes = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank() - count));
  double eps = getEpsilon() ? getEpsilon()->convertToDouble() : defaults::kLayerNormEpsilon;
  BoolAttr keep = b.getBoolAttr(true);
  Value mean = ReduceMeanOp::create(b, loc, x, normAxes, keep);
  Value centered = SubOp::create(b, loc, x, mean);
  Value var = ReduceMeanOp::create(b, loc, MulOp::create(b, loc, centered, centered), normAxes, keep);
  Value sigma = SqrtOp::create(b, loc, AddOp::create(b, loc, var, scalar(b, loc, x, eps)));
  Value xhat = DivOp::create(b, loc, centered, sigma);
  Value gw = MulOp::create(b, loc, g, getWeight());
  Value meanGw = ReduceMeanOp::create(b, loc, gw, normAxes, keep);
  Value meanGwXhat = ReduceMeanOp::create(b, loc, MulOp::create(b, loc, gw, xhat), normAxes, keep);
  Value dx = DivOp::create(
      b, loc, SubOp::create(b, loc, SubOp::create(b, loc, gw, meanGw), MulOp::create(b, loc, xhat, meanGwXhat)),
      sigma);
  Value gxhat = MulOp::create(b, loc, g, xhat);
  Value dw = leadAxes.empty() ? gxhat : ReduceSumOp::create(b, loc, gxhat, leadAxes, BoolAttr()).getResult();
  Value db = leadAxes.empty() ? g : ReduceSumOp::create(b, loc, g, leadAxes, BoolAttr()).getResult();
  grads.assign({dx, dw, db});
  return success();
}

LogicalResult BatchNormTrainingOp::buildVjp(OpBuilder &b, Value g,
                                            SmallVectorImpl<Value> &grads) {
  // With xhat = (x - mean) / sigma over the batch axes (all but 1), n values per channel:
  //   dbias = sum(g), dweight = sum(g * xhat),
  //   dx = weight / sigma * (g - dbias / n - xhat * dweight / n),
  // the derivative through mean and var included: two reductions and one elementwise pass.
  if (!isBatchStatisticsOf(*this))
    return emitOpError("expects mean and var to be its input's batch statistics");
  Location loc = getLoc();
  Value x = getInput();
  RankedTensorType type = typeOf(x);
  SmallVector<int64_t> axes = batchAxes(type);
  double n = double(type.getNumElements() / type.getDimSize(1));
  double eps = getEpsilon() ? getEpsilon()->convertToDouble() : defaults::kBatchNormEpsilon;
  Value sigma = SqrtOp::create(b, loc, AddOp::create(b, loc, getVar(), scalar(b, loc, x, eps)));
  Value rstd = DivOp::create(b, loc, scalar(b, loc, x, 1.0), sigma); // per channel
  // xhat is built twice, once for each pass that reads it, so that each computes it from x
  // instead of one writing it whole for the other.
  auto xhat = [&] { return MulOp::create(b, loc, SubOp::create(b, loc, x, getMean()), rstd); };
  BoolAttr keep = b.getBoolAttr(true);
  Value db = ReduceSumOp::create(b, loc, g, axes, keep); // (1, C, ..)
  Value dw = ReduceSumOp::create(b, loc, MulOp::create(b, loc, g, xhat()), axes, keep);
  auto channels = [&](Value v) {
    return ReshapeOp::create(b, loc, v, typeOf(getWeight()).getShape()).getResult();
  };
  Value centeredG = SubOp::create(b, loc, g, DivOp::create(b, loc, db, scalar(b, loc, x, n)));
  Value projected = MulOp::create(b, loc, xhat(), DivOp::create(b, loc, dw, scalar(b, loc, x, n)));
  Value scale = MulOp::create(
      b, loc, ReshapeOp::create(b, loc, getWeight(), typeOf(getMean()).getShape()), rstd);
  Value dx = MulOp::create(b, loc, SubOp::create(b, loc, centeredG, projected), scale);
  grads.assign({dx, Value(), Value(), channels(dw), channels(db)});
  return success();
}

LogicalResult GeluOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({GeluGradOp::create(b, getLoc(), getInput(), g, getApproximateAttr()).getResult()});
  return success();
}

LogicalResult ClampOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({ClampGradOp::create(b, getLoc(), getInput(), g, getMinAttr(), getMaxAttr())
                    .getResult()});
  return success();
}

LogicalResult MaxPool2dOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({MaxPool2dGradOp::create(b, getLoc(), getInput(), g, getKernelSizeAttr(),
                                        getStrideAttr(), getPaddingAttr())
                    .getResult()});
  return success();
}

LogicalResult AvgPool2dOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // Average pooling is a depthwise convolution by a constant 1 / (KH KW) kernel (padding counted
  // in the average, as PyTorch's default), so its gradient is that convolution's input gradient.
  Location loc = getLoc();
  RankedTensorType input = typeOf(getInput());
  ArrayRef<int64_t> kernel = getKernelSize();
  int64_t channels = input.getDimSize(1);
  auto weightType = RankedTensorType::get({channels, 1, kernel[0], kernel[1]},
                                          input.getElementType());
  Value weight = ConstantOp::create(
      b, loc, DenseElementsAttr::get(weightType, b.getFloatAttr(input.getElementType(),
                                                                1.0 / (kernel[0] * kernel[1]))));
  DenseI64ArrayAttr stride = getStrideAttr() ? getStrideAttr() : getKernelSizeAttr();
  grads.assign({Conv2dGradInputOp::create(b, loc, g, weight, input.getShape(), stride,
                                          getPaddingAttr(), DenseI64ArrayAttr(),
                                          b.getI64IntegerAttr(channels))
                    .getResult()});
  return success();
}

LogicalResult EmbeddingOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  int64_t rows = typeOf(getWeight()).getDimSize(0);
  grads.assign({Value(), EmbeddingGradOp::create(b, getLoc(), getIndices(), g,
                                                 b.getI64IntegerAttr(rows))
                             .getResult()});
  return success();
}

LogicalResult SliceOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // g back at the taken positions: zeros before (start), between (step - 1) and after them.
  ArrayRef<int64_t> shape = typeOf(getInput()).getShape(), outShape = typeOf(g).getShape();
  SmallVector<int64_t> ones(shape.size(), 1), interior, high;
  ArrayRef<int64_t> step = getStep().value_or(ArrayRef<int64_t>(ones));
  for (auto [d, dim] : llvm::enumerate(shape)) {
    int64_t last = outShape[d] == 0 ? getStart()[d] - 1 : getStart()[d] + (outShape[d] - 1) * step[d];
    interior.push_back(step[d] - 1);
    high.push_back(dim - last - 1);
  }
  bool strided = llvm::any_of(interior, [](int64_t i) { return i != 0; });
  grads.assign({PadOp::create(b, getLoc(), g, getStart(), high,
                              strided ? b.getDenseI64ArrayAttr(interior) : DenseI64ArrayAttr())
                    .getResult()});
  return success();
}

LogicalResult PadOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // The input's elements, taken back out of g.
  ArrayRef<int64_t> shape = typeOf(getInput()).getShape();
  SmallVector<int64_t> zeros(shape.size(), 0), limit, step;
  ArrayRef<int64_t> interior = getInterior().value_or(ArrayRef<int64_t>(zeros));
  for (auto [d, n] : llvm::enumerate(shape)) {
    step.push_back(interior[d] + 1);
    limit.push_back(getLow()[d] + (n > 0 ? (n - 1) * step.back() + 1 : 0));
  }
  bool strided = llvm::any_of(step, [](int64_t s) { return s != 1; });
  grads.assign({SliceOp::create(b, getLoc(), g, getLow(), limit,
                                strided ? b.getDenseI64ArrayAttr(step) : DenseI64ArrayAttr())
                    .getResult()});
  return success();
}

LogicalResult BroadcastOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({unbroadcast(b, getLoc(), g, typeOf(getInput()))});
  return success();
}

LogicalResult CastOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({CastOp::create(b, getLoc(), g, typeOf(getInput()).getElementType()).getResult()});
  return success();
}

LogicalResult SqrtOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // d sqrt(x) = 1 / (2 sqrt(x)), from the output.
  Location loc = getLoc();
  grads.assign({DivOp::create(b, loc, MulOp::create(b, loc, g, scalar(b, loc, g, 0.5)),
                              getResult())
                    .getResult()});
  return success();
}

LogicalResult ExpOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({MulOp::create(b, getLoc(), g, getResult()).getResult()});
  return success();
}

LogicalResult LogOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({DivOp::create(b, getLoc(), g, getInput()).getResult()});
  return success();
}

/// The gradient of a sum over `axes`: `g` back at every reduced position.
static Value broadcastBack(OpBuilder &b, Location loc, Value g, RankedTensorType input,
                           ArrayRef<int64_t> axes, bool keepdim) {
  SmallVector<int64_t> keptShape(input.getShape());
  for (int64_t axis : axes)
    keptShape[axis < 0 ? axis + input.getRank() : axis] = 1;
  if (!keepdim)
    g = reshape(b, loc, g, keptShape);
  return BroadcastOp::create(b, loc, g, input.getShape());
}

LogicalResult ReduceSumOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  if (failed(requireFloat(*this)))
    return failure();
  grads.assign({broadcastBack(b, getLoc(), g, typeOf(getInput()), getAxes(),
                              getKeepdim().value_or(defaults::kKeepdim))});
  return success();
}

LogicalResult ReduceMeanOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  RankedTensorType input = typeOf(getInput());
  double count = static_cast<double>(input.getNumElements()) / typeOf(getResult()).getNumElements();
  Value scaled = DivOp::create(b, getLoc(), g, scalar(b, getLoc(), g, count));
  grads.assign({broadcastBack(b, getLoc(), scaled, input, getAxes(),
                              getKeepdim().value_or(defaults::kKeepdim))});
  return success();
}

LogicalResult ReduceMaxOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // g shared evenly by the positions that hold the maximum (PyTorch's amax).
  if (failed(requireFloat(*this)))
    return failure();
  Location loc = getLoc();
  RankedTensorType input = typeOf(getInput());
  bool keepdim = getKeepdim().value_or(defaults::kKeepdim);
  Value max = broadcastBack(b, loc, getResult(), input, getAxes(), keepdim);
  Value mask = EqualOp::create(b, loc, getInput(), max);
  Value count = ReduceSumOp::create(b, loc, mask, getAxes(), b.getBoolAttr(true));
  Value share = MulOp::create(b, loc, mask, broadcastBack(b, loc, g, input, getAxes(), keepdim));
  grads.assign({DivOp::create(b, loc, share, count).getResult()});
  return success();
}

LogicalResult ConcatOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // Each input's gradient is its slice of g along the axis.
  RankedTensorType type = typeOf(getResult());
  int64_t axis = getAxis(); // I64Attr's getter is unsigned: compare after the conversion
  if (axis < 0)
    axis += type.getRank();
  int64_t offset = 0;
  grads.clear();
  for (Value input : getInputs()) {
    SmallVector<int64_t> start(type.getRank(), 0), limit(type.getShape());
    start[axis] = offset;
    offset += typeOf(input).getDimSize(axis);
    limit[axis] = offset;
    grads.push_back(SliceOp::create(b, getLoc(), g, start, limit, DenseI64ArrayAttr()));
  }
  return success();
}
