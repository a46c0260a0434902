// nn -> linalg/tensor/arith/math on tensors, for every op but the contractions (linear, matmul,
// conv2d), which stay as nn ops because they cross the library-call boundary (oneDNN on CPU), and
// nn.constant, whose data the plan writes once.
//
// Each op becomes linalg.generic ops over its iteration space; multi-pass ops (softmax,
// layer_norm, losses) become a few generics whose elementwise parts the fusion pass merges.
#include "compiler/Passes.h"
#include "dialects/AttrNames.h"
#include "compiler/conversion/LinalgBuilders.h"

#include "dialects/nn/BatchNorm.h"
#include "dialects/nn/NNDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"
#include "mlir/Transforms/DialectConversion.h"

#include "llvm/Support/MathExtras.h"

namespace nnc {
#define GEN_PASS_DEF_LOWERNNTOLINALG
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;
using namespace nnc::lowering;
using namespace nnc::nn;

namespace {

/// Elements of `type` in the last `count` dimensions.
int64_t trailingCount(RankedTensorType type, int64_t count) {
  int64_t n = 1;
  for (int64_t dim : type.getShape().take_back(count))
    n *= dim;
  return n;
}

SmallVector<int64_t> trailingAxes(int64_t rank, int64_t count) {
  return llvm::to_vector(llvm::seq<int64_t>(rank - count, rank));
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

template <typename OpTy, typename FloatOp, typename IntOp>
struct BinaryLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    bool isFloat = isa<FloatType>(type.getElementType());
    Value result = elementwise(
        rewriter, op.getLoc(), type, {adaptor.getLhs(), adaptor.getRhs()},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          if (isFloat)
            return FloatOp::create(b, loc, args[0], args[1]);
          return IntOp::create(b, loc, args[0], args[1]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Unary float ops: `fn(builder, loc, x)` gives the new element.
template <typename OpTy>
struct UnaryLowering : OpConversionPattern<OpTy> {
  using Fn = Value (*)(OpBuilder &, Location, Value, OpTy);
  UnaryLowering(MLIRContext *ctx, Fn fn) : OpConversionPattern<OpTy>(ctx), fn(fn) {}
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Value result = elementwise(rewriter, op.getLoc(), cast<RankedTensorType>(op.getType()),
                               adaptor.getInput(),
                               [&](OpBuilder &b, Location loc, ValueRange args) {
                                 return fn(b, loc, args[0], op);
                               });
    rewriter.replaceOp(op, result);
    return success();
  }
  Fn fn;
};

Value relu(OpBuilder &b, Location loc, Value x, ReluOp) {
  return arith::MaximumFOp::create(b, loc, x, constantFloat(b, loc, x.getType(), 0.0));
}

Value tanhFn(OpBuilder &b, Location loc, Value x, TanhOp) { return math::TanhOp::create(b, loc, x); }

Value sqrtFn(OpBuilder &b, Location loc, Value x, SqrtOp) { return math::SqrtOp::create(b, loc, x); }
Value expFn(OpBuilder &b, Location loc, Value x, ExpOp) { return math::ExpOp::create(b, loc, x); }
Value logFn(OpBuilder &b, Location loc, Value x, LogOp) { return math::LogOp::create(b, loc, x); }

/// min(max(x, lo), hi) with maximumf/minimumf, which return NaN for a NaN x as PyTorch's clamp
/// does (maxnumf would drop it).
Value clamp(OpBuilder &b, Location loc, Value x, ClampOp op) {
  Type t = x.getType();
  if (FloatAttr lo = op.getMinAttr())
    x = arith::MaximumFOp::create(b, loc, x, constantFloat(b, loc, t, lo.getValueAsDouble()));
  if (FloatAttr hi = op.getMaxAttr())
    x = arith::MinimumFOp::create(b, loc, x, constantFloat(b, loc, t, hi.getValueAsDouble()));
  return x;
}

Value sigmoid(OpBuilder &b, Location loc, Value x, SigmoidOp) {
  // 1 / (1 + exp(-x))
  Value one = constantFloat(b, loc, x.getType(), 1.0);
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, one, arith::AddFOp::create(b, loc, one, e));
}

Value gelu(OpBuilder &b, Location loc, Value x, GeluOp op) {
  Type t = x.getType();
  Value half = constantFloat(b, loc, t, 0.5), one = constantFloat(b, loc, t, 1.0);
  Value inner;
  if (op.getApproximate().value_or(defaults::kGeluApproximate) == Approximation::tanh) {
    // tanh(sqrt(2/pi) * (x + 0.044715 x^3)), as PyTorch's approximate="tanh"
    Value x3 = arith::MulFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x, x));
    Value poly = arith::AddFOp::create(
        b, loc, x, arith::MulFOp::create(b, loc, constantFloat(b, loc, t, 0.044715), x3));
    inner = math::TanhOp::create(
        b, loc,
        arith::MulFOp::create(b, loc, constantFloat(b, loc, t, std::sqrt(2.0 / llvm::numbers::pi)),
                              poly));
  } else {
    // erf(x / sqrt(2))
    inner = math::ErfOp::create(
        b, loc, arith::MulFOp::create(b, loc, x, constantFloat(b, loc, t, 1.0 / std::sqrt(2.0))));
  }
  return arith::MulFOp::create(
      b, loc, arith::MulFOp::create(b, loc, half, x), arith::AddFOp::create(b, loc, one, inner));
}

struct CausalMaskLowering : OpConversionPattern<CausalMaskOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(CausalMaskOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    int64_t rank = type.getRank();
    Value result = elementwise(
        rewriter, op.getLoc(), type, adaptor.getInput(),
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          // Key (column) after query (row): masked.
          Value row = linalg::IndexOp::create(b, loc, rank - 2);
          Value col = linalg::IndexOp::create(b, loc, rank - 1);
          Value future = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, col, row);
          double fill = op.getFill() ? op.getFill()->convertToDouble()
                                     : -std::numeric_limits<double>::infinity();
          return arith::SelectOp::create(b, loc, future,
                                         constantFloat(b, loc, args[0].getType(), fill), args[0]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

/// The passes of a numerically stable softmax / log-sum-exp over `axes`: the max (keepdim), the
/// exponentials exp(x - max) and their sum (keepdim).
struct MaxExpSum {
  Value max, exps, sum;
};

MaxExpSum maxExpSum(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> axes) {
  double minusInf = -std::numeric_limits<double>::infinity();
  Value max = reduce(b, loc, x, axes, /*keepdim=*/true, minusInf,
                     [](OpBuilder &nb, Location nloc, ValueRange args) -> Value {
                       return arith::MaximumFOp::create(nb, nloc, args[0], args[1]);
                     });
  auto type = cast<RankedTensorType>(x.getType());
  Value exps = elementwise(b, loc, type, {x, max},
                           [](OpBuilder &nb, Location nloc, ValueRange args) -> Value {
                             return math::ExpOp::create(
                                 nb, nloc, arith::SubFOp::create(nb, nloc, args[0], args[1]));
                           });
  Value sum = reduce(b, loc, exps, axes, /*keepdim=*/true, 0.0,
                     [](OpBuilder &nb, Location nloc, ValueRange args) -> Value {
                       return arith::AddFOp::create(nb, nloc, args[0], args[1]);
                     });
  return {max, exps, sum};
}

template <typename OpTy, bool isLog>
struct SoftmaxLowering : OpConversionPattern<OpTy> {
  SoftmaxLowering(MLIRContext *context, bool expsOnce = false)
      : OpConversionPattern<OpTy>(context), expsOnce(expsOnce) {}
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    int64_t axis = op.getAxis().value_or(defaults::kAxis);
    if (axis < 0)
      axis += type.getRank();
    Location loc = op.getLoc();
    auto [max, exps, sum] = maxExpSum(rewriter, loc, adaptor.getInput(), {axis});
    Value result;
    if (isLog) { // x - max - log(sum)
      result = elementwise(rewriter, loc, type, {adaptor.getInput(), max, sum},
                           [](OpBuilder &b, Location nloc, ValueRange args) -> Value {
                             Value shifted = arith::SubFOp::create(b, nloc, args[0], args[1]);
                             return arith::SubFOp::create(b, nloc, shifted,
                                                          math::LogOp::create(b, nloc, args[2]));
                           });
    } else if (expsOnce) { // exps / sum: the exponentials have two users, so neither fuses them
      result = elementwise(rewriter, loc, type, {exps, sum},
                           [](OpBuilder &b, Location nloc, ValueRange args) -> Value {
                             return arith::DivFOp::create(b, nloc, args[0], args[1]);
                           });
    } else { // exp(x - max) / sum: the exponentials fuse into the sum and are computed again
      result = elementwise(rewriter, loc, type, {adaptor.getInput(), max, sum},
                           [](OpBuilder &b, Location nloc, ValueRange args) -> Value {
                             Value shifted = arith::SubFOp::create(b, nloc, args[0], args[1]);
                             return arith::DivFOp::create(
                                 b, nloc, math::ExpOp::create(b, nloc, shifted), args[2]);
                           });
    }
    rewriter.replaceOp(op, result);
    return success();
  }

private:
  bool expsOnce;
};

struct LayerNormLowering : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    int64_t count = cast<RankedTensorType>(op.getWeight().getType()).getRank();
    SmallVector<int64_t> axes = trailingAxes(type.getRank(), count);
    Type t = type.getElementType();
    Location loc = op.getLoc();
    double n = trailingCount(type, count);
    double eps = op.getEpsilon() ? op.getEpsilon()->convertToDouble() : defaults::kLayerNormEpsilon;
    auto add = [](OpBuilder &b, Location l, ValueRange args) -> Value {
      return arith::AddFOp::create(b, l, args[0], args[1]);
    };
    Value x = adaptor.getInput();
    Value sum = reduce(rewriter, loc, x, axes, /*keepdim=*/true, 0.0, add);
    // Biased variance from centered values: two passes, as PyTorch, for accuracy.
    Value centered = elementwise(rewriter, loc, type, {x, sum},
                                 [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                                   Value mean = arith::DivFOp::create(
                                       b, l, args[1], constantFloat(b, l, t, n));
                                   return arith::SubFOp::create(b, l, args[0], mean);
                                 });
    Value squares = elementwise(rewriter, loc, type, {centered},
                                [](OpBuilder &b, Location l, ValueRange args) -> Value {
                                  return arith::MulFOp::create(b, l, args[0], args[0]);
                                });
    Value sumSquares = reduce(rewriter, loc, squares, axes, /*keepdim=*/true, 0.0, add);
    Value result = elementwise(
        rewriter, loc, type, {centered, sumSquares, adaptor.getWeight(), adaptor.getBias()},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value var = arith::DivFOp::create(b, l, args[1], constantFloat(b, l, t, n));
          Value stddev = math::SqrtOp::create(
              b, l, arith::AddFOp::create(b, l, var, constantFloat(b, l, t, eps)));
          Value normed = arith::DivFOp::create(b, l, args[0], stddev);
          return arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, normed, args[2]),
                                       args[3]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pooling and embedding
//===----------------------------------------------------------------------===//

/// Pooling whose windows tile the input exactly (stride = kernel, no padding, H = OH * KH,
/// W = OW * KW) in two passes that vectorize: (1) the KH input rows of each output row combined
/// (contiguous rows), (2) each run of KW neighbours of that result, flattened per sample into
/// one long loop whose KW-strided loads LLVM turns into vector loads and shuffles. A single
/// pass over (n, c, oh, ow) would walk output rows of OW elements with strided loads: LLVM
/// unrolls such short loops fully and leaves them scalar.
Value poolTiledWindows(OpBuilder &b, Location loc, Value input, RankedTensorType type,
                       ArrayRef<int64_t> kernel, bool isMax) {
  MLIRContext *ctx = b.getContext();
  auto inputType = cast<RankedTensorType>(input.getType());
  Type t = type.getElementType();
  int64_t n = type.getDimSize(0), c = type.getDimSize(1), oh = type.getDimSize(2),
          ow = type.getDimSize(3), w = inputType.getDimSize(3);
  auto combine = [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
    Value acc = args[0];
    for (Value x : args.drop_front().drop_back())
      acc = isMax ? maxKeepingNaN(nb, l, x, acc)
                  : arith::AddFOp::create(nb, l, acc, x).getResult();
    return acc;
  };
  using IT = utils::IteratorType;

  // (1) rows[n, c, oh, w] = combine over kh of input[n, c, oh * KH + kh, w].
  auto rowsType = RankedTensorType::get({n, c, oh, w}, t);
  Value rows = generic(b, loc, SmallVector<Value>(kernel[0], input), windowRowMaps(ctx, kernel[0]),
                       emptyTensor(b, loc, rowsType), b.getMultiDimIdentityMap(4),
                       SmallVector<IT>(4, IT::parallel), combine);

  // (2) out[n, i] = combine over kw of rows[n, i, kw], i = (c * OH + oh) * OW + ow.
  Value columns = windowColumns(b, loc, rows, kernel[1]);
  auto outType = RankedTensorType::get({n, c * oh * ow}, t);
  int64_t count = kernel[0] * kernel[1];
  Value out = generic(b, loc, SmallVector<Value>(kernel[1], columns),
                      windowColumnMaps(ctx, kernel[1]), emptyTensor(b, loc, outType),
                      b.getMultiDimIdentityMap(2), {IT::parallel, IT::parallel},
                      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
                        Value acc = combine(nb, l, args);
                        if (isMax)
                          return acc;
                        // The average: no padding, so every window has KH * KW elements.
                        return arith::DivFOp::create(nb, l, acc, constantFloat(nb, l, t, count));
                      });
  return tensor::ExpandShapeOp::create(b, loc, type, out,
                                       SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
}

template <typename OpTy, bool isMax>
struct Pool2dLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType()); // (N, C, OH, OW)
    Type t = type.getElementType();
    ArrayRef<int64_t> kernel = op.getKernelSize();
    ArrayRef<int64_t> stride = op.getStride().value_or(kernel);
    ArrayRef<int64_t> padding = op.getPadding().value_or(defaults::kZeroPair);
    double padValue = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
    Value input = adaptor.getInput();
    if (tilesExactly(cast<RankedTensorType>(input.getType()), type, kernel, stride, padding)) {
      rewriter.replaceOp(op, poolTiledWindows(rewriter, loc, input, type, kernel, isMax));
      return success();
    }
    if (padding[0] || padding[1]) {
      SmallVector<OpFoldResult> low = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(0),
                                       rewriter.getIndexAttr(padding[0]),
                                       rewriter.getIndexAttr(padding[1])};
      input = tensor::PadOp::create(rewriter, loc, Type(), input, low, low,
                                    constantFloat(rewriter, loc, t, padValue));
    }
    // Domain (n, c, kh, kw, oh, ow): the window loops outside the output's rows and columns, so
    // the innermost loop walks a contiguous output row and vectorizes. The window tensor only
    // gives kh, kw their extents.
    MLIRContext *ctx = rewriter.getContext();
    auto d = [&](int i) { return getAffineDimExpr(i, ctx); };
    AffineMap inputMap = AffineMap::get(
        6, 0, {d(0), d(1), d(4) * stride[0] + d(2), d(5) * stride[1] + d(3)}, ctx);
    AffineMap windowMap = AffineMap::get(6, 0, {d(2), d(3)}, ctx);
    AffineMap outMap = AffineMap::get(6, 0, {d(0), d(1), d(4), d(5)}, ctx);
    Value window = tensor::EmptyOp::create(rewriter, loc, kernel, t);
    using IT = utils::IteratorType;
    SmallVector<IT> iterators = {IT::parallel,  IT::parallel, IT::reduction,
                                 IT::reduction, IT::parallel, IT::parallel};
    Value pooled = generic(rewriter, loc, {input, window}, {inputMap, windowMap},
                           emptyTensor(rewriter, loc, type, padValue), outMap, iterators,
                           [](OpBuilder &b, Location l, ValueRange args) -> Value {
                             if (isMax)
                               return maxKeepingNaN(b, l, args[0], args[2]);
                             return arith::AddFOp::create(b, l, args[0], args[2]);
                           });
    if (!isMax) // count_include_pad, as PyTorch's default
      pooled = elementwise(rewriter, loc, type, pooled,
                           [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                             return arith::DivFOp::create(
                                 b, l, args[0], constantFloat(b, l, t, kernel[0] * kernel[1]));
                           });
    rewriter.replaceOp(op, pooled);
    return success();
  }
};

struct EmbeddingLowering : OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType()); // (indices..., D)
    int64_t rank = type.getRank();
    Value table = adaptor.getWeight();
    int64_t rows = cast<RankedTensorType>(table.getType()).getDimSize(0);
    AffineMap indexMap = AffineMap::getMultiDimIdentityMap(rank, rewriter.getContext())
                             .getMajorSubMap(rank - 1);
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    Value result = generic(
        rewriter, op.getLoc(), adaptor.getIndices(), indexMap,
        emptyTensor(rewriter, op.getLoc(), type), rewriter.getMultiDimIdentityMap(rank),
        iterators, [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          // Ids outside [0, rows) give a zero row (as nn.embedding_grad ignores them): a
          // vocabulary-parallel embedding looks up only the ids of its own rows. The read is
          // clamped so that it never leaves the table.
          Value row = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value zero = arith::ConstantIndexOp::create(b, l, 0);
          Value last = arith::ConstantIndexOp::create(b, l, rows - 1);
          Value inside = arith::AndIOp::create(
              b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, row, zero),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle, row, last));
          row = arith::MinSIOp::create(b, l, arith::MaxSIOp::create(b, l, row, zero), last);
          Value col = linalg::IndexOp::create(b, l, rank - 1);
          Value value = tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
          return arith::SelectOp::create(b, l, inside, value,
                                         constantFloat(b, l, type.getElementType(), 0.0));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

struct ReshapeLowering : OpConversionPattern<ReshapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    // Collapse to 1-D, then expand: both are views of one contiguous buffer.
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    Value value = adaptor.getInput();
    auto inputType = cast<RankedTensorType>(value.getType());
    auto all = [](int64_t rank) {
      ReassociationIndices indices = llvm::to_vector(llvm::seq<int64_t>(0, rank));
      return SmallVector<ReassociationIndices>{indices};
    };
    // Rank 0 expands to, and collapses from, all-ones shapes with no reassociation groups.
    SmallVector<ReassociationIndices> none;
    if (inputType.getRank() == 0) {
      if (type.getRank() > 0)
        value = tensor::ExpandShapeOp::create(rewriter, loc, type, value, none);
    } else if (type.getRank() == 0) {
      value = tensor::CollapseShapeOp::create(rewriter, loc, value, none);
    } else {
      if (inputType.getRank() > 1)
        value = tensor::CollapseShapeOp::create(rewriter, loc, value, all(inputType.getRank()));
      if (type.getRank() > 1)
        value = tensor::ExpandShapeOp::create(rewriter, loc, type, value, all(type.getRank()));
    }
    rewriter.replaceOp(op, value);
    return success();
  }
};

struct TransposeLowering : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    auto transposed = linalg::TransposeOp::create(rewriter, op.getLoc(), adaptor.getInput(),
                                                  emptyTensor(rewriter, op.getLoc(), type),
                                                  op.getPermutation());
    rewriter.replaceOp(op, transposed.getResult());
    return success();
  }
};

struct SliceLowering : OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    // Outlined as a kernel of its own, the (strided) slice is copied into a contiguous buffer.
    auto type = cast<RankedTensorType>(op.getType());
    SmallVector<int64_t> ones(type.getRank(), 1);
    ArrayRef<int64_t> step = op.getStep().value_or(ArrayRef<int64_t>(ones));
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(
        op, type, adaptor.getInput(), ValueRange(), ValueRange(), ValueRange(), op.getStart(),
        type.getShape(), step);
    return success();
  }
};

struct ConcatLowering : OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    int64_t axis = op.getAxis();
    if (axis < 0)
      axis += cast<RankedTensorType>(op.getType()).getRank();
    rewriter.replaceOpWithNewOp<tensor::ConcatOp>(op, axis, adaptor.getInputs());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Reductions and losses
//===----------------------------------------------------------------------===//

template <typename OpTy>
struct ReduceLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto inputType = cast<RankedTensorType>(adaptor.getInput().getType());
    auto type = cast<RankedTensorType>(op.getType());
    bool isFloat = isa<FloatType>(type.getElementType());
    constexpr bool isMax = std::is_same_v<OpTy, ReduceMaxOp>;
    constexpr bool isMean = std::is_same_v<OpTy, ReduceMeanOp>;
    if (!isFloat && (isMax || isMean))
      return rewriter.notifyMatchFailure(op, "integer max/mean are not lowered");
    SmallVector<int64_t> axes;
    int64_t count = 1;
    for (int64_t axis : op.getAxes()) {
      int64_t d = axis < 0 ? axis + inputType.getRank() : axis;
      axes.push_back(d);
      count *= inputType.getDimSize(d);
    }
    bool keepdim = op.getKeepdim().value_or(defaults::kKeepdim);
    Location loc = op.getLoc();
    Value result;
    if (isFloat) {
      result = reduce(rewriter, loc, adaptor.getInput(), axes, keepdim,
                      isMax ? -std::numeric_limits<double>::infinity() : 0.0,
                      [](OpBuilder &b, Location l, ValueRange args) -> Value {
                        if (isMax)
                          return arith::MaximumFOp::create(b, l, args[0], args[1]);
                        return arith::AddFOp::create(b, l, args[0], args[1]);
                      });
    } else {
      // Integer sums: the init is an integer zero.
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getIntegerAttr(type.getElementType(), 0));
      Value init = linalg::FillOp::create(rewriter, loc, zero,
                                          ValueRange{tensor::EmptyOp::create(
                                              rewriter, loc, type.getShape(),
                                              type.getElementType())})
                       .getResult(0);
      SmallVector<AffineExpr> outExprs;
      SmallVector<utils::IteratorType> iterators;
      for (int64_t d = 0; d < inputType.getRank(); ++d) {
        bool reduced = llvm::is_contained(axes, d);
        iterators.push_back(reduced ? utils::IteratorType::reduction
                                    : utils::IteratorType::parallel);
        if (!reduced || keepdim)
          outExprs.push_back(reduced ? rewriter.getAffineConstantExpr(0)
                                     : rewriter.getAffineDimExpr(d));
      }
      result = generic(rewriter, loc, adaptor.getInput(),
                       rewriter.getMultiDimIdentityMap(inputType.getRank()), init,
                       AffineMap::get(inputType.getRank(), 0, outExprs, rewriter.getContext()),
                       iterators, [](OpBuilder &b, Location l, ValueRange args) -> Value {
                         return arith::AddIOp::create(b, l, args[0], args[1]);
                       });
    }
    if (isMean)
      result = elementwise(rewriter, loc, type, result,
                           [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                             return arith::DivFOp::create(
                                 b, l, args[0],
                                 constantFloat(b, l, type.getElementType(), count));
                           });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// sum or mean of `rows` into a scalar.
Value reduceRows(OpBuilder &b, Location loc, Value rows, bool mean) {
  auto type = cast<RankedTensorType>(rows.getType());
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
  Value total = reduce(b, loc, rows, axes, /*keepdim=*/false, 0.0,
                       [](OpBuilder &nb, Location l, ValueRange args) -> Value {
                         return arith::AddFOp::create(nb, l, args[0], args[1]);
                       });
  if (!mean)
    return total;
  return elementwise(b, loc, cast<RankedTensorType>(total.getType()), total,
                     [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
                       return arith::DivFOp::create(
                           nb, l, args[0],
                           constantFloat(nb, l, type.getElementType(), type.getNumElements()));
                     });
}

struct CrossEntropyLowering : OpConversionPattern<CrossEntropyOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(CrossEntropyOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    // Per position: loss = lse * sum_c(w_c) - sum_c(w_c * x_c), with target weights
    // w_c = (1 - s) * target_c + s / C, where target_c is one-hot for class indices.
    Location loc = op.getLoc();
    Value logits = adaptor.getLogits();
    auto type = cast<RankedTensorType>(logits.getType()); // (..., C)
    Type t = type.getElementType();
    int64_t rank = type.getRank(), classes = type.getShape().back();
    double s = op.getLabelSmoothing() ? op.getLabelSmoothing()->convertToDouble()
                                      : defaults::kLabelSmoothing;
    MaxExpSum stats = maxExpSum(rewriter, loc, logits, {rank - 1});
    Value max = stats.max, sumExp = stats.sum;
    Value target = adaptor.getTarget();
    bool indices = isa<IntegerType>(cast<RankedTensorType>(target.getType()).getElementType());
    MLIRContext *ctx = rewriter.getContext();
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap rowMap = identity.getMajorSubMap(rank - 1);
    AffineMap keepMap = broadcastMap(ctx, rank, cast<RankedTensorType>(max.getType()).getShape(),
                                     type.getShape());
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators.back() = utils::IteratorType::reduction;
    auto rowType = RankedTensorType::get(type.getShape().drop_back(), t);
    auto loss = linalg::GenericOp::create(
        rewriter, loc, rowType, ValueRange{logits, target, max, sumExp},
        ValueRange{emptyTensor(rewriter, loc, rowType, 0.0)},
        SmallVector<AffineMap>{identity, indices ? rowMap : identity, keepMap, keepMap, rowMap},
        iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = args[0], acc = args[4];
          Value targetWeight;
          if (indices) {
            Value c = linalg::IndexOp::create(b, l, rank - 1);
            Value label = arith::IndexCastOp::create(b, l, b.getIndexType(), args[1]);
            Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, c, label);
            targetWeight = arith::SelectOp::create(b, l, hit, constantFloat(b, l, t, 1.0),
                                                   constantFloat(b, l, t, 0.0));
          } else {
            targetWeight = args[1];
          }
          Value w = arith::AddFOp::create(
              b, l, arith::MulFOp::create(b, l, constantFloat(b, l, t, 1.0 - s), targetWeight),
              constantFloat(b, l, t, s / classes));
          // w * (lse - x), lse = max + log(sumexp)
          Value lse = arith::AddFOp::create(b, l, args[2], math::LogOp::create(b, l, args[3]));
          Value term = arith::MulFOp::create(b, l, w, arith::SubFOp::create(b, l, lse, x));
          linalg::YieldOp::create(b, l, ValueRange{arith::AddFOp::create(b, l, acc, term)});
        });
    bool mean = op.getReduction().value_or(defaults::kReduction) == Reduction::mean;
    rewriter.replaceOp(op, reduceRows(rewriter, loc, loss.getResult(0), mean));
    return success();
  }
};

struct MseLossLowering : OpConversionPattern<MseLossOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MseLossOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(adaptor.getPrediction().getType());
    Value squares = elementwise(rewriter, op.getLoc(), type,
                                {adaptor.getPrediction(), adaptor.getTarget()},
                                [](OpBuilder &b, Location l, ValueRange args) -> Value {
                                  Value d = arith::SubFOp::create(b, l, args[0], args[1]);
                                  return arith::MulFOp::create(b, l, d, d);
                                });
    rewriter.replaceOp(op, reduceRows(rewriter, op.getLoc(), squares, /*mean=*/true));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Ops of backward passes
//===----------------------------------------------------------------------===//

/// Philox4x32-10 (Salmon et al., SC'11) on i32 values: the four output words of the block for
/// `counter` under `key`. The runtime's initializers use the same generator (runtime/Philox.h).
std::array<Value, 4> philox(OpBuilder &b, Location loc, std::array<Value, 4> c,
                            std::array<Value, 2> k) {
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  auto u32 = [&](uint32_t v) { return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v)); };
  auto mulhilo = [&](uint32_t m, Value x) -> std::pair<Value, Value> {
    Value wide = arith::MulIOp::create(b, loc, arith::ExtUIOp::create(b, loc, i64, x),
                                       arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(m)));
    Value hi = arith::TruncIOp::create(
        b, loc, i32,
        arith::ShRUIOp::create(b, loc, wide,
                               arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(32))));
    return {hi, arith::TruncIOp::create(b, loc, i32, wide)};
  };
  for (int round = 0; round < 10; ++round) {
    auto [hi0, lo0] = mulhilo(0xD2511F53u, c[0]);
    auto [hi1, lo1] = mulhilo(0xCD9E8D57u, c[2]);
    c = {arith::XOrIOp::create(b, loc, arith::XOrIOp::create(b, loc, hi1, c[1]), k[0]), lo1,
         arith::XOrIOp::create(b, loc, arith::XOrIOp::create(b, loc, hi0, c[3]), k[1]), lo0};
    k = {arith::AddIOp::create(b, loc, k[0], u32(0x9E3779B9u)),
         arith::AddIOp::create(b, loc, k[1], u32(0xBB67AE85u))};
  }
  return c;
}

/// One mask op per distinct dropout mask: a backward dropout reuses its forward's.
void mergeDropoutMasks(func::FuncOp func) {
  DominanceInfo dominance(func);
  SmallVector<linalg::GenericOp> kept;
  func.walk([&](linalg::GenericOp mask) {
    Attribute mark = mask->getAttr(nnc::attr::kDropoutMask);
    if (!mark)
      return;
    for (linalg::GenericOp earlier : kept)
      if (earlier->getAttr(nnc::attr::kDropoutMask) == mark &&
          earlier.getInputs() == mask.getInputs() &&
          earlier->getResultTypes() == mask->getResultTypes() &&
          dominance.properlyDominates(earlier.getOperation(), mask.getOperation())) {
        mask->replaceAllUsesWith(earlier);
        mask->erase();
        return;
      }
    kept.push_back(mask);
  });
  for (linalg::GenericOp mask : kept)
    mask->removeAttr(nnc::attr::kDropoutMask);
}

struct DropoutLowering : OpConversionPattern<DropoutOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(DropoutOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    double rate = op.getRate().convertToDouble();
    if (adaptor.getRng().empty() || rate == 0.0) { // evaluation, or nothing to drop
      rewriter.replaceOp(op, adaptor.getInput());
      return success();
    }
    // Keep element e iff uniform(word e % 4 of Philox(counter = (e / 4 lo, e / 4 hi, step,
    // stream), key)) >= rate, the uniform from the word's top 24 bits; kept elements scale by
    // 1/(1-p). The loop runs over the elements as (groups of 4, 4): each block's four words serve
    // four elements (LLVM unrolls the inner 4 and computes the block once), a quarter of the
    // Philox rounds of one block per element. A last dimension not a multiple of 4 is a group
    // dimension of one element, which uses word 0.
    auto type = cast<RankedTensorType>(op.getType());
    int64_t stream = op.getStream().value_or(0);
    int64_t rank = type.getRank();
    int64_t last = rank ? type.getDimSize(rank - 1) : 1;
    int64_t lanes = last % 4 == 0 ? 4 : 1;
    SmallVector<int64_t> groups(type.getShape()); // the shape without the lanes
    if (rank)
      groups.back() /= lanes;
    else
      groups.push_back(1);
    SmallVector<int64_t> shape(groups);
    shape.push_back(lanes);
    auto laneType = RankedTensorType::get(shape, type.getElementType());
    // Dimension d stays d, the last one splits into (groups, lanes); rank 0 has no groups.
    SmallVector<ReassociationIndices> reassociation;
    for (int64_t d = 0; d < rank; ++d)
      reassociation.push_back(d + 1 < rank ? ReassociationIndices{d}
                                           : ReassociationIndices{d, d + 1});
    Value input = tensor::ExpandShapeOp::create(rewriter, op.getLoc(), laneType,
                                                adaptor.getInput(), reassociation);
    SmallVector<int64_t> strides(groups.size(), 1);
    for (int64_t d = static_cast<int64_t>(groups.size()) - 2; d >= 0; --d)
      strides[d] = strides[d + 1] * groups[d + 1];
    // The mask (0 or the scale) is its own op, a function of the rng alone, marked so that
    // the backward dropout's mask merges with the forward's (mergeDropoutMasks): elementwise
    // fusion then computes it once and the backward pass reads it instead of running Philox.
    Value mask = elementwise(
        rewriter, op.getLoc(), laneType, {adaptor.getRng()[0], adaptor.getRng()[1]},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Type i32 = b.getI32Type(), i64 = b.getI64Type();
          auto i64c = [&](int64_t v) {
            return arith::ConstantOp::create(b, l, b.getI64IntegerAttr(v)).getResult();
          };
          auto i32c = [&](uint32_t v) {
            return arith::ConstantOp::create(b, l, b.getI32IntegerAttr(v)).getResult();
          };
          Value group = i64c(0);
          for (int64_t d = 0; d < static_cast<int64_t>(groups.size()); ++d) {
            Value i = arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, d));
            group = arith::AddIOp::create(b, l, group,
                                          arith::MulIOp::create(b, l, i, i64c(strides[d])));
          }
          Value lo = arith::TruncIOp::create(b, l, i32, group);
          Value hi = arith::TruncIOp::create(
              b, l, i32, arith::ShRUIOp::create(b, l, group, i64c(32)));
          Value stepWord = arith::FPToUIOp::create(b, l, i32, args[0]);
          std::array<Value, 4> words =
              philox(b, l, {lo, hi, stepWord, i32c(static_cast<uint32_t>(stream))},
                     {arith::TruncIOp::create(b, l, i32, args[1]),
                      arith::TruncIOp::create(
                          b, l, i32, arith::ShRUIOp::create(b, l, args[1], i64c(32)))});
          Value word = words[0];
          if (lanes == 4) {
            Value lane = linalg::IndexOp::create(b, l, groups.size());
            for (int64_t w = 1; w < 4; ++w)
              word = arith::SelectOp::create(
                  b, l,
                  arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, lane,
                                        arith::ConstantIndexOp::create(b, l, w)),
                  words[w], word);
          }
          // The uniform is f32 whatever the data's type: 24 random bits overflow f16.
          Type t = type.getElementType(), f32 = b.getF32Type();
          Value uniform = arith::MulFOp::create(
              b, l, arith::UIToFPOp::create(b, l, f32, arith::ShRUIOp::create(b, l, word, i32c(8))),
              constantFloat(b, l, f32, 1.0 / (1 << 24)));
          Value keep = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, uniform,
                                             constantFloat(b, l, f32, rate));
          return arith::SelectOp::create(b, l, keep, constantFloat(b, l, t, 1.0 / (1.0 - rate)),
                                         constantFloat(b, l, t, 0.0));
        });
    mask.getDefiningOp()->setAttr(nnc::attr::kDropoutMask, rewriter.getDictionaryAttr({
        rewriter.getNamedAttr("rate", op.getRateAttr()),
        rewriter.getNamedAttr("stream", rewriter.getI64IntegerAttr(stream))}));
    Value lanesResult =
        elementwise(rewriter, op.getLoc(), laneType, {input, mask},
                    [](OpBuilder &b, Location l, ValueRange args) -> Value {
                      return arith::MulFOp::create(b, l, args[0], args[1]);
                    });
    Value result = tensor::CollapseShapeOp::create(rewriter, op.getLoc(), type, lanesResult,
                                                   reassociation);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LowerNNToLinalgPass : nnc::impl::LowerNNToLinalgBase<LowerNNToLinalgPass> {
  using LowerNNToLinalgBase::LowerNNToLinalgBase;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<linalg::LinalgDialect, tensor::TensorDialect, arith::ArithDialect,
                           math::MathDialect, func::FuncDialect, scf::SCFDialect>();
    target.addIllegalDialect<NNDialect>();
    // The library-call boundary and constant data stay.
    target.addLegalOp<LinearOp, MatmulOp, Conv2dOp, Conv2dGradInputOp, Conv2dGradWeightOp,
                      ConstantOp, CausalAttentionOp, CausalAttentionGradOp>();
    // Batch norm outside a train step (evaluation, prediction) is elementwise over the running
    // statistics: expanded into nn ops first, which the patterns then lower and fusion merges.
    SmallVector<BatchNormOp> norms;
    getOperation().walk([&](BatchNormOp op) { norms.push_back(op); });
    for (BatchNormOp op : norms) {
      OpBuilder b(op);
      op.getResult().replaceAllUsesWith(buildBatchNormInference(b, op));
      op.erase();
    }
    RewritePatternSet patterns(ctx);
    populateNNToLinalgPatterns(patterns, scatterLoops, softmaxExpsOnce);
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      return signalPassFailure();
    mergeDropoutMasks(getOperation());
  }
};

} // namespace

void nnc::populateNNToLinalgPatterns(RewritePatternSet &patterns, bool scatterLoops,
                                     bool softmaxExpsOnce) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<BinaryLowering<AddOp, arith::AddFOp, arith::AddIOp>,
               BinaryLowering<SubOp, arith::SubFOp, arith::SubIOp>,
               BinaryLowering<MulOp, arith::MulFOp, arith::MulIOp>,
               BinaryLowering<DivOp, arith::DivFOp, arith::DivSIOp>, CausalMaskLowering,
               SoftmaxLowering<LogSoftmaxOp, true>, LayerNormLowering,
               Pool2dLowering<MaxPool2dOp, true>, Pool2dLowering<AvgPool2dOp, false>,
               EmbeddingLowering, ReshapeLowering,
               TransposeLowering, SliceLowering, ConcatLowering, ReduceLowering<ReduceSumOp>,
               ReduceLowering<ReduceMeanOp>, ReduceLowering<ReduceMaxOp>, CrossEntropyLowering,
               MseLossLowering, DropoutLowering>(ctx);
  populateGradsToLinalgPatterns(patterns, scatterLoops);
  patterns.add<SoftmaxLowering<SoftmaxOp, false>>(ctx, softmaxExpsOnce);
  patterns.add<UnaryLowering<ReluOp>>(ctx, relu);
  patterns.add<UnaryLowering<TanhOp>>(ctx, tanhFn);
  patterns.add<UnaryLowering<SigmoidOp>>(ctx, sigmoid);
  patterns.add<UnaryLowering<GeluOp>>(ctx, gelu);
  patterns.add<UnaryLowering<SqrtOp>>(ctx, sqrtFn);
  patterns.add<UnaryLowering<ExpOp>>(ctx, expFn);
  patterns.add<UnaryLowering<LogOp>>(ctx, logFn);
  patterns.add<UnaryLowering<ClampOp>>(ctx, clamp);
}
