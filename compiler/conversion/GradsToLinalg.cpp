// nn -> linalg for the ops of backward passes and training steps: the gradients that are not
// library calls (relu, clamp, gelu, max pooling, embedding), one-hot targets, broadcasting and
// padding
// (the gradients of reductions and slices), and the bookkeeping ops of mixed precision (cast,
// equal, where) and nn.stop_gradient. Registered with the model ops' lowerings by
// populateNNToLinalgPatterns.
#include "compiler/conversion/LinalgBuilders.h"

#include "dialects/nn/NNDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;
using namespace nnc::lowering;
using namespace nnc::nn;

namespace {

/// The gradient of max pooling whose windows tile the input exactly (tilesExactly), in four
/// passes over contiguous rows or long flattened loops, which vectorize; the generic form below
/// walks rows of OW elements with strided loads and stays scalar. The window's element that
/// takes the gradient is PyTorch's: its first maximum in row-major order, or its last NaN.
///   1. each output row's KH input rows: per column w, its maximum and the kh holding it;
///   2. per window (flattened per sample, KW neighbouring columns): the position kh * KW + kw;
///   3. per window and kw: the grad where the position's column is kw (else 0), and its kh;
///   4. per input element (n, c, oh * KH + kh, w): that column's grad where its kh is kh.
Value tiledMaxPoolGrad(OpBuilder &b, Location loc, Value input, Value grad,
                       RankedTensorType inputType, ArrayRef<int64_t> kernel) {
  MLIRContext *ctx = b.getContext();
  auto gradType = cast<RankedTensorType>(grad.getType());
  int64_t n = gradType.getDimSize(0), c = gradType.getDimSize(1), oh = gradType.getDimSize(2),
          ow = gradType.getDimSize(3), w = inputType.getDimSize(3), kh = kernel[0],
          kw = kernel[1];
  // Positions in a window (kh * KW + kw) are bytes where they fit: the passes that carry one
  // per column or window then move a quarter of an i32's bytes (they are memory-bound).
  Type t = inputType.getElementType(), slot = b.getIntegerType(kh * kw <= 127 ? 8 : 32);
  auto d = [&](int i) { return getAffineDimExpr(i, ctx); };
  using IT = utils::IteratorType;
  auto slotConst = [slot](OpBuilder &nb, Location l, int64_t v) -> Value {
    return arith::ConstantOp::create(nb, l, nb.getIntegerAttr(slot, v));
  };
  auto isNaN = [](OpBuilder &nb, Location l, Value x) -> Value {
    return arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UNO, x, x);
  };
  auto generic2 = [&](ValueRange inputs, ArrayRef<AffineMap> inputMaps, ValueRange inits,
                      AffineMap outMap, int64_t rank,
                      function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)> body) {
    SmallVector<AffineMap> maps(inputMaps);
    maps.append(inits.size(), outMap);
    return linalg::GenericOp::create(
               b, loc, ValueRange(inits).getTypes(), inputs, inits, maps,
               SmallVector<IT>(rank, IT::parallel),
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 linalg::YieldOp::create(nb, l, body(nb, l, args));
               })
        .getResults();
  };
  auto empty = [&](ArrayRef<int64_t> shape, Type type) -> Value {
    return tensor::EmptyOp::create(b, loc, shape, type);
  };

  // 1. columns (n, c, oh, w): the maximum over kh and its kh (the first, or the last NaN).
  ResultRange columns = generic2(
      SmallVector<Value>(kh, input), windowRowMaps(ctx, kh),
      {empty({n, c, oh, w}, t), empty({n, c, oh, w}, slot)},
      b.getMultiDimIdentityMap(4), 4, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value best = args[0], at = slotConst(nb, l, 0);
        for (int64_t r = 1; r < kh; ++r) {
          Value x = args[r];
          Value takes = arith::OrIOp::create(
              nb, l, arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, x, best),
              isNaN(nb, l, x));
          best = arith::SelectOp::create(nb, l, takes, x, best);
          at = arith::SelectOp::create(nb, l, takes, slotConst(nb, l, r), at);
        }
        return SmallVector<Value>{best, at};
      });

  // 2. windows (n, i = (c * OH + oh) * OW + ow): the position kh * KW + kw taking the grad.
  //    Row-major order decides ties: a column's value beats the best so far if greater, or
  //    equal at a smaller kh (an earlier kw at the same kh came first); a NaN column beats any
  //    non-NaN, and a NaN at the same or a later kh (the last NaN in row-major order).
  Value flatMax = windowColumns(b, loc, columns[0], kw);
  Value flatAt = windowColumns(b, loc, columns[1], kw);
  SmallVector<Value> windowInputs;
  SmallVector<AffineMap> windowMaps;
  for (AffineMap map : windowColumnMaps(ctx, kw)) {
    windowInputs.append({flatMax, flatAt});
    windowMaps.append({map, map});
  }
  Value position = generic2(
      windowInputs, windowMaps, {empty({n, c * oh * ow}, slot)}, b.getMultiDimIdentityMap(2), 2,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value best = args[0], bestRow = args[1];
        Value at = arith::MulIOp::create(nb, l, bestRow, slotConst(nb, l, kw)); // kh * KW + 0
        for (int64_t col = 1; col < kw; ++col) {
          Value x = args[2 * col], row = args[2 * col + 1];
          Value xNaN = isNaN(nb, l, x), bestNaN = isNaN(nb, l, best);
          Value earlierRow = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, row, bestRow);
          Value laterRow = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, row, bestRow);
          Value greater = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, x, best);
          Value equal = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, x, best);
          Value beatsValue = arith::OrIOp::create(
              nb, l, greater, arith::AndIOp::create(nb, l, equal, earlierRow));
          Value notBestNaN = arith::XOrIOp::create(
              nb, l, bestNaN, arith::ConstantOp::create(nb, l, nb.getBoolAttr(true)));
          Value beatsNaN = arith::OrIOp::create(nb, l, notBestNaN, laterRow);
          Value takes = arith::SelectOp::create(
              nb, l, xNaN, beatsNaN, arith::AndIOp::create(nb, l, notBestNaN, beatsValue));
          best = arith::SelectOp::create(nb, l, takes, x, best);
          bestRow = arith::SelectOp::create(nb, l, takes, row, bestRow);
          Value here = arith::AddIOp::create(
              nb, l, arith::MulIOp::create(nb, l, row, slotConst(nb, l, kw)), slotConst(nb, l, col));
          at = arith::SelectOp::create(nb, l, takes, here, at);
        }
        return SmallVector<Value>{at};
      })[0];

  // 3. (n, i, kw): the window's grad where its position is in column kw, and that kh.
  Value flatGrad = tensor::CollapseShapeOp::create(
      b, loc, grad, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  AffineMap perWindow = AffineMap::get(3, 0, {d(0), d(1)}, ctx);
  ResultRange byColumn = generic2(
      {position, flatGrad}, {perWindow, perWindow},
      {empty({n, c * oh * ow, kw}, t), empty({n, c * oh * ow, kw}, slot)},
      b.getMultiDimIdentityMap(3), 3, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value col = arith::IndexCastOp::create(nb, l, slot, linalg::IndexOp::create(nb, l, 2));
        Value kwConst = slotConst(nb, l, kw);
        Value inColumn = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::eq, arith::RemUIOp::create(nb, l, args[0], kwConst), col);
        Value zero = arith::ConstantOp::create(nb, l, nb.getFloatAttr(t, 0.0));
        return SmallVector<Value>{arith::SelectOp::create(nb, l, inColumn, args[1], zero),
                                  arith::DivUIOp::create(nb, l, args[0], kwConst)};
      });
  auto unflat = [&](Value v, Type type) -> Value {
    Value collapsed = tensor::CollapseShapeOp::create(
        b, loc, v, SmallVector<ReassociationIndices>{{0}, {1, 2}});
    return tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get({n, c, oh, w}, type), collapsed,
        SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  };
  Value columnGrad = unflat(byColumn[0], t), columnRow = unflat(byColumn[1], slot);

  // 4. (n, c, oh, kh, w) over the input viewed as (N, C, OH, KH, W).
  AffineMap perColumn = AffineMap::get(5, 0, {d(0), d(1), d(2), d(4)}, ctx);
  auto expandedType = RankedTensorType::get({n, c, oh, kh, w}, t);
  Value result = generic2(
      {columnGrad, columnRow}, {perColumn, perColumn}, {empty(expandedType.getShape(), t)},
      b.getMultiDimIdentityMap(5), 5, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value row = arith::IndexCastOp::create(nb, l, slot, linalg::IndexOp::create(nb, l, 3));
        Value picked = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, args[1], row);
        Value zero = arith::ConstantOp::create(nb, l, nb.getFloatAttr(t, 0.0));
        return SmallVector<Value>{arith::SelectOp::create(nb, l, picked, args[0], zero)};
      })[0];
  return tensor::CollapseShapeOp::create(
      b, loc, inputType, result, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}});
}

/// Max pooling's gradient in two generics (windows that tile the input: tiledMaxPoolGrad): the
/// first (row-major) argmax of every window, as PyTorch picks it, then each input element
/// gathers the grads of the windows that chose it.
struct MaxPool2dGradLowering : OpConversionPattern<MaxPool2dGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MaxPool2dGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto inputType = cast<RankedTensorType>(op.getType()); // (N, C, H, W)
    Value grad = adaptor.getGrad();                        // (N, C, OH, OW)
    auto gradType = cast<RankedTensorType>(grad.getType());
    Type t = inputType.getElementType(), i32 = rewriter.getI32Type();
    ArrayRef<int64_t> kernel = op.getKernelSize();
    ArrayRef<int64_t> stride = op.getStride().value_or(kernel);
    ArrayRef<int64_t> padding = op.getPadding().value_or(defaults::kZeroPair);
    double lowest = -std::numeric_limits<double>::infinity();
    Value input = adaptor.getInput();
    if (tilesExactly(inputType, gradType, kernel, stride, padding)) {
      rewriter.replaceOp(op, tiledMaxPoolGrad(rewriter, loc, input, grad, inputType, kernel));
      return success();
    }
    if (padding[0] || padding[1]) {
      SmallVector<OpFoldResult> low = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(0),
                                       rewriter.getIndexAttr(padding[0]),
                                       rewriter.getIndexAttr(padding[1])};
      input = tensor::PadOp::create(rewriter, loc, Type(), input, low, low,
                                    constantFloat(rewriter, loc, t, lowest));
    }
    auto d = [&](int i) { return getAffineDimExpr(i, ctx); };
    using IT = utils::IteratorType;
    Value window = tensor::EmptyOp::create(rewriter, loc, kernel, t);

    // 1. Domain (n, c, oh, ow, kh, kw): (max, argmax kh * KW + kw) of each window.
    AffineMap inputMap = AffineMap::get(
        6, 0, {d(0), d(1), d(2) * stride[0] + d(4), d(3) * stride[1] + d(5)}, ctx);
    AffineMap windowMap = AffineMap::get(6, 0, {d(4), d(5)}, ctx);
    AffineMap outMap = AffineMap::get(6, 0, {d(0), d(1), d(2), d(3)}, ctx);
    Value maxInit = emptyTensor(rewriter, loc, gradType, lowest);
    Value argInit = linalg::FillOp::create(
                        rewriter, loc, arith::ConstantOp::create(rewriter, loc, rewriter.getI32IntegerAttr(0)).getResult(),
                        tensor::EmptyOp::create(rewriter, loc, gradType.getShape(), i32).getResult())
                        .getResult(0);
    auto argmax = linalg::GenericOp::create(
        rewriter, loc, TypeRange{maxInit.getType(), argInit.getType()}, ValueRange{input, window},
        ValueRange{maxInit, argInit}, ArrayRef<AffineMap>{inputMap, windowMap, outMap, outMap},
        ArrayRef<IT>{IT::parallel, IT::parallel, IT::parallel, IT::parallel, IT::reduction,
                     IT::reduction},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value position = arith::AddIOp::create(
              b, l,
              arith::MulIOp::create(b, l, linalg::IndexOp::create(b, l, 4),
                                    arith::ConstantIndexOp::create(b, l, kernel[1])),
              linalg::IndexOp::create(b, l, 5));
          position = arith::IndexCastOp::create(b, l, b.getI32Type(), position);
          // As PyTorch's CPU max_pool2d (val > max || isnan(val)): a NaN in the window is its
          // max and takes the gradient.
          Value greater = arith::OrIOp::create(
              b, l, arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, args[0], args[2]),
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, args[0], args[0]));
          linalg::YieldOp::create(
              b, l,
              ValueRange{arith::SelectOp::create(b, l, greater, args[0], args[2]),
                         arith::SelectOp::create(b, l, greater, position, args[3])});
        });
    Value chosen = argmax.getResult(1);

    // 2. Domain (n, c, h, w, kh, kw): element (h, w) is position (kh, kw) of window
    //    (oh, ow) = ((h + ph - kh) / sh, (w + pw - kw) / sw) when those divide exactly and
    //    are in range; it receives that window's grad when the window chose it.
    AffineMap resultMap = AffineMap::get(6, 0, {d(0), d(1), d(2), d(3)}, ctx);
    Value result = generic(
        rewriter, loc, window, windowMap, emptyTensor(rewriter, loc, inputType, 0.0), resultMap,
        {IT::parallel, IT::parallel, IT::parallel, IT::parallel, IT::reduction, IT::reduction},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v).getResult(); };
          Value zero = index(0);
          Value valid = arith::ConstantOp::create(b, l, b.getBoolAttr(true));
          SmallVector<Value> windowAt;
          for (int i = 0; i < 2; ++i) {
            // h + ph = oh * sh + kh: the window oh whose position kh is this element.
            Value position = arith::SubIOp::create(
                b, l, arith::AddIOp::create(b, l, linalg::IndexOp::create(b, l, 2 + i), index(padding[i])),
                linalg::IndexOp::create(b, l, 4 + i));
            windowAt.push_back(stridedIndex(b, l, position, 0, stride[i],
                                            gradType.getDimSize(2 + i), valid));
          }
          // Read window (0, 0) where there is no window, so every read is in bounds.
          for (Value &at : windowAt)
            at = arith::SelectOp::create(b, l, valid, at, zero);
          SmallVector<Value> at = {linalg::IndexOp::create(b, l, 0), linalg::IndexOp::create(b, l, 1),
                                   windowAt[0], windowAt[1]};
          Value position = arith::AddIOp::create(
              b, l, arith::MulIOp::create(b, l, linalg::IndexOp::create(b, l, 4), index(kernel[1])),
              linalg::IndexOp::create(b, l, 5));
          position = arith::IndexCastOp::create(b, l, b.getI32Type(), position);
          Value picked = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                               tensor::ExtractOp::create(b, l, chosen, at), position);
          Value g = tensor::ExtractOp::create(b, l, grad, at);
          Value contribution = arith::SelectOp::create(
              b, l, arith::AndIOp::create(b, l, valid, picked), g, constantFloat(b, l, t, 0.0));
          return arith::AddFOp::create(b, l, args[1], contribution);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct WhereLowering : OpConversionPattern<WhereOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(WhereOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    rewriter.replaceOp(
        op, elementwise(rewriter, op.getLoc(), type,
                        {adaptor.getCondition(), adaptor.getLhs(), adaptor.getRhs()},
                        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                          Value zero = constantFloat(b, l, args[0].getType(), 0.0);
                          Value taken = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNE,
                                                              args[0], zero);
                          return arith::SelectOp::create(b, l, taken, args[1], args[2]);
                        }));
    return success();
  }
};

struct CastLowering : OpConversionPattern<CastOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(CastOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    Type to = type.getElementType();
    unsigned fromWidth = cast<RankedTensorType>(adaptor.getInput().getType()).getElementTypeBitWidth();
    rewriter.replaceOp(
        op, elementwise(rewriter, op.getLoc(), type, adaptor.getInput(),
                        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                          if (to.getIntOrFloatBitWidth() > fromWidth)
                            return arith::ExtFOp::create(b, l, to, args[0]);
                          if (to.getIntOrFloatBitWidth() < fromWidth)
                            return arith::TruncFOp::create(b, l, to, args[0]);
                          // f16 <-> bf16: through f32, exact on the way up.
                          Value wide = arith::ExtFOp::create(b, l, b.getF32Type(), args[0]);
                          return arith::TruncFOp::create(b, l, to, wide);
                        }));
    return success();
  }
};

struct StopGradientLowering : OpConversionPattern<StopGradientOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(StopGradientOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

struct ReluGradLowering : OpConversionPattern<ReluGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ReluGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Value result = elementwise(
        rewriter, op.getLoc(), cast<RankedTensorType>(op.getType()),
        {adaptor.getOutput(), adaptor.getGrad()},
        [](OpBuilder &b, Location l, ValueRange args) -> Value {
          // PyTorch's threshold_backward zeroes the gradient where output <= 0 only: a NaN
          // output passes it (unordered-or-greater).
          Value zero = constantFloat(b, l, args[1].getType(), 0.0);
          Value active = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UGT, args[0], zero);
          return arith::SelectOp::create(b, l, active, args[1], zero);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ClampGradLowering : OpConversionPattern<ClampGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ClampGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    FloatAttr lo = op.getMinAttr(), hi = op.getMaxAttr();
    Value result = elementwise(
        rewriter, op.getLoc(), cast<RankedTensorType>(op.getType()),
        {adaptor.getInput(), adaptor.getGrad()},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          // PyTorch's hardtanh backward zeroes the gradient where x <= min or x >= max only: a
          // NaN input passes it (the unordered comparisons).
          Type t = args[1].getType();
          Value active;
          auto within = [&](Value inside) {
            active = active ? arith::AndIOp::create(b, l, active, inside).getResult() : inside;
          };
          if (lo)
            within(arith::CmpFOp::create(b, l, arith::CmpFPredicate::UGT, args[0],
                                         constantFloat(b, l, t, lo.getValueAsDouble())));
          if (hi)
            within(arith::CmpFOp::create(b, l, arith::CmpFPredicate::ULT, args[0],
                                         constantFloat(b, l, t, hi.getValueAsDouble())));
          if (!active) // no bounds: the identity's gradient
            return args[1];
          return arith::SelectOp::create(b, l, active, args[1], constantFloat(b, l, t, 0.0));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct OneHotLowering : OpConversionPattern<OneHotOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(OneHotOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType()); // (..., classes)
    int64_t rank = type.getRank();
    // (d0, ..., dn) -> (d0, ..., dn-1); a scalar index (rank 1 here) has the empty map.
    AffineMap indexMap = AffineMap::get(rank, 0, rewriter.getContext());
    if (rank > 1)
      indexMap = rewriter.getMultiDimIdentityMap(rank).getMajorSubMap(rank - 1);
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    Value result = generic(
        rewriter, op.getLoc(), adaptor.getIndices(), indexMap,
        emptyTensor(rewriter, op.getLoc(), type), rewriter.getMultiDimIdentityMap(rank),
        iterators, [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value label = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value c = linalg::IndexOp::create(b, l, rank - 1);
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, c, label);
          return arith::SelectOp::create(b, l, hit,
                                         constantFloat(b, l, type.getElementType(), 1.0),
                                         constantFloat(b, l, type.getElementType(), 0.0));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct GeluGradLowering : OpConversionPattern<GeluGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(GeluGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    bool tanhForm = op.getApproximate().value_or(defaults::kGeluApproximate) == Approximation::tanh;
    Value result = elementwise(
        rewriter, op.getLoc(), cast<RankedTensorType>(op.getType()),
        {adaptor.getInput(), adaptor.getGrad()},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value x = args[0];
          Type t = x.getType();
          auto c = [&](double v) { return constantFloat(b, l, t, v); };
          auto mul = [&](Value a, Value c2) { return arith::MulFOp::create(b, l, a, c2).getResult(); };
          auto add = [&](Value a, Value c2) { return arith::AddFOp::create(b, l, a, c2).getResult(); };
          Value slope;
          if (tanhForm) {
            // u = k (x + a x^3); d/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3 a x^2)
            double k = std::sqrt(2.0 / llvm::numbers::pi), a = 0.044715;
            Value x2 = mul(x, x);
            Value th = math::TanhOp::create(b, l, mul(c(k), add(x, mul(c(a), mul(x2, x)))));
            Value sech2 = arith::SubFOp::create(b, l, c(1.0), mul(th, th));
            slope = add(mul(c(0.5), add(c(1.0), th)),
                        mul(mul(mul(c(0.5), x), sech2), mul(c(k), add(c(1.0), mul(c(3 * a), x2)))));
          } else {
            // Phi(x) + x phi(x)
            Value cdf = mul(c(0.5), add(c(1.0), math::ErfOp::create(b, l, mul(x, c(1.0 / std::sqrt(2.0))))));
            Value pdf = mul(c(1.0 / std::sqrt(2.0 * llvm::numbers::pi)),
                            math::ExpOp::create(b, l, mul(c(-0.5), mul(x, x))));
            slope = add(cdf, mul(x, pdf));
          }
          return mul(slope, args[1]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct EmbeddingGradLowering : OpConversionPattern<EmbeddingGradOp> {
  EmbeddingGradLowering(MLIRContext *context, bool scatterLoops)
      : OpConversionPattern(context), scatterLoops(scatterLoops) {}

  /// out[index[i], :] += grad[i, :] for each looked-up row i in turn (ids outside the table
  /// add nothing): rows x D additions, where the linalg form below does (table rows) times
  /// more. The loop runs in the kernel's result buffer (its initial value is the zero fill).
  Value scatterLoop(ConversionPatternRewriter &rewriter, Location loc, RankedTensorType type,
                    Value indices, Value grad) const {
    auto indexType = cast<RankedTensorType>(indices.getType());
    int64_t r = indexType.getRank(), rows = indexType.getNumElements();
    int64_t vocab = type.getDimSize(0), d = type.getDimSize(1);
    ReassociationIndices all = llvm::to_vector(llvm::seq<int64_t>(0, r));
    Value flatIndices = tensor::CollapseShapeOp::create(
        rewriter, loc, RankedTensorType::get({rows}, indexType.getElementType()), indices,
        ArrayRef<ReassociationIndices>{all});
    Value flatGrad = tensor::CollapseShapeOp::create(
        rewriter, loc, RankedTensorType::get({rows, d}, type.getElementType()), grad,
        ArrayRef<ReassociationIndices>{all, {r}});
    auto rowType = RankedTensorType::get({1, d}, type.getElementType());
    auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(rewriter, loc, v); };
    auto loop = scf::ForOp::create(
        rewriter, loc, index(0), index(rows), index(1),
        ValueRange{emptyTensor(rewriter, loc, type, 0.0)},
        [&](OpBuilder &b, Location l, Value i, ValueRange table) {
          // A row outside the table is rewritten with its own values at a clamped index: the
          // loop body stays one in-place update (extract, add, insert) of the table.
          Value id = arith::IndexCastOp::create(
              b, l, b.getIndexType(), tensor::ExtractOp::create(b, l, flatIndices, i));
          Value first = arith::ConstantIndexOp::create(b, l, 0);
          Value last = arith::ConstantIndexOp::create(b, l, vocab - 1);
          Value inside = arith::AndIOp::create(
              b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, id, first),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle, id, last));
          Value row = arith::MinSIOp::create(b, l, arith::MaxSIOp::create(b, l, id, first), last);
          SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(d)};
          SmallVector<OpFoldResult> unit = {b.getIndexAttr(1), b.getIndexAttr(1)};
          SmallVector<OpFoldResult> at = {row, b.getIndexAttr(0)};
          Value gradRow = tensor::ExtractSliceOp::create(
              b, l, rowType, flatGrad, SmallVector<OpFoldResult>{i, b.getIndexAttr(0)}, sizes,
              unit);
          Value tableRow = tensor::ExtractSliceOp::create(b, l, rowType, table[0], at, sizes, unit);
          AffineMap id2 = b.getMultiDimIdentityMap(2);
          Value sum = generic(b, l, gradRow, id2, tableRow, id2,
                              {utils::IteratorType::parallel, utils::IteratorType::parallel},
                              [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                                Value added = arith::AddFOp::create(b, l, args[1], args[0]);
                                return arith::SelectOp::create(b, l, inside, added, args[1]);
                              });
          scf::YieldOp::create(
              b, l, ValueRange{tensor::InsertSliceOp::create(b, l, sum, table[0], at, sizes, unit)});
        });
    return loop.getResult(0);
  }

  LogicalResult matchAndRewrite(EmbeddingGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType()); // (rows, D)
    int64_t r = cast<RankedTensorType>(adaptor.getIndices().getType()).getRank();
    if (scatterLoops && r > 0) {
      rewriter.replaceOp(op, scatterLoop(rewriter, op.getLoc(), type, adaptor.getIndices(),
                                         adaptor.getGrad()));
      return success();
    }
    // Domain (v, i..., d): out[v, d] = sum over i of (index[i] == v ? grad[i, d] : 0).
    int64_t dims = r + 2;
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<AffineExpr> idx, grad;
    for (int64_t i = 0; i < r; ++i) {
      idx.push_back(getAffineDimExpr(1 + i, ctx));
      grad.push_back(getAffineDimExpr(1 + i, ctx));
    }
    grad.push_back(getAffineDimExpr(dims - 1, ctx));
    AffineMap outMap = AffineMap::get(dims, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(dims - 1, ctx)}, ctx);
    SmallVector<utils::IteratorType> iterators(dims, utils::IteratorType::reduction);
    iterators.front() = iterators.back() = utils::IteratorType::parallel;
    Value result = generic(
        rewriter, op.getLoc(), {adaptor.getIndices(), adaptor.getGrad()},
        {AffineMap::get(dims, 0, idx, ctx), AffineMap::get(dims, 0, grad, ctx)},
        emptyTensor(rewriter, op.getLoc(), type, 0.0), outMap, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value row = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, row,
                                            linalg::IndexOp::create(b, l, 0));
          Value term = arith::SelectOp::create(b, l, hit, args[1],
                                               constantFloat(b, l, args[1].getType(), 0.0));
          return arith::AddFOp::create(b, l, args[2], term);
        });
    rewriter.replaceOp(op, result);
    return success();
  }

private:
  bool scatterLoops;
};

struct BroadcastLowering : OpConversionPattern<BroadcastOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(BroadcastOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Value result = elementwise(rewriter, op.getLoc(), cast<RankedTensorType>(op.getType()),
                               adaptor.getInput(),
                               [](OpBuilder &, Location, ValueRange args) { return args[0]; });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct PadLowering : OpConversionPattern<PadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(PadOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    Type t = type.getElementType();
    Location loc = op.getLoc();
    if (!op.getInterior() || llvm::all_of(*op.getInterior(), [](int64_t i) { return i == 0; })) {
      SmallVector<OpFoldResult> low, high;
      for (auto [l, h] : llvm::zip(op.getLow(), op.getHigh())) {
        low.push_back(rewriter.getIndexAttr(l));
        high.push_back(rewriter.getIndexAttr(h));
      }
      rewriter.replaceOpWithNewOp<tensor::PadOp>(op, type, adaptor.getInput(), low, high,
                                                 constantFloat(rewriter, loc, t, 0.0));
      return success();
    }
    // Interior padding: output element o reads input (o - low) / (interior + 1) when that
    // divides exactly and is in range, else 0.
    Value input = adaptor.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    ArrayRef<int64_t> low = op.getLow(), interior = *op.getInterior();
    int64_t rank = type.getRank();
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    Value result = generic(
        rewriter, loc, ValueRange(), {}, emptyTensor(rewriter, loc, type),
        rewriter.getMultiDimIdentityMap(rank), iterators,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v).getResult(); };
          Value valid = arith::ConstantOp::create(b, l, b.getBoolAttr(true));
          SmallVector<Value> at;
          for (int64_t d = 0; d < rank; ++d)
            at.push_back(stridedIndex(b, l, linalg::IndexOp::create(b, l, d), low[d],
                                      interior[d] + 1, inputType.getDimSize(d), valid));
          for (Value &i : at) // read element 0 where nothing is read, so reads stay in bounds
            i = arith::SelectOp::create(b, l, valid, i, index(0));
          Value element = tensor::ExtractOp::create(b, l, input, at);
          return arith::SelectOp::create(b, l, valid, element, constantFloat(b, l, t, 0.0));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct EqualLowering : OpConversionPattern<EqualOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(EqualOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    Type t = type.getElementType();
    rewriter.replaceOp(
        op, elementwise(rewriter, op.getLoc(), type, {adaptor.getLhs(), adaptor.getRhs()},
                        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                          Value equal = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                                              args[0], args[1]);
                          return arith::SelectOp::create(b, l, equal, constantFloat(b, l, t, 1.0),
                                                         constantFloat(b, l, t, 0.0));
                        }));
    return success();
  }
};

} // namespace

void nnc::populateGradsToLinalgPatterns(RewritePatternSet &patterns, bool scatterLoops) {
  patterns.add<MaxPool2dGradLowering, WhereLowering, CastLowering, StopGradientLowering,
               ReluGradLowering, ClampGradLowering, OneHotLowering, GeluGradLowering,
               BroadcastLowering, PadLowering, EqualLowering>(patterns.getContext());
  patterns.add<EmbeddingGradLowering>(patterns.getContext(), scatterLoops);
}
