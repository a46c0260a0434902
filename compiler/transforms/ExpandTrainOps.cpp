// `train` ops -> `nn` ops: each optimizer update and the clipping become their formulas, which
// lowering fuses into one loop per parameter. The formulas follow PyTorch's optimizers exactly
// (the parity tests in test/train/ check them step for step).
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "compiler/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace nnc {
#define GEN_PASS_DEF_EXPANDTRAINOPS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

/// nn-op arithmetic at one location, constants in `like`'s element type.
struct Math {
  OpBuilder &b;
  Location loc;
  Type element;

  Value constant(double v) const {
    auto type = RankedTensorType::get({}, element);
    return nn::ConstantOp::create(b, loc,
                                  DenseElementsAttr::get(type, b.getFloatAttr(element, v)));
  }
  Value add(Value x, Value y) const { return nn::AddOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) const { return nn::SubOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) const { return nn::MulOp::create(b, loc, x, y); }
  Value div(Value x, Value y) const { return nn::DivOp::create(b, loc, x, y); }
  Value sqrt(Value x) const { return nn::SqrtOp::create(b, loc, x); }
  Value exp(Value x) const { return nn::ExpOp::create(b, loc, x); }
  Value relu(Value x) const { return nn::ReluOp::create(b, loc, x); }
};

Math mathFor(OpBuilder &b, Operation *op, Value like) {
  return {b, op->getLoc(), cast<RankedTensorType>(like.getType()).getElementType()};
}

SmallVector<Value> expand(OpBuilder &b, train::GlobalNormOp op) {
  Math m = mathFor(b, op, op.getNorm());
  Value sumSquares;
  for (Value g : op.getGrads()) {
    int64_t rank = cast<RankedTensorType>(g.getType()).getRank();
    Value squares = m.mul(g, g);
    Value sum = rank == 0 ? squares
                          : nn::ReduceSumOp::create(b, op.getLoc(), squares,
                                                    llvm::to_vector(llvm::seq<int64_t>(0, rank)),
                                                    BoolAttr())
                                .getResult();
    sumSquares = sumSquares ? m.add(sumSquares, sum) : sum;
  }
  return {m.sqrt(sumSquares)};
}

SmallVector<Value> expand(OpBuilder &b, train::AllFiniteOp op) {
  // sum(g * 0) is 0 when every element is finite and NaN otherwise; NaN != NaN.
  Math m = mathFor(b, op, op.getFinite());
  Value total;
  for (Value g : op.getGrads()) {
    int64_t rank = cast<RankedTensorType>(g.getType()).getRank();
    Value zeroed = m.mul(g, m.constant(0.0));
    Value sum = rank == 0 ? zeroed
                          : nn::ReduceSumOp::create(b, op.getLoc(), zeroed,
                                                    llvm::to_vector(llvm::seq<int64_t>(0, rank)),
                                                    BoolAttr())
                                .getResult();
    total = total ? m.add(total, sum) : sum;
  }
  return {nn::EqualOp::create(b, op.getLoc(), total, total).getResult()};
}

SmallVector<Value> expand(OpBuilder &b, train::ClipOp op) {
  // coef = max / (norm + 1e-6); min(coef, 1) = 1 - relu(1 - coef).
  Math m = mathFor(b, op, op.getNorm());
  Value coef = m.div(m.constant(op.getMaxNorm().convertToDouble()),
                     m.add(op.getNorm(), m.constant(1e-6)));
  Value clamped = m.sub(m.constant(1.0), m.relu(m.sub(m.constant(1.0), coef)));
  return {m.mul(op.getGrad(), clamped)};
}

SmallVector<Value> expand(OpBuilder &b, train::SgdOp op) {
  Math m = mathFor(b, op, op.getParam());
  Value g = op.getGrad();
  if (double wd = op.getWeightDecay().convertToDouble())
    g = m.add(g, m.mul(op.getParam(), m.constant(wd)));
  return {m.sub(op.getParam(), m.mul(g, op.getLr()))};
}

SmallVector<Value> expand(OpBuilder &b, train::SgdMomentumOp op) {
  // g += wd p; buf = momentum buf + g; d = nesterov ? g + momentum buf : buf; p -= lr d.
  Math m = mathFor(b, op, op.getParam());
  Value g = op.getGrad();
  if (double wd = op.getWeightDecay().convertToDouble())
    g = m.add(g, m.mul(op.getParam(), m.constant(wd)));
  Value momentum = m.constant(op.getMomentum().convertToDouble());
  Value buffer = m.add(m.mul(op.getBuffer(), momentum), g);
  Value direction = op.getNesterov() ? m.add(g, m.mul(buffer, momentum)) : buffer;
  return {m.sub(op.getParam(), m.mul(direction, op.getLr())), buffer};
}

SmallVector<Value> expand(OpBuilder &b, train::AdamOp op) {
  // p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), b^t = exp(t ln b).
  Math m = mathFor(b, op, op.getParam());
  double beta1 = op.getBeta1().convertToDouble(), beta2 = op.getBeta2().convertToDouble();
  double wd = op.getWeightDecay().convertToDouble();
  Value g = op.getGrad(), param = op.getParam();
  if (wd != 0 && !op.getDecoupled())
    g = m.add(g, m.mul(param, m.constant(wd)));
  if (wd != 0 && op.getDecoupled())
    param = m.mul(param, m.sub(m.constant(1.0), m.mul(op.getLr(), m.constant(wd))));
  Value avg = m.add(m.mul(op.getExpAvg(), m.constant(beta1)), m.mul(g, m.constant(1.0 - beta1)));
  Value avgSq = m.add(m.mul(op.getExpAvgSq(), m.constant(beta2)),
                      m.mul(m.mul(g, g), m.constant(1.0 - beta2)));
  auto correction = [&](double beta) { // 1 - beta^t
    return m.sub(m.constant(1.0), m.exp(m.mul(op.getStep(), m.constant(std::log(beta)))));
  };
  // One division per element (the scalars' reciprocals are computed once): a vector division
  // costs as much as a dozen multiplications, and there were three. Within an ulp of PyTorch's
  // sqrt(v) / sqrt(1 - b2^t) and (m / denom) * step.
  Value stepSize = m.div(op.getLr(), correction(beta1));
  Value inverseRoot = m.div(m.constant(1.0), m.sqrt(correction(beta2)));
  Value denom = m.add(m.mul(m.sqrt(avgSq), inverseRoot),
                      m.constant(op.getEpsilon().convertToDouble()));
  return {m.sub(param, m.div(m.mul(avg, stepSize), denom)), avg, avgSq};
}

struct ExpandTrainOpsPass : nnc::impl::ExpandTrainOpsBase<ExpandTrainOpsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      // all_reduce is not math to expand: it reaches the plan as a collective (so do the
      // tensor-parallel sums and ZeRO's shard ops).
      if (isa<train::TrainDialect>(op->getDialect()) &&
          !isa<train::AllReduceOp, train::TensorParallelSumOp, train::ReduceScatterOp,
               train::TakeShardOp, train::AllGatherOp, train::TensorParallelRankOp>(op))
        ops.push_back(op);
    });
    OpBuilder b(&getContext());
    for (Operation *op : ops) {
      b.setInsertionPoint(op);
      SmallVector<Value> results =
          TypeSwitch<Operation *, SmallVector<Value>>(op)
              .Case<train::GlobalNormOp, train::AllFiniteOp, train::ClipOp, train::SgdOp,
                    train::SgdMomentumOp, train::AdamOp>(
                  [&](auto trainOp) { return expand(b, trainOp); });
      op->replaceAllUsesWith(results);
      op->erase();
    }
  }
};

} // namespace
