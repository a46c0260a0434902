// Tensor parallelism (Megatron-LM), before autodiff: each pair of a column-parallel linear and
// the row-parallel linear it feeds is split over T ranks, so every rank holds 1/T of both.
//
// 1. Find the pairs in @forward: a linear L1 whose result reaches, through ops that keep one
//    axis split (elementwise ops, slices, reshapes, transposes, batched matmuls over that axis,
//    softmax and causal masks over other axes), exactly one linear L2 that contracts that axis
//    and nothing else. An MLP block (fc1 -> gelu -> fc2) and attention (qkv -> heads -> out
//    projection) are such pairs; other layers stay whole on every rank (replicated).
// 2. L1's weight and bias keep 1/T of their output rows (in `groups` parts when slices cut L1's
//    output into q, k and v, so that each rank holds whole heads of each); L2's weight keeps
//    1/T of its input columns. The parameters are marked `nnc.shard = [axis, T, groups]`.
// 3. L1 reads its input through train.tensor_parallel_copy (its gradient is summed over the
//    ranks); L2 runs without its bias, its partial result is summed over the ranks
//    (train.tensor_parallel_sum), then the bias is added once.
// 4. The ops between are re-typed: slices and reshapes get the split axis's new extent.
//
// Autodiff then differentiates through the copy and the sum (their VJPs are the backward
// all-reduce and the identity), so the backward pass needs no rewriting here.
#include "compiler/Passes.h"
#include "compiler/transforms/VocabParallel.h"

#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/TypeSwitch.h"

namespace nnc {
#define GEN_PASS_DEF_TENSORPARALLEL
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

std::string nodeOf(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return op->getName().getStringRef().str();
}

ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

/// The parameter argument `v` is, if it is one read only once (a tied weight is not split).
BlockArgument singleUseParam(func::FuncOp func, Value v) {
  auto arg = dyn_cast_or_null<BlockArgument>(v);
  if (!arg || !arg.hasOneUse() || !nnc::attr::argString(func, arg.getArgNumber(), nnc::attr::kParam))
    return {};
  return arg;
}

/// A column-parallel linear, the row-parallel one it feeds, and what lies between: each value's
/// split axis.
struct Pair {
  nn::LinearOp column, row;
  int64_t groups = 1; // slices cut the column's output into this many equal parts
  llvm::MapVector<Value, int64_t> splitAxis;
};

/// The split axis of `op`'s result given its split operand `v` (axis `axis`), or nullopt when
/// `op` cannot run on parts (it mixes the split axis with others, or reads a whole value).
std::optional<int64_t> propagate(Operation *op, Value v, int64_t axis,
                                 const llvm::MapVector<Value, int64_t> &split) {
  auto isSplit = [&](Value x) { return split.count(x) > 0; };
  // Any other operand must be a scalar (a constant scale).
  for (Value operand : op->getOperands())
    if (!isSplit(operand) && operand != v && shapeOf(operand).size() != 0)
      return std::nullopt;
  int64_t rank = static_cast<int64_t>(shapeOf(op->getResult(0)).size());
  return llvm::TypeSwitch<Operation *, std::optional<int64_t>>(op)
      .Case<nn::ReluOp, nn::GeluOp, nn::TanhOp, nn::SigmoidOp, nn::MulOp, nn::DivOp, nn::AddOp,
            nn::SubOp>([&](Operation *) -> std::optional<int64_t> {
        // Elementwise: both operands split alike (or a scalar), same rank.
        for (Value operand : op->getOperands())
          if (isSplit(operand) && split.lookup(operand) != axis)
            return std::nullopt;
        return rank == static_cast<int64_t>(shapeOf(v).size()) ? std::optional(axis)
                                                                : std::nullopt;
      })
      .Case([&](nn::DropoutOp d) -> std::optional<int64_t> {
        // Masks are drawn per element index: a part would draw other masks than one process.
        if (d.getRate().convertToDouble() != 0.0)
          return std::nullopt;
        return axis;
      })
      .Case([&](nn::SliceOp s) -> std::optional<int64_t> {
        if (s.getStep())
          return std::nullopt;
        return axis;
      })
      .Case([&](nn::ReshapeOp r) -> std::optional<int64_t> {
        // The split axis maps to the first output dimension after the common leading ones.
        ArrayRef<int64_t> in = shapeOf(v), out = r.getShape();
        int64_t common = 0;
        while (common < int64_t(in.size()) && common < int64_t(out.size()) &&
               in[common] == out[common])
          ++common;
        if (axis != common || common >= int64_t(out.size()))
          return std::nullopt;
        return common;
      })
      .Case([&](nn::TransposeOp t) -> std::optional<int64_t> {
        ArrayRef<int64_t> perm = t.getPermutation();
        for (int64_t i = 0; i < int64_t(perm.size()); ++i)
          if (perm[i] == axis)
            return i;
        return std::nullopt;
      })
      .Case([&](nn::MatmulOp m) -> std::optional<int64_t> {
        // A batch axis split alike in both (the heads of q k^T, or of p v).
        if (m.hasFoldedLayouts() || !isSplit(m.getLhs()) || !isSplit(m.getRhs()) ||
            split.lookup(m.getLhs()) != split.lookup(m.getRhs()) ||
            shapeOf(m.getLhs()).size() != shapeOf(m.getRhs()).size() || axis >= rank - 2)
          return std::nullopt;
        return axis;
      })
      .Case([&](nn::SoftmaxOp s) -> std::optional<int64_t> {
        int64_t along = s.getAxis().value_or(-1);
        if (along < 0)
          along += rank;
        return along == axis ? std::nullopt : std::optional(axis);
      })
      .Case([&](nn::CausalMaskOp) -> std::optional<int64_t> {
        return axis < rank - 2 ? std::optional(axis) : std::nullopt;
      })
      .Default([](Operation *) { return std::nullopt; });
}

/// The pair that starts at `column`, if its output reaches exactly one row-parallel linear.
std::optional<Pair> findPair(func::FuncOp func, nn::LinearOp column) {
  if (!singleUseParam(func, column.getWeight()) ||
      (column.getBias() && !singleUseParam(func, column.getBias())))
    return std::nullopt;
  Pair pair;
  pair.column = column;
  Value out = column.getResult();
  pair.splitAxis[out] = static_cast<int64_t>(shapeOf(out).size()) - 1;
  // Ops in block order, so that every operand is classified before its users.
  for (Operation &op : func.getBody().front().without_terminator()) {
    if (&op == column.getOperation())
      continue;
    Value fromSplit;
    for (Value operand : op.getOperands())
      if (pair.splitAxis.count(operand))
        fromSplit = operand;
    if (!fromSplit || !column->isBeforeInBlock(&op))
      continue;
    int64_t axis = pair.splitAxis.lookup(fromSplit);
    auto linear = dyn_cast<nn::LinearOp>(op);
    if (linear && linear.getInput() == fromSplit) {
      int64_t last = static_cast<int64_t>(shapeOf(fromSplit).size()) - 1;
      if (pair.row || axis != last || !singleUseParam(func, linear.getWeight()))
        return std::nullopt;
      pair.row = linear;
      continue;
    }
    if (op.getNumResults() != 1)
      return std::nullopt;
    std::optional<int64_t> next = propagate(&op, fromSplit, axis, pair.splitAxis);
    if (!next)
      return std::nullopt;
    pair.splitAxis[op.getResult(0)] = *next;
  }
  if (!pair.row)
    return std::nullopt;
  // Every split value is read only inside the pair: a part must not leak out.
  for (auto &[value, axis] : pair.splitAxis)
    for (Operation *user : value.getUsers())
      if (user != pair.row.getOperation() &&
          !llvm::any_of(user->getResults(), [&](Value r) { return pair.splitAxis.count(r); }))
        return std::nullopt;
  // Slices straight off the column's output along its last axis cut it into equal groups.
  SmallVector<nn::SliceOp> cuts;
  for (Operation *user : out.getUsers())
    if (auto s = dyn_cast<nn::SliceOp>(user))
      cuts.push_back(s);
  if (!cuts.empty()) {
    int64_t size = shapeOf(out).back(), axis = shapeOf(out).size() - 1;
    int64_t part = shapeOf(cuts.front().getResult()).back();
    for (nn::SliceOp s : cuts)
      if (shapeOf(s.getResult()).back() != part || s.getStart()[axis] % part != 0)
        return std::nullopt;
    if (size % part != 0 || int64_t(cuts.size()) != size / part ||
        !llvm::all_of(out.getUsers(), [](Operation *u) { return isa<nn::SliceOp>(u); }))
      return std::nullopt;
    pair.groups = size / part;
  }
  return pair;
}

/// `dim` of `shape` divided by `ranks` in each of its `groups` (a fused q/k/v weight has 3), or
/// failure naming the layer.
LogicalResult divide(SmallVectorImpl<int64_t> &shape, int64_t dim, int64_t ranks, Operation *at,
                     StringRef layer, const Twine &what, int64_t groups = 1) {
  if (shape[dim] % (ranks * groups) != 0) {
    InFlightDiagnostic error = at->emitError("tensor parallelism: layer '") << layer << "' has ";
    if (groups > 1)
      error << groups << " groups of " << shape[dim] / groups << " " << what;
    else
      error << shape[dim] << " " << what;
    return error << ", which --tensor-parallel " << ranks << " does not divide";
  }
  shape[dim] /= ranks * groups;
  return success();
}

struct TensorParallelPass : nnc::impl::TensorParallelBase<TensorParallelPass> {
  using TensorParallelBase::TensorParallelBase;

  void runOnOperation() override {
    if (ranks <= 1)
      return;
    auto forward = getOperation().lookupSymbol<func::FuncOp>("forward");
    if (!forward)
      return;
    SmallVector<Pair> pairs;
    llvm::DenseSet<Operation *> taken;
    for (Operation &op : forward.getBody().front())
      if (auto linear = dyn_cast<nn::LinearOp>(op); linear && !taken.contains(linear))
        if (std::optional<Pair> pair = findPair(forward, linear)) {
          taken.insert(pair->row);
          pairs.push_back(std::move(*pair));
        }
    bool vocabulary = splitVocabulary(forward, ranks);
    // A pipeline stage without a pair is normal (another stage holds them).
    if (pairs.empty() && !vocabulary && !getOperation()->hasAttr(nnc::attr::kPipelineStage))
      forward.emitWarning("tensor parallelism: no pair of linear layers to split; every rank "
                          "holds the whole model");
    for (Pair &pair : pairs)
      if (failed(split(forward, pair)))
        return signalPassFailure();
    SmallVector<Type> inputs(forward.getBody().front().getArgumentTypes());
    forward.setType(FunctionType::get(&getContext(), inputs, forward.getResultTypes()));
  }

  /// Gives parameter `arg` its part: `axis` divided by the ranks, in `groups` parts.
  LogicalResult shard(func::FuncOp func, Value value, int64_t axis, int64_t groups,
                      Operation *layer) {
    auto arg = cast<BlockArgument>(value);
    auto type = cast<RankedTensorType>(arg.getType());
    SmallVector<int64_t> shape(type.getShape());
    if (failed(divide(shape, axis, ranks, layer, nodeOf(layer),
                      axis == 0 ? "output features" : "input features", groups)))
      return failure();
    shape[axis] *= groups;
    arg.setType(RankedTensorType::get(shape, type.getElementType()));
    Builder b(&getContext());
    func.setArgAttr(arg.getArgNumber(), nnc::attr::kShard,
                    b.getDenseI64ArrayAttr({axis, int64_t(ranks), groups}));
    return success();
  }

  LogicalResult split(func::FuncOp func, Pair &pair) {
    nn::LinearOp column = pair.column, row = pair.row;
    if (failed(shard(func, column.getWeight(), 0, pair.groups, column)) ||
        (column.getBias() && failed(shard(func, column.getBias(), 0, pair.groups, column))) ||
        failed(shard(func, row.getWeight(), 1, 1, row)))
      return failure();
    OpBuilder b(column);
    auto copy = train::TensorParallelCopyOp::create(b, column.getLoc(), column.getInput().getType(),
                                                    column.getInput(), b.getStringAttr("tensor"));
    column.getInputMutable().assign(copy);
    // Re-type the ops between, in order; slices and reshapes first get the new extents.
    for (auto &[value, axis] : pair.splitAxis) {
      Operation *op = value.getDefiningOp();
      if (auto s = dyn_cast<nn::SliceOp>(op)) {
        SmallVector<int64_t> start(s.getStart()), limit(s.getLimit());
        start[axis] /= ranks;
        limit[axis] /= ranks;
        s.setStart(start);
        s.setLimit(limit);
      } else if (auto r = dyn_cast<nn::ReshapeOp>(op)) {
        SmallVector<int64_t> shape(r.getShape());
        bool heads = shape.size() > shapeOf(r.getInput()).size();
        if (failed(divide(shape, axis, ranks, r, nodeOf(column),
                          (heads ? "heads (at node '" : "features (at node '") + nodeOf(r) +
                              "')")))
          return failure();
        r.setShape(shape);
      }
      if (failed(reinfer(op)))
        return failure();
    }
    // The row-parallel linear: partial products summed over the ranks, then the bias once.
    b.setInsertionPoint(row);
    auto partial = nn::LinearOp::create(b, row.getLoc(), row.getInput(), row.getWeight(), Value(),
                                        row.getActivationAttr());
    Value sum = train::TensorParallelSumOp::create(b, row.getLoc(), partial.getType(), partial,
                                                   b.getStringAttr("tensor"));
    if (row.getBias())
      sum = nn::AddOp::create(b, row.getLoc(), sum, row.getBias());
    row.getResult().replaceAllUsesWith(sum);
    row.erase();
    return success();
  }

  /// Recomputes `op`'s result type from its (re-typed) operands.
  static LogicalResult reinfer(Operation *op) {
    auto infer = dyn_cast<InferTypeOpInterface>(op);
    SmallVector<Type> types;
    if (!infer ||
        failed(infer.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                      op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
                                      op->getRegions(), types)))
      return op->emitError("tensor parallelism: cannot re-type '") << op->getName() << "'";
    for (auto [result, type] : llvm::zip(op->getResults(), types))
      result.setType(type);
    return success();
  }
};

} // namespace
