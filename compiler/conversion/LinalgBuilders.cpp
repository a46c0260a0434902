// Builders of linalg-on-tensors IR shared by the nn -> linalg lowerings (see LinalgBuilders.h).
#include "compiler/conversion/LinalgBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace nnc::lowering {
Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                  std::optional<double> fill) {
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  if (!fill)
    return empty;
  Value value = arith::ConstantOp::create(b, loc, b.getFloatAttr(type.getElementType(), *fill));
  return linalg::FillOp::create(b, loc, value, empty).getResult(0);
}

Value generic(OpBuilder &b, Location loc, ValueRange inputs, ArrayRef<AffineMap> inputMaps,
              Value init, AffineMap outputMap, ArrayRef<utils::IteratorType> iterators,
              BodyFn body) {
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(outputMap);
  auto op = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, init, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc, body(nb, nloc, args));
      });
  return op.getResult(0);
}

AffineMap broadcastMap(MLIRContext *ctx, int64_t rank, ArrayRef<int64_t> shape,
                       ArrayRef<int64_t> outShape) {
  SmallVector<AffineExpr> exprs;
  int64_t offset = rank - static_cast<int64_t>(shape.size());
  for (auto [i, dim] : llvm::enumerate(shape)) {
    bool broadcast = dim == 1 && outShape[offset + i] != 1;
    exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx) : getAffineDimExpr(offset + i, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value elementwise(OpBuilder &b, Location loc, RankedTensorType resultType, ValueRange inputs,
                  BodyFn body) {
  int64_t rank = resultType.getRank();
  SmallVector<AffineMap> maps;
  for (Value input : inputs)
    maps.push_back(broadcastMap(b.getContext(), rank,
                                cast<RankedTensorType>(input.getType()).getShape(),
                                resultType.getShape()));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return generic(b, loc, inputs, maps, emptyTensor(b, loc, resultType),
                 b.getMultiDimIdentityMap(rank), iterators, body);
}

Value reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes, bool keepdim,
             double initValue, BodyFn combine) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> shape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = llvm::is_contained(axes, d);
    iterators.push_back(reduced ? utils::IteratorType::reduction : utils::IteratorType::parallel);
    if (!reduced || keepdim) {
      shape.push_back(reduced ? 1 : type.getDimSize(d));
      outExprs.push_back(reduced ? b.getAffineConstantExpr(0) : b.getAffineDimExpr(d));
    }
  }
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return generic(b, loc, input, b.getMultiDimIdentityMap(rank),
                 emptyTensor(b, loc, resultType, initValue),
                 AffineMap::get(rank, 0, outExprs, b.getContext()), iterators, combine);
}

Value maxKeepingNaN(OpBuilder &b, Location loc, Value x, Value m) {
  Value greater = arith::OrIOp::create(
      b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, m),
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x));
  return arith::SelectOp::create(b, loc, greater, x, m);
}

bool tilesExactly(RankedTensorType input, RankedTensorType output, ArrayRef<int64_t> kernel,
                  ArrayRef<int64_t> stride, ArrayRef<int64_t> padding) {
  return stride == kernel && !padding[0] && !padding[1] && input.hasStaticShape() &&
         input.getDimSize(2) == output.getDimSize(2) * kernel[0] &&
         input.getDimSize(3) == output.getDimSize(3) * kernel[1];
}

SmallVector<AffineMap> windowRowMaps(MLIRContext *ctx, int64_t kh) {
  SmallVector<AffineMap> maps;
  for (int64_t r = 0; r < kh; ++r)
    maps.push_back(AffineMap::get(4, 0,
                                  {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx),
                                   getAffineDimExpr(2, ctx) * kh + r, getAffineDimExpr(3, ctx)},
                                  ctx));
  return maps;
}

Value windowColumns(OpBuilder &b, Location loc, Value rows, int64_t kw) {
  auto type = cast<RankedTensorType>(rows.getType());
  int64_t perSample = type.getDimSize(1) * type.getDimSize(2) * type.getDimSize(3);
  Value flat = tensor::CollapseShapeOp::create(
      b, loc, rows, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  auto windows = RankedTensorType::get({type.getDimSize(0), perSample / kw, kw},
                                       type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, windows, flat,
                                       SmallVector<ReassociationIndices>{{0}, {1, 2}});
}

SmallVector<AffineMap> windowColumnMaps(MLIRContext *ctx, int64_t kw) {
  SmallVector<AffineMap> maps;
  for (int64_t col = 0; col < kw; ++col)
    maps.push_back(AffineMap::get(
        2, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx), getAffineConstantExpr(col, ctx)},
        ctx));
  return maps;
}

Value constantFloat(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value stridedIndex(OpBuilder &b, Location l, Value position, int64_t offset, int64_t stride,
                   int64_t extent, Value &valid) {
  auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v).getResult(); };
  Value shifted = arith::SubIOp::create(b, l, position, index(offset));
  Value i = arith::DivSIOp::create(b, l, shifted, index(stride));
  Value ok = arith::AndIOp::create(
      b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, shifted, index(0)),
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                            arith::RemSIOp::create(b, l, shifted, index(stride)), index(0)));
  ok = arith::AndIOp::create(
      b, l, ok, arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, i, index(extent)));
  valid = arith::AndIOp::create(b, l, valid, ok);
  return i;
}

bool indexesLeadingDims(AffineMap map, int64_t depth) {
  if (map.getNumResults() < depth)
    return false;
  for (int64_t d = 0; d < depth; ++d)
    if (map.getResult(d) != getAffineDimExpr(d, map.getContext()))
      return false;
  return llvm::none_of(map.getResults().drop_front(depth), [&](AffineExpr e) {
    return llvm::any_of(llvm::seq<int64_t>(0, depth),
                        [&](int64_t d) { return e.isFunctionOfDim(d); });
  });
}

} // namespace nnc::lowering
