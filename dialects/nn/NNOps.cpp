// Result type inference for the `nn` ops. Each op's inferReturnTypes is also its shape and dtype
// verifier: the InferTypeOpInterface verifier calls it, and so do the parser and the importer, so
// a bad shape is reported once, at the op (the user's node), with the offending types.
#include "dialects/nn/NNDialect.h"
#include "support/Format.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "llvm/ADT/SmallSet.h"

#include <numeric>

using namespace mlir;
using namespace nnc::nn;

namespace {

/// Emits "'nn.<op>' op <message>" at the op's location, when inference has one, and fails.
class Diag {
public:
  Diag(std::optional<Location> loc, StringRef opName) : loc(loc), opName(opName) {}

  template <typename... Args>
  LogicalResult fail(Args &&...args) const {
    return emitOptionalError(loc, "'", opName, "' op ", std::forward<Args>(args)...);
  }

private:
  std::optional<Location> loc;
  StringRef opName;
};

RankedTensorType tensorType(Value value) {
  return value ? dyn_cast<RankedTensorType>(value.getType()) : RankedTensorType();
}

/// Checks that every value is a ranked tensor, so later code may cast freely. ODS reports the
/// precise constraint; inference runs first while parsing, so it must not crash before that.
LogicalResult requireTensors(const Diag &diag, ArrayRef<Value> values) {
  for (auto [i, value] : llvm::enumerate(values))
    if (value && !tensorType(value))
      return diag.fail("expects operand #", i, " to be a ranked tensor, got ", value.getType());
  return success();
}

/// A fused epilogue activation: absent, or "relu".
LogicalResult requireSameElementType(const Diag &diag, StringRef what, RankedTensorType a,
                                     RankedTensorType b) {
  if (a.getElementType() != b.getElementType())
    return diag.fail("expects ", what, " to have one element type, got ", a, " and ", b);
  return success();
}

/// Normalizes a possibly negative axis into [0, rank).
FailureOr<int64_t> normalizeAxis(const Diag &diag, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    (void)diag.fail("expects axis ", axis, " to be in [", -rank, ", ", rank, ")");
    return failure();
  }
  return axis < 0 ? axis + rank : axis;
}

/// Checks a per-spatial-dimension attribute (stride, padding, ...) of two entries >= minValue.
LogicalResult requirePair(const Diag &diag, StringRef name, ArrayRef<int64_t> values,
                          int64_t minValue) {
  if (values.size() != 2)
    return diag.fail("expects ", name, " to have 2 entries (height, width), got ", values.size());
  for (int64_t v : values)
    if (v < minValue)
      return diag.fail("expects ", name, " entries >= ", minValue, ", got ", v);
  return success();
}

Type scalarOf(RankedTensorType type) { return RankedTensorType::get({}, type.getElementType()); }

} // namespace

#define GET_OP_CLASSES
#include "dialects/nn/NNOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Constants and contractions
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

LogicalResult ConstantOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                           Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  ElementsAttr value = adaptor.getValue();
  auto type = value ? dyn_cast<RankedTensorType>(value.getType()) : RankedTensorType();
  if (!type)
    return diag.fail("expects a ranked tensor value");
  types.push_back(type);
  return success();
}

LogicalResult LinearOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput(), adaptor.getWeight(), adaptor.getBias()})))
    return failure();
  auto input = tensorType(adaptor.getInput());   // (..., in)
  auto weight = tensorType(adaptor.getWeight()); // (out, in)
  if (input.getRank() < 1)
    return diag.fail("expects an input of rank >= 1, got ", input);
  if (weight.getRank() != 2)
    return diag.fail("expects a weight of shape (out, in), got ", weight);
  if (failed(requireSameElementType(diag, "input and weight", input, weight)))
    return failure();
  int64_t in = input.getShape().back(), out = weight.getDimSize(0);
  if (weight.getDimSize(1) != in)
    return diag.fail("expects weight (out, in) with in = ", in,
                     " (the input's last dimension), got ", weight);
  if (auto bias = tensorType(adaptor.getBias())) {
    if (bias.getRank() != 1 || bias.getDimSize(0) != out)
      return diag.fail("expects a bias of shape (", out, "), got ", bias);
    if (failed(requireSameElementType(diag, "bias and weight", bias, weight)))
      return failure();
  }
  SmallVector<int64_t> shape(input.getShape().drop_back());
  shape.push_back(out);
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getLhs(), adaptor.getRhs()})))
    return failure();
  auto lhs = tensorType(adaptor.getLhs()); // (..., M, K)
  auto rhs = tensorType(adaptor.getRhs()); // (..., K, N)
  // Folded layouts: the product's operands are the stored ones transposed.
  auto permuted = [&](RankedTensorType type, std::optional<ArrayRef<int64_t>> perm,
                      StringRef name) -> FailureOr<RankedTensorType> {
    if (!perm)
      return type;
    SmallVector<int64_t> shape;
    if (!isPermutationVector(*perm) || static_cast<int64_t>(perm->size()) != type.getRank())
      return diag.fail("expects ", name, " to permute the ", type.getRank(), " dimensions of ",
                       type);
    for (int64_t dim : *perm)
      shape.push_back(type.getDimSize(dim));
    return RankedTensorType::get(shape, type.getElementType());
  };
  FailureOr<RankedTensorType> lhsView =
      permuted(lhs, adaptor.getLhsPermutation(), "lhs_permutation");
  FailureOr<RankedTensorType> rhsView =
      permuted(rhs, adaptor.getRhsPermutation(), "rhs_permutation");
  if (failed(lhsView) || failed(rhsView))
    return failure();
  lhs = *lhsView;
  rhs = *rhsView;
  if (lhs.getRank() < 2 || rhs.getRank() < 2)
    return diag.fail("expects operands of rank >= 2, got ", lhs, " and ", rhs);
  if (failed(requireSameElementType(diag, "operands", lhs, rhs)))
    return failure();
  int64_t k = lhs.getShape().back();
  if (rhs.getDimSize(rhs.getRank() - 2) != k)
    return diag.fail("expects contracting dimensions to match, got ", lhs, " and ", rhs);
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(lhs.getShape().drop_back(2),
                                          rhs.getShape().drop_back(2), shape))
    return diag.fail("expects broadcastable batch dimensions, got ", lhs, " and ", rhs);
  shape.push_back(lhs.getDimSize(lhs.getRank() - 2));
  shape.push_back(rhs.getShape().back());
  FailureOr<RankedTensorType> result =
      permuted(RankedTensorType::get(shape, lhs.getElementType()),
               adaptor.getResultPermutation(), "result_permutation");
  if (failed(result))
    return failure();
  types.push_back(*result);
  return success();
}

/// The output shape of a convolution of an (N, C, H, W) input by an (O, C / groups, KH, KW)
/// weight: the checks every conv op (forward or gradient) shares.
static FailureOr<SmallVector<int64_t>>
inferConvOutputShape(const Diag &diag, Type element, ArrayRef<int64_t> input,
                     ArrayRef<int64_t> weight,
                     std::optional<ArrayRef<int64_t>> strideAttr,
                     std::optional<ArrayRef<int64_t>> paddingAttr,
                     std::optional<ArrayRef<int64_t>> dilationAttr, std::optional<int64_t> groupsAttr) {
  if (input.size() != 4)
    return diag.fail("expects an input of shape (N, C, H, W), got ",
                     RankedTensorType::get(input, element));
  if (weight.size() != 4)
    return diag.fail("expects a weight of shape (O, C / groups, KH, KW), got ",
                     RankedTensorType::get(weight, element));
  ArrayRef<int64_t> stride = strideAttr.value_or(defaults::kUnitPair);
  ArrayRef<int64_t> padding = paddingAttr.value_or(defaults::kZeroPair);
  ArrayRef<int64_t> dilation = dilationAttr.value_or(defaults::kUnitPair);
  if (failed(requirePair(diag, "stride", stride, 1)) ||
      failed(requirePair(diag, "padding", padding, 0)) ||
      failed(requirePair(diag, "dilation", dilation, 1)))
    return failure();
  int64_t groups = groupsAttr.value_or(defaults::kGroups);
  int64_t channels = input[1], outChannels = weight[0];
  if (groups < 1 || channels % groups != 0 || outChannels % groups != 0)
    return diag.fail("expects groups (", groups, ") to divide input channels (", channels,
                     ") and output channels (", outChannels, ")");
  if (weight[1] != channels / groups)
    return diag.fail("expects weight dimension 1 to be input channels / groups = ",
                     channels / groups, ", got ", RankedTensorType::get(weight, element));
  SmallVector<int64_t> shape = {input[0], outChannels};
  for (int i = 0; i < 2; ++i) {
    int64_t extent = dilation[i] * (weight[2 + i] - 1) + 1;
    int64_t padded = input[2 + i] + 2 * padding[i];
    if (extent > padded)
      return diag.fail("expects the kernel extent (", extent,
                       ") to fit the padded input (", padded, ") in spatial dimension ", i);
    shape.push_back((padded - extent) / stride[i] + 1);
  }
  return shape;
}

LogicalResult Conv2dOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput(), adaptor.getWeight(), adaptor.getBias()})))
    return failure();
  auto input = tensorType(adaptor.getInput());   // (N, C, H, W)
  auto weight = tensorType(adaptor.getWeight()); // (O, C / groups, KH, KW)
  if (failed(requireSameElementType(diag, "input and weight", input, weight)))
    return failure();
  auto shape = inferConvOutputShape(diag, input.getElementType(), input.getShape(),
                                    weight.getShape(),
                                    adaptor.getStride(), adaptor.getPadding(),
                                    adaptor.getDilation(), adaptor.getGroups());
  if (failed(shape))
    return failure();
  if (auto bias = tensorType(adaptor.getBias())) {
    if (bias.getRank() != 1 || bias.getDimSize(0) != weight.getDimSize(0))
      return diag.fail("expects a bias of shape (", weight.getDimSize(0), "), got ", bias);
    if (failed(requireSameElementType(diag, "bias and weight", bias, weight)))
      return failure();
  }
  types.push_back(RankedTensorType::get(*shape, input.getElementType()));
  return success();
}

/// A conv gradient op's checks: the `shape` attribute (the forward input's when shapeIsInput,
/// else the weight's) and `known` (the other one) must give a forward output shaped like `grad`.
template <typename AdaptorTy>
static LogicalResult inferConvGrad(const Diag &diag, AdaptorTy adaptor, Value known, Value grad,
                                   bool shapeIsInput, SmallVectorImpl<Type> &types) {
  if (failed(requireTensors(diag, {known, grad})))
    return failure();
  if (!adaptor.getProperties().shape)
    return diag.fail("requires attribute 'shape'");
  auto knownType = tensorType(known), gradType = tensorType(grad);
  if (failed(requireSameElementType(diag, "operands", knownType, gradType)))
    return failure();
  ArrayRef<int64_t> shape = adaptor.getShape();
  auto expected = inferConvOutputShape(
      diag, gradType.getElementType(), shapeIsInput ? shape : knownType.getShape(),
      shapeIsInput ? knownType.getShape() : shape,
      adaptor.getStride(), adaptor.getPadding(), adaptor.getDilation(), adaptor.getGroups());
  if (failed(expected))
    return failure();
  if (ArrayRef<int64_t>(*expected) != gradType.getShape())
    return diag.fail("expects grad shaped like the convolution's output ",
                     RankedTensorType::get(*expected, gradType.getElementType()), ", got ",
                     gradType);
  types.push_back(RankedTensorType::get(shape, gradType.getElementType()));
  return success();
}

LogicalResult Conv2dGradInputOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                  Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferConvGrad(Diag(loc, getOperationName()), adaptor, adaptor.getWeight(),
                       adaptor.getGrad(), /*shapeIsInput=*/true, types);
}

LogicalResult Conv2dGradWeightOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                   Adaptor adaptor, SmallVectorImpl<Type> &types) {
  if (failed(inferConvGrad(Diag(loc, getOperationName()), adaptor, adaptor.getInput(),
                           adaptor.getGrad(), /*shapeIsInput=*/false, types)))
    return failure();
  if (adaptor.getWithBias()) // dL/dbias: one value per output channel
    types.push_back(RankedTensorType::get(
        {adaptor.getShape()[0]},
        convBiasGradElementType(tensorType(adaptor.getGrad()).getElementType())));
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

static LogicalResult inferBroadcast(const Diag &diag, Value lhsValue, Value rhsValue,
                                    SmallVectorImpl<Type> &types) {
  if (failed(requireTensors(diag, {lhsValue, rhsValue})))
    return failure();
  auto lhs = tensorType(lhsValue), rhs = tensorType(rhsValue);
  if (failed(requireSameElementType(diag, "operands", lhs, rhs)))
    return failure();
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(lhs.getShape(), rhs.getShape(), shape))
    return diag.fail("expects broadcastable shapes, got ", lhs, " and ", rhs);
  types.push_back(RankedTensorType::get(shape, lhs.getElementType()));
  return success();
}

#define NN_BINARY_INFER(OpTy)                                                                      \
  LogicalResult OpTy::inferReturnTypes(MLIRContext *, std::optional<Location> loc,                 \
                                       Adaptor adaptor, SmallVectorImpl<Type> &types) {            \
    return inferBroadcast(Diag(loc, getOperationName()), adaptor.getLhs(), adaptor.getRhs(),       \
                          types);                                                                  \
  }
NN_BINARY_INFER(AddOp)
NN_BINARY_INFER(SubOp)
NN_BINARY_INFER(MulOp)
NN_BINARY_INFER(DivOp)
#undef NN_BINARY_INFER

static LogicalResult inferSameType(const Diag &diag, Value input, SmallVectorImpl<Type> &types) {
  if (failed(requireTensors(diag, {input})))
    return failure();
  types.push_back(input.getType());
  return success();
}

#define NN_UNARY_INFER(OpTy)                                                                       \
  LogicalResult OpTy::inferReturnTypes(MLIRContext *, std::optional<Location> loc,                 \
                                       Adaptor adaptor, SmallVectorImpl<Type> &types) {            \
    return inferSameType(Diag(loc, getOperationName()), adaptor.getInput(), types);                \
  }
NN_UNARY_INFER(ReluOp)
NN_UNARY_INFER(TanhOp)
NN_UNARY_INFER(SigmoidOp)
NN_UNARY_INFER(SqrtOp)
NN_UNARY_INFER(ExpOp)
NN_UNARY_INFER(LogOp)
NN_UNARY_INFER(ClampOp)
#undef NN_UNARY_INFER

LogicalResult GeluOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                       Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  return inferSameType(diag, adaptor.getInput(), types);
}

LogicalResult DropoutOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (!adaptor.getProperties().rate)
    return diag.fail("requires attribute 'rate'");
  double rate = adaptor.getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return diag.fail("expects rate in [0, 1), got ", nnc::formatNumber(rate));
  ValueRange rng = adaptor.getRng();
  if (!rng.empty()) {
    auto step = tensorType(rng[0]), key = rng.size() == 2 ? tensorType(rng[1]) : nullptr;
    if (rng.size() != 2 || !step || !key || step.getRank() != 0 ||
        !isa<FloatType>(step.getElementType()) || key.getRank() != 0 ||
        !key.getElementType().isInteger(64))
      return diag.fail("expects rng to be a scalar float step and a scalar i64 key");
  }
  return inferSameType(diag, adaptor.getInput(), types);
}

LogicalResult CausalMaskOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                             Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  auto input = tensorType(adaptor.getInput()); // (..., T, T)
  int64_t rank = input.getRank();
  if (rank < 2 || input.getDimSize(rank - 1) != input.getDimSize(rank - 2))
    return diag.fail("expects square trailing dimensions (..., T, T), got ", input);
  types.push_back(input);
  return success();
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

static LogicalResult inferSoftmaxLike(const Diag &diag, Value inputValue,
                                      std::optional<int64_t> axis,
                                      SmallVectorImpl<Type> &types) {
  if (failed(requireTensors(diag, {inputValue})))
    return failure();
  auto input = tensorType(inputValue);
  if (input.getRank() < 1)
    return diag.fail("expects an input of rank >= 1, got ", input);
  if (failed(normalizeAxis(diag, axis.value_or(defaults::kAxis), input.getRank())))
    return failure();
  types.push_back(input);
  return success();
}

LogicalResult SoftmaxOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferSoftmaxLike(Diag(loc, getOperationName()), adaptor.getInput(), adaptor.getAxis(),
                          types);
}

LogicalResult LogSoftmaxOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                             Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferSoftmaxLike(Diag(loc, getOperationName()), adaptor.getInput(), adaptor.getAxis(),
                          types);
}

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput(), adaptor.getWeight(), adaptor.getBias()})))
    return failure();
  auto input = tensorType(adaptor.getInput());
  auto weight = tensorType(adaptor.getWeight());
  auto bias = tensorType(adaptor.getBias());
  if (weight.getShape() != bias.getShape())
    return diag.fail("expects weight and bias of one shape, got ", weight, " and ", bias);
  if (weight.getRank() < 1 || weight.getRank() > input.getRank() ||
      input.getShape().take_back(weight.getRank()) != weight.getShape())
    return diag.fail("expects weight to match the input's trailing dimensions, got ", weight,
                     " for input ", input);
  if (failed(requireSameElementType(diag, "input and weight", input, weight)) ||
      failed(requireSameElementType(diag, "input and bias", input, bias)))
    return failure();
  std::optional<APFloat> epsilon = adaptor.getEpsilon();
  if (epsilon && !(epsilon->convertToDouble() > 0.0))
    return diag.fail("expects a positive epsilon");
  types.push_back(input);
  return success();
}

//===----------------------------------------------------------------------===//
// Pooling and embedding
//===----------------------------------------------------------------------===//

template <typename AdaptorTy>
static LogicalResult inferPool2d(const Diag &diag, AdaptorTy adaptor,
                                 SmallVectorImpl<Type> &types) {
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  auto input = tensorType(adaptor.getInput()); // (N, C, H, W)
  if (input.getRank() != 4)
    return diag.fail("expects an input of shape (N, C, H, W), got ", input);
  if (!adaptor.getProperties().kernel_size)
    return diag.fail("requires attribute 'kernel_size'");
  ArrayRef<int64_t> kernel = adaptor.getKernelSize();
  ArrayRef<int64_t> stride = adaptor.getStride().value_or(kernel);
  ArrayRef<int64_t> padding = adaptor.getPadding().value_or(defaults::kZeroPair);
  if (failed(requirePair(diag, "kernel_size", kernel, 1)) ||
      failed(requirePair(diag, "stride", stride, 1)) ||
      failed(requirePair(diag, "padding", padding, 0)))
    return failure();
  SmallVector<int64_t> shape(input.getShape().take_front(2));
  for (int i = 0; i < 2; ++i) {
    // As in PyTorch: padding beyond half the window would make windows of padding only.
    if (2 * padding[i] > kernel[i])
      return diag.fail("expects padding at most half the kernel size, got padding ", padding[i],
                       " for kernel ", kernel[i]);
    int64_t padded = input.getDimSize(2 + i) + 2 * padding[i];
    if (kernel[i] > padded)
      return diag.fail("expects the kernel (", kernel[i], ") to fit the padded input (", padded,
                       ") in spatial dimension ", i);
    shape.push_back((padded - kernel[i]) / stride[i] + 1);
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult MaxPool2dOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferPool2d(Diag(loc, getOperationName()), adaptor, types);
}

LogicalResult AvgPool2dOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferPool2d(Diag(loc, getOperationName()), adaptor, types);
}

LogicalResult MaxPool2dGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput(), adaptor.getGrad()})) ||
      failed(inferPool2d(diag, adaptor, types)))
    return failure();
  if (types.back() != adaptor.getGrad().getType())
    return diag.fail("expects grad shaped like the pooling's output ", types.back(), ", got ",
                     adaptor.getGrad().getType());
  types.back() = adaptor.getInput().getType();
  return success();
}

LogicalResult WhereOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                        Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  SmallVector<Type> branches;
  if (failed(inferBroadcast(diag, adaptor.getLhs(), adaptor.getRhs(), branches)))
    return failure();
  auto result = cast<RankedTensorType>(branches.front());
  auto condition = tensorType(adaptor.getCondition());
  SmallVector<int64_t> shape;
  if (!condition ||
      !OpTrait::util::getBroadcastedShape(condition.getShape(), result.getShape(), shape) ||
      ArrayRef<int64_t>(shape) != result.getShape())
    return diag.fail("expects the condition to broadcast to ", result);
  types.push_back(result);
  return success();
}

LogicalResult CastOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                       Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  if (!adaptor.getProperties().dtype)
    return diag.fail("requires attribute 'dtype'");
  Type dtype = adaptor.getDtype();
  if (!dtype.isF32() && !dtype.isF16() && !dtype.isBF16())
    return diag.fail("expects dtype f32, f16 or bf16, got ", dtype);
  types.push_back(RankedTensorType::get(tensorType(adaptor.getInput()).getShape(), dtype));
  return success();
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // cast(cast(x : T -> wider) -> T) is x exactly: widening loses nothing.
  if (auto inner = getInput().getDefiningOp<CastOp>()) {
    Value x = inner.getInput();
    auto width = [](Value v) {
      return cast<RankedTensorType>(v.getType()).getElementTypeBitWidth();
    };
    if (x.getType() == getType() && width(inner.getResult()) > width(x))
      return x;
  }
  return {};
}

LogicalResult StopGradientOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                               Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  types.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getIndices(), adaptor.getWeight()})))
    return failure();
  auto indices = tensorType(adaptor.getIndices());
  auto weight = tensorType(adaptor.getWeight()); // (V, D)
  if (weight.getRank() != 2)
    return diag.fail("expects a weight of shape (V, D), got ", weight);
  SmallVector<int64_t> shape(indices.getShape());
  shape.push_back(weight.getDimSize(1));
  types.push_back(RankedTensorType::get(shape, weight.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  auto input = tensorType(adaptor.getInput());
  if (!adaptor.getProperties().shape)
    return diag.fail("requires attribute 'shape'");
  ArrayRef<int64_t> shape = adaptor.getShape();
  for (int64_t dim : shape)
    if (dim < 1)
      return diag.fail("expects positive target dimensions, got ", dim);
  int64_t count = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  if (count != input.getNumElements())
    return diag.fail("expects the target shape to hold ", input.getNumElements(),
                     " elements like ", input, ", got ", count);
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  auto input = tensorType(adaptor.getInput());
  if (!adaptor.getProperties().permutation)
    return diag.fail("requires attribute 'permutation'");
  ArrayRef<int64_t> permutation = adaptor.getPermutation();
  int64_t rank = input.getRank();
  SmallVector<bool> seen(rank, false);
  if (static_cast<int64_t>(permutation.size()) != rank)
    return diag.fail("expects a permutation of ", rank, " dimensions, got ", permutation.size());
  SmallVector<int64_t> shape;
  for (int64_t dim : permutation) {
    if (dim < 0 || dim >= rank || seen[dim])
      return diag.fail("expects a permutation of [0, ", rank, "), got entry ", dim);
    seen[dim] = true;
    shape.push_back(input.getDimSize(dim));
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  SmallVector<Value> inputs(adaptor.getInputs());
  if (inputs.empty())
    return diag.fail("expects at least one input");
  if (failed(requireTensors(diag, inputs)))
    return failure();
  auto first = tensorType(inputs.front());
  if (!adaptor.getProperties().axis)
    return diag.fail("requires attribute 'axis'");
  FailureOr<int64_t> axis = normalizeAxis(diag, adaptor.getAxis(), first.getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first.getShape());
  for (Value value : llvm::drop_begin(inputs)) {
    auto type = tensorType(value);
    if (failed(requireSameElementType(diag, "inputs", first, type)))
      return failure();
    if (type.getRank() != first.getRank())
      return diag.fail("expects inputs of one rank, got ", first, " and ", type);
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (d != *axis && type.getDimSize(d) != first.getDimSize(d))
        return diag.fail("expects inputs to agree off axis ", *axis, ", got ", first, " and ",
                         type);
    shape[*axis] += type.getDimSize(*axis);
  }
  types.push_back(RankedTensorType::get(shape, first.getElementType()));
  return success();
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                        Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  auto input = tensorType(adaptor.getInput());
  size_t rank = input.getRank();
  if (!adaptor.getProperties().start || !adaptor.getProperties().limit)
    return diag.fail("requires attributes 'start' and 'limit'");
  ArrayRef<int64_t> start = adaptor.getStart(), limit = adaptor.getLimit();
  SmallVector<int64_t> ones(rank, 1);
  ArrayRef<int64_t> step = adaptor.getStep().value_or(ArrayRef<int64_t>(ones));
  if (start.size() != rank || limit.size() != rank || step.size() != rank)
    return diag.fail("expects start, limit and step with one entry per dimension (", rank, ")");
  SmallVector<int64_t> shape;
  for (size_t d = 0; d < rank; ++d) {
    if (step[d] < 1)
      return diag.fail("expects positive steps, got ", step[d], " in dimension ", d);
    if (start[d] < 0 || start[d] >= limit[d] || limit[d] > input.getDimSize(d))
      return diag.fail("expects 0 <= start < limit <= ", input.getDimSize(d), " in dimension ",
                       d, ", got [", start[d], ", ", limit[d], ")");
    shape.push_back((limit[d] - start[d] + step[d] - 1) / step[d]);
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and losses
//===----------------------------------------------------------------------===//

template <typename AdaptorTy>
static LogicalResult inferReduce(const Diag &diag, AdaptorTy adaptor,
                                 SmallVectorImpl<Type> &types) {
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  auto input = tensorType(adaptor.getInput());
  if (!adaptor.getProperties().axes)
    return diag.fail("requires attribute 'axes'");
  ArrayRef<int64_t> axes = adaptor.getAxes();
  if (axes.empty())
    return diag.fail("expects at least one axis");
  llvm::SmallSet<int64_t, 4> reduced;
  for (int64_t axis : axes) {
    FailureOr<int64_t> dim = normalizeAxis(diag, axis, input.getRank());
    if (failed(dim))
      return failure();
    if (!reduced.insert(*dim).second)
      return diag.fail("expects distinct axes, got ", axis, " twice");
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < input.getRank(); ++d) {
    if (!reduced.contains(d))
      shape.push_back(input.getDimSize(d));
    else if (adaptor.getKeepdim().value_or(defaults::kKeepdim))
      shape.push_back(1);
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult ReduceSumOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferReduce(Diag(loc, getOperationName()), adaptor, types);
}

LogicalResult ReduceMeanOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                             Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferReduce(Diag(loc, getOperationName()), adaptor, types);
}

LogicalResult ReduceMaxOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferReduce(Diag(loc, getOperationName()), adaptor, types);
}

LogicalResult CrossEntropyOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                               Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getLogits(), adaptor.getTarget()})))
    return failure();
  auto logits = tensorType(adaptor.getLogits()); // (..., C)
  auto target = tensorType(adaptor.getTarget()); // (...) indices or (..., C) probabilities
  if (logits.getRank() < 1)
    return diag.fail("expects logits of rank >= 1 with classes last, got ", logits);
  if (target.getElementType().isInteger()) {
    if (target.getShape() != logits.getShape().drop_back())
      return diag.fail("expects class indices shaped like the logits without the class "
                       "dimension, got ",
                       target, " for logits ", logits);
  } else if (target != logits) {
    return diag.fail("expects class probabilities of the logits' type ", logits, ", got ",
                     target);
  }
  double smoothing = adaptor.getLabelSmoothing()
                         ? adaptor.getLabelSmoothing()->convertToDouble()
                         : defaults::kLabelSmoothing;
  if (!(smoothing >= 0.0 && smoothing <= 1.0))
    return diag.fail("expects label_smoothing in [0, 1], got ", nnc::formatNumber(smoothing));
  types.push_back(scalarOf(logits));
  return success();
}

LogicalResult MseLossOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getPrediction(), adaptor.getTarget()})))
    return failure();
  auto prediction = tensorType(adaptor.getPrediction());
  auto target = tensorType(adaptor.getTarget());
  if (prediction != target)
    return diag.fail("expects prediction and target of one type, got ", prediction, " and ",
                     target);
  types.push_back(scalarOf(prediction));
  return success();
}

//===----------------------------------------------------------------------===//
// Ops of backward passes
//===----------------------------------------------------------------------===//

LogicalResult ReluGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                           Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getOutput(), adaptor.getGrad()})))
    return failure();
  auto output = tensorType(adaptor.getOutput()), grad = tensorType(adaptor.getGrad());
  if (output != grad)
    return diag.fail("expects output and grad of one type, got ", output, " and ", grad);
  types.push_back(grad);
  return success();
}

LogicalResult OneHotOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getIndices()})))
    return failure();
  if (!adaptor.getProperties().classes || !adaptor.getProperties().dtype)
    return diag.fail("requires attributes 'classes' and 'dtype'");
  int64_t classes = adaptor.getClasses();
  if (classes < 1)
    return diag.fail("expects a positive number of classes, got ", classes);
  SmallVector<int64_t> shape(tensorType(adaptor.getIndices()).getShape());
  shape.push_back(classes);
  types.push_back(RankedTensorType::get(shape, adaptor.getDtype()));
  return success();
}

LogicalResult GeluGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                           Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput(), adaptor.getGrad()})))
    return failure();
  auto input = tensorType(adaptor.getInput()), grad = tensorType(adaptor.getGrad());
  if (input != grad)
    return diag.fail("expects input and grad of one type, got ", input, " and ", grad);
  types.push_back(grad);
  return success();
}

LogicalResult ClampGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput(), adaptor.getGrad()})))
    return failure();
  auto input = tensorType(adaptor.getInput()), grad = tensorType(adaptor.getGrad());
  if (input != grad)
    return diag.fail("expects input and grad of one type, got ", input, " and ", grad);
  types.push_back(grad);
  return success();
}

LogicalResult EmbeddingGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getIndices(), adaptor.getGrad()})))
    return failure();
  if (!adaptor.getProperties().rows)
    return diag.fail("requires attribute 'rows'");
  auto indices = tensorType(adaptor.getIndices()), grad = tensorType(adaptor.getGrad());
  if (grad.getShape().drop_back() != indices.getShape())
    return diag.fail("expects grad shaped (indices..., D), got ", grad, " for indices ", indices);
  if (adaptor.getRows() < 1)
    return diag.fail("expects a positive number of rows, got ", adaptor.getRows());
  int64_t rows = adaptor.getRows();
  types.push_back(RankedTensorType::get({rows, grad.getShape().back()}, grad.getElementType()));
  return success();
}

LogicalResult PadOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                      Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  if (!adaptor.getProperties().low || !adaptor.getProperties().high)
    return diag.fail("requires attributes 'low' and 'high'");
  auto input = tensorType(adaptor.getInput());
  ArrayRef<int64_t> low = adaptor.getLow(), high = adaptor.getHigh();
  SmallVector<int64_t> zeros(input.getRank(), 0);
  ArrayRef<int64_t> interior = adaptor.getInterior().value_or(ArrayRef<int64_t>(zeros));
  if (low.size() != static_cast<size_t>(input.getRank()) || high.size() != low.size() ||
      interior.size() != low.size())
    return diag.fail("expects low and high with one entry per dimension (", input.getRank(), ")");
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < input.getRank(); ++d) {
    if (low[d] < 0 || high[d] < 0 || interior[d] < 0)
      return diag.fail("expects non-negative padding, got ", low[d], " and ", high[d]);
    int64_t n = input.getDimSize(d);
    shape.push_back(low[d] + n + (n > 0 ? (n - 1) * interior[d] : 0) + high[d]);
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult EqualOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                        Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferBroadcast(Diag(loc, getOperationName()), adaptor.getLhs(), adaptor.getRhs(), types);
}

LogicalResult BroadcastOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  if (failed(requireTensors(diag, {adaptor.getInput()})))
    return failure();
  if (!adaptor.getProperties().shape)
    return diag.fail("requires attribute 'shape'");
  auto input = tensorType(adaptor.getInput());
  ArrayRef<int64_t> shape = adaptor.getShape();
  SmallVector<int64_t> result;
  if (!OpTrait::util::getBroadcastedShape(input.getShape(), shape, result) ||
      ArrayRef<int64_t>(result) != shape)
    return diag.fail("expects ", input, " to broadcast to [", shape, "]");
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult BatchNormTrainingOp::inferReturnTypes(MLIRContext *,
                                                    std::optional<Location> loc, Adaptor adaptor,
                                                    SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  SmallVector<Value> operands = {adaptor.getInput(), adaptor.getMean(), adaptor.getVar(),
                                 adaptor.getWeight(), adaptor.getBias()};
  if (failed(requireTensors(diag, operands)))
    return failure();
  auto input = tensorType(adaptor.getInput());
  if (input.getRank() != 2 && input.getRank() != 4)
    return diag.fail("expects input (N, C) or (N, C, H, W), got ", input);
  // mean and var keep the reduced dimensions: (1, C) or (1, C, 1, 1); weight and bias are (C).
  SmallVector<int64_t> statShape(input.getRank(), 1);
  statShape[1] = input.getDimSize(1);
  auto statType = RankedTensorType::get(statShape, input.getElementType());
  auto channelType = RankedTensorType::get({input.getDimSize(1)}, input.getElementType());
  const char *names[] = {"mean", "var", "weight", "bias"};
  for (auto [i, value] : llvm::enumerate(ArrayRef(operands).drop_front())) {
    RankedTensorType expected = i < 2 ? statType : channelType;
    if (tensorType(value) != expected)
      return diag.fail("expects ", names[i], " of type ", expected, ", got ", value.getType());
  }
  std::optional<APFloat> epsilon = adaptor.getEpsilon();
  if (epsilon && !(epsilon->convertToDouble() > 0.0))
    return diag.fail("expects a positive epsilon");
  types.push_back(input);
  return success();
}

LogicalResult BatchNormOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Diag diag(loc, getOperationName());
  SmallVector<Value> channelOperands = {adaptor.getWeight(), adaptor.getBias(),
                                        adaptor.getRunningMean(), adaptor.getRunningVar()};
  SmallVector<Value> operands = {adaptor.getInput()};
  operands.append(channelOperands);
  if (failed(requireTensors(diag, operands)))
    return failure();
  auto input = tensorType(adaptor.getInput());
  if (input.getRank() != 2 && input.getRank() != 4)
    return diag.fail("expects input (N, C) or (N, C, H, W), got ", input);
  int64_t channels = input.getDimSize(1);
  const char *names[] = {"weight", "bias", "running_mean", "running_var"};
  for (auto [name, value] : llvm::zip(names, channelOperands)) {
    auto type = tensorType(value);
    if (type.getRank() != 1 || type.getDimSize(0) != channels)
      return diag.fail("expects ", name, " (C) with C = ", channels,
                       " (the input's dimension 1), got ", type);
    if (failed(requireSameElementType(diag, (Twine("input and ") + name).str(), input, type)))
      return failure();
  }
  std::optional<APFloat> epsilon = adaptor.getEpsilon();
  if (epsilon && !(epsilon->convertToDouble() > 0.0))
    return diag.fail("expects a positive epsilon");
  std::optional<APFloat> momentum = adaptor.getMomentum();
  if (momentum && !(momentum->convertToDouble() >= 0.0 && momentum->convertToDouble() <= 1.0))
    return diag.fail("expects momentum in [0, 1], got ", momentum->convertToDouble());
  types.push_back(input);
  return success();
}
