// The `train` dialect's registration and result-type inference, which is also each op's check
// that its tensors belong together (the gradient and state shaped like the parameter).
#include "dialects/train/TrainDialect.h"

#include "dialects/nn/NNDialect.h"

using namespace mlir;
using namespace nnc::train;

#include "dialects/train/TrainDialect.cpp.inc"

void TrainDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/train/TrainOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "dialects/train/TrainOps.cpp.inc"

namespace {

/// Checks that every tensor in `like` has `param`'s type and adds that type `results` times.
LogicalResult inferLikeParam(std::optional<Location> loc, StringRef opName, Value param,
                             ArrayRef<std::pair<StringRef, Value>> like, int results,
                             SmallVectorImpl<Type> &types) {
  if (!param)
    return emitOptionalError(loc, "'", opName, "' op expects a parameter");
  for (auto [name, value] : like)
    if (value && value.getType() != param.getType())
      return emitOptionalError(loc, "'", opName, "' op expects ", name,
                               " to have the parameter's type ", param.getType(), ", got ",
                               value.getType());
  types.append(results, param.getType());
  return success();
}

} // namespace

LogicalResult GlobalNormOp::verify() {
  if (getGrads().empty())
    return emitOpError("expects at least one gradient");
  return success();
}

LogicalResult AllFiniteOp::verify() {
  if (getGrads().empty())
    return emitOpError("expects at least one gradient");
  return success();
}

LogicalResult ClipOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                       Adaptor adaptor, SmallVectorImpl<Type> &types) {
  if (adaptor.getProperties().max_norm && !(adaptor.getMaxNorm().convertToDouble() > 0))
    return emitOptionalError(loc, "'train.clip' op expects a positive max_norm");
  return inferLikeParam(loc, ClipOp::getOperationName(), adaptor.getGrad(), {}, 1, types);
}

LogicalResult SgdOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                      Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferLikeParam(loc, SgdOp::getOperationName(), adaptor.getParam(),
                        {{"grad", adaptor.getGrad()}}, 1, types);
}

LogicalResult SgdMomentumOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                              Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferLikeParam(loc, SgdMomentumOp::getOperationName(), adaptor.getParam(),
                        {{"grad", adaptor.getGrad()}, {"buffer", adaptor.getBuffer()}}, 2, types);
}

LogicalResult AdamOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                       Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferLikeParam(loc, AdamOp::getOperationName(), adaptor.getParam(),
                        {{"grad", adaptor.getGrad()},
                         {"exp_avg", adaptor.getExpAvg()},
                         {"exp_avg_sq", adaptor.getExpAvgSq()}},
                        3, types);
}

LogicalResult AllReduceOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                            AllReduceOp::Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  llvm::append_range(results, adaptor.getGrads().getTypes());
  return success();
}

bool nnc::train::isGradientOperand(OpOperand &operand) {
  Operation *op = operand.getOwner();
  if (isa<GlobalNormOp>(op))
    return true;
  if (isa<ClipOp>(op))
    return operand.getOperandNumber() == 0;
  // An optimizer's gradient, unless clipping made it (then the clip's operand is the gradient).
  return isa<SgdOp, SgdMomentumOp, AdamOp>(op) && operand.getOperandNumber() == 1 &&
         !operand.get().getDefiningOp<ClipOp>();
}

// Megatron's f: the identity forward, the gradient summed over the group.
LogicalResult TensorParallelCopyOp::buildVjp(OpBuilder &b, Value g,
                                             SmallVectorImpl<Value> &grads) {
  grads.assign({TensorParallelSumOp::create(b, getLoc(), g.getType(), g, getGroupAttr())});
  return success();
}

// Megatron's g: the sum forward, the identity backward (the result is the same on every rank).
LogicalResult TensorParallelSumOp::buildVjp(OpBuilder &, Value g, SmallVectorImpl<Value> &grads) {
  grads.assign({g});
  return success();
}

// --- ZeRO-1 shards (issue 20) ---------------------------------------------------------------

RankedTensorType nnc::train::shardType(RankedTensorType whole, int64_t shards) {
  int64_t elements = whole.getNumElements();
  return RankedTensorType::get({(elements + shards - 1) / shards}, whole.getElementType());
}

namespace {

/// Checks that `shard` is `whole`'s shard over `shards` ranks (1-D, ceil(n / shards) elements).
LogicalResult verifyShard(Operation *op, Type whole, Type shard, int64_t shards) {
  if (shards < 1)
    return op->emitOpError("expects shards >= 1, got ") << shards;
  auto expected = shardType(cast<RankedTensorType>(whole), shards);
  if (shard != expected)
    return op->emitOpError("expects the shard of ")
           << whole << " over " << shards << " ranks to be " << expected << ", got " << shard;
  return success();
}

} // namespace

LogicalResult ReduceScatterOp::verify() {
  return verifyShard(*this, getGrad().getType(), getShard().getType(), getShards());
}

LogicalResult TakeShardOp::verify() {
  return verifyShard(*this, getInput().getType(), getShard().getType(), getShards());
}

LogicalResult AllGatherOp::verify() {
  return verifyShard(*this, getResult().getType(), getShard().getType(), getShards());
}
