// nn.causal_attention and nn.causal_attention_grad: result type inference (the shape and dtype
// verifier, as for every nn op) and the forward op's vector-Jacobian product. The ops are formed
// by nnc-fuse-attention (compiler/transforms/FuseAttention.cpp) and run as one library call
// each (runtime/device/cpu/CausalAttention.cpp).
#include "dialects/nn/NNDialect.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace nnc::nn;

namespace {

/// "'nn.<op>' op <message>" at the op's location, when inference has one.
template <typename... Args>
LogicalResult fail(std::optional<Location> loc, StringRef opName, Args &&...args) {
  return emitOptionalError(loc, "'", opName, "' op ", std::forward<Args>(args)...);
}

/// Checks q, k and v: ranked (..., T, D) tensors of one float type and one shape.
FailureOr<RankedTensorType> checkQkv(std::optional<Location> loc, StringRef opName, Value q,
                                     Value k, Value v) {
  auto qType = dyn_cast<RankedTensorType>(q.getType());
  for (Value operand : {q, k, v}) {
    auto type = dyn_cast<RankedTensorType>(operand.getType());
    if (!type || !qType || type != qType) {
      (void)fail(loc, opName, "expects q, k and v of one type, got ", q.getType(), ", ",
                 k.getType(), " and ", v.getType());
      return failure();
    }
  }
  if (qType.getRank() < 2) {
    (void)fail(loc, opName, "expects q, k and v shaped (..., T, D), got ", qType);
    return failure();
  }
  return qType;
}

/// (..., T): the shape of the per-row log-sum-exp, always f32.
RankedTensorType lseType(RankedTensorType q) {
  return RankedTensorType::get(q.getShape().drop_back(), Float32Type::get(q.getContext()));
}

} // namespace

LogicalResult CausalAttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                  Adaptor adaptor,
                                                  SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> q =
      checkQkv(loc, getOperationName(), adaptor.getQ(), adaptor.getK(), adaptor.getV());
  if (failed(q))
    return failure();
  types.assign({*q, lseType(*q)});
  return success();
}

LogicalResult CausalAttentionGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                      Adaptor adaptor,
                                                      SmallVectorImpl<Type> &types) {
  StringRef name = getOperationName();
  FailureOr<RankedTensorType> q = checkQkv(loc, name, adaptor.getQ(), adaptor.getK(), adaptor.getV());
  if (failed(q))
    return failure();
  if (adaptor.getResult().getType() != *q || adaptor.getGrad().getType() != *q)
    return fail(loc, name, "expects result and grad typed like q (", *q, "), got ",
                adaptor.getResult().getType(), " and ", adaptor.getGrad().getType());
  if (adaptor.getLse().getType() != lseType(*q))
    return fail(loc, name, "expects lse of type ", lseType(*q), ", got ",
                adaptor.getLse().getType());
  types.assign({*q, *q, *q});
  return success();
}

LogicalResult CausalAttentionOp::buildVjp(OpBuilder &b, Value g, SmallVectorImpl<Value> &grads) {
  // One backward op from the saved result and lse; the probabilities are never stored.
  auto grad = CausalAttentionGradOp::create(b, getLoc(), getQ(), getK(), getV(), getResult(),
                                            getLse(), g, getScaleAttr());
  grads.assign({grad.getDq(), grad.getDk(), grad.getDv()});
  return success();
}
