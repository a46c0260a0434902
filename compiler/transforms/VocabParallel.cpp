// Tensor parallelism's vocabulary split (Megatron-LM), part of nnc-tensor-parallel: a language
// model's output layer, its cross-entropy and the embeddings of its vocabulary are split over the
// T ranks by vocabulary rows, so that no rank holds the whole table or computes whole logits.
//
// 1. Find the output layer: the linear (or, from ONNX, matmul by a transposed weight) whose
//    logits (..., V), maybe reshaped keeping V last, reach a cross-entropy against class
//    indices. Its vocabulary is V; the embeddings of V rows (tied to its weight or not) are
//    those of the vocabulary. A model without such an embedding (a classifier) keeps its output
//    layer whole: it has few classes, and splitting them would cost an all-reduce per step.
// 2. Each rank keeps rows [r P, (r + 1) P) of the weight (and bias), P = ceil(V / T): when T
//    does not divide V the last parts are padded with zero rows, whose logits the loss masks out
//    and which no id reads, so training is that of one process. Ids and labels are offset by
//    r P (train.tensor_parallel_rank); an id outside the rank's rows looks up a zero row.
// 3. The embedding's partial lookups are summed over the ranks (train.tensor_parallel_sum; its
//    gradient, the identity, leaves each rank the exact gradient of its rows).
// 4. The output layer reads its input through train.tensor_parallel_copy and computes its P
//    logits. The loss: each rank writes its rows' log-sum-exp into its slot of a (..., T)
//    tensor, and its part of the target logit (nonzero only on the rank holding the label) and
//    of the label smoothing's sum beside it; one sum over the ranks gives every rank all of
//    them, from which each forms the log-sum-exp over the whole vocabulary and the loss.
//    Autodiff then writes the gradient softmax - target of each rank's logits locally.
// 5. The model's logits output is gathered (each rank places its part in its slot, one sum):
//    evaluation and prediction see whole logits; the training step does not compute them.
#include "compiler/transforms/VocabParallel.h"

#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

using namespace mlir;
using namespace nnc;

namespace {

ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

BlockArgument paramArg(func::FuncOp func, Value v) {
  auto arg = dyn_cast_or_null<BlockArgument>(v);
  if (!arg || arg.getOwner()->getParentOp() != func.getOperation() ||
      !nnc::attr::argString(func, arg.getArgNumber(), nnc::attr::kParam))
    return {};
  return arg;
}

/// The output layer, its loss and the embeddings of its vocabulary.
struct VocabLayers {
  nn::CrossEntropyOp loss;
  Operation *head = nullptr;     // nn.linear, or nn.matmul of (x, transpose(weight))
  Value input;                   // (..., D)
  BlockArgument weight, bias;    // (V, D), (V) or null
  SmallVector<nn::ReshapeOp> reshapes; // from the head's logits to the loss, V kept last
  SmallVector<nn::EmbeddingOp> embeddings;
  int64_t vocab = 0;
};

/// The head op's input and weight, if `op` computes x W^T with a parameter W (V, D).
std::optional<std::pair<Value, BlockArgument>> headOperands(func::FuncOp func, Operation *op) {
  if (auto linear = dyn_cast_or_null<nn::LinearOp>(op)) {
    if (linear.getActivation() || (linear.getBias() && !paramArg(func, linear.getBias())))
      return std::nullopt;
    if (BlockArgument w = paramArg(func, linear.getWeight()))
      return std::make_pair(linear.getInput(), w);
    return std::nullopt;
  }
  auto matmul = dyn_cast_or_null<nn::MatmulOp>(op);
  if (!matmul || matmul.hasFoldedLayouts() || shapeOf(matmul.getRhs()).size() != 2)
    return std::nullopt;
  auto transpose = matmul.getRhs().getDefiningOp<nn::TransposeOp>();
  if (!transpose || !transpose->hasOneUse() ||
      transpose.getPermutation() != ArrayRef<int64_t>{1, 0})
    return std::nullopt;
  if (BlockArgument w = paramArg(func, transpose.getInput()))
    return std::make_pair(matmul.getLhs(), w);
  return std::nullopt;
}

/// The output layer behind `loss`, if every use of its weight, bias and logits is one this
/// split handles (the layer itself, embeddings, the loss, the model's outputs).
std::optional<VocabLayers> findVocabLayers(func::FuncOp func, nn::CrossEntropyOp loss) {
  if (!isa<IntegerType>(cast<RankedTensorType>(loss.getTarget().getType()).getElementType()))
    return std::nullopt;
  VocabLayers layers;
  layers.loss = loss;
  Value logits = loss.getLogits();
  while (auto reshape = logits.getDefiningOp<nn::ReshapeOp>()) {
    if (!reshape->hasOneUse() || shapeOf(reshape.getInput()).back() != shapeOf(logits).back())
      return std::nullopt;
    layers.reshapes.insert(layers.reshapes.begin(), reshape);
    logits = reshape.getInput();
  }
  layers.head = logits.getDefiningOp();
  std::optional<std::pair<Value, BlockArgument>> operands = headOperands(func, layers.head);
  if (!operands)
    return std::nullopt;
  std::tie(layers.input, layers.weight) = *operands;
  if (auto linear = dyn_cast<nn::LinearOp>(layers.head))
    layers.bias = paramArg(func, linear.getBias());
  if (layers.bias && !layers.bias.hasOneUse())
    return std::nullopt;
  layers.vocab = shapeOf(layers.weight)[0];
  Operation *next = layers.reshapes.empty() ? loss.getOperation() : layers.reshapes.front();
  for (Operation *user : logits.getUsers())
    if (user != next && !isa<func::ReturnOp>(user))
      return std::nullopt;
  // Embeddings of V rows: the weight's other readers (tied), or tables of their own.
  for (Operation *user : layers.weight.getUsers()) {
    auto embedding = dyn_cast<nn::EmbeddingOp>(user);
    if (embedding && embedding.getWeight() == layers.weight)
      layers.embeddings.push_back(embedding);
    else if (user != layers.head && user != layers.head->getOperand(1).getDefiningOp())
      return std::nullopt;
  }
  func.walk([&](nn::EmbeddingOp embedding) {
    BlockArgument table = paramArg(func, embedding.getWeight());
    if (table && table != layers.weight && table.hasOneUse() &&
        shapeOf(table)[0] == layers.vocab)
      layers.embeddings.push_back(embedding);
  });
  if (layers.embeddings.empty())
    return std::nullopt; // a classifier, not a language model
  return layers;
}

/// Builds the split over `ranks` (see the file comment).
class VocabSplitter {
public:
  VocabSplitter(func::FuncOp func, VocabLayers &layers, int64_t ranks)
      : func(func), layers(layers), ranks(ranks), part((layers.vocab + ranks - 1) / ranks),
        headLoc(layers.head->getLoc()), b(func.getContext()) {}

  void run();

private:
  func::FuncOp func;
  VocabLayers &layers;
  int64_t ranks, part;
  // Where the loss's index and mask arithmetic sits: at the output layer's node, so that the
  // loss's node starts with its log-sum-exp (the precision pass keeps a node in f32 by its
  // first op).
  Location headLoc;
  OpBuilder b;

  Value rank(Location loc, Type type);
  Value constant(Location loc, Type type, double value);
  Value localIds(Location loc, Value ids);
  Value rowOfTable(Location loc, ArrayRef<float> table);
  Value maskPadding(Location loc, Value logits, bool zero);
  void shard(BlockArgument arg);
  Value logitsPart();
  Value logSumExp(Location loc, Value x);
  Value parallelLoss(Location loc, Value logits);
  Value gather(Location loc, Value logits);
  void splitEmbedding(nn::EmbeddingOp embedding);
};

/// This rank's index among the ranks, as a scalar of the integer `type`.
Value VocabSplitter::rank(Location loc, Type type) {
  return train::TensorParallelRankOp::create(b, loc, RankedTensorType::get({}, type),
                                             b.getStringAttr("tensor"));
}

Value VocabSplitter::constant(Location loc, Type type, double value) {
  auto scalar = RankedTensorType::get({}, type);
  Attribute element = isa<FloatType>(type) ? Attribute(b.getFloatAttr(type, value))
                                           : Attribute(b.getIntegerAttr(type, int64_t(value)));
  return nn::ConstantOp::create(b, loc, DenseElementsAttr::get(scalar, element));
}

/// Ids (or labels) counted from this rank's first row: outside [0, P) when another rank holds
/// them.
Value VocabSplitter::localIds(Location loc, Value ids) {
  Type type = cast<RankedTensorType>(ids.getType()).getElementType();
  Value offset = nn::MulOp::create(b, loc, rank(loc, type), constant(loc, type, double(part)));
  return nn::SubOp::create(b, loc, ids, offset);
}

/// Gives the parameter its P rows, marked as split along axis 0.
void VocabSplitter::shard(BlockArgument arg) {
  auto type = cast<RankedTensorType>(arg.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape[0] = part;
  arg.setType(RankedTensorType::get(shape, type.getElementType()));
  SmallVector<int64_t> spec = {0, ranks, 1};
  if (part * ranks != layers.vocab) // padded parts: the whole extent too
    spec.push_back(layers.vocab);
  func.setArgAttr(arg.getArgNumber(), nnc::attr::kShard, b.getDenseI64ArrayAttr(spec));
}

void VocabSplitter::splitEmbedding(nn::EmbeddingOp embedding) {
  b.setInsertionPoint(embedding);
  Location loc = embedding.getLoc();
  Value partial = nn::EmbeddingOp::create(b, loc, localIds(loc, embedding.getIndices()),
                                          embedding.getWeight());
  Value sum = train::TensorParallelSumOp::create(b, loc, partial.getType(), partial,
                                                 b.getStringAttr("tensor"));
  embedding.getResult().replaceAllUsesWith(sum);
  embedding.erase();
}

/// The head as a linear on this rank's rows: (..., P) logits, its input's gradient summed.
Value VocabSplitter::logitsPart() {
  Operation *head = layers.head;
  b.setInsertionPoint(head);
  Location loc = head->getLoc();
  Value input = train::TensorParallelCopyOp::create(b, loc, layers.input.getType(), layers.input,
                                                    b.getStringAttr("tensor"));
  Value logits = nn::LinearOp::create(b, loc, input, layers.weight, layers.bias, nullptr);
  // The loss reads the part (through the reshapes); the model's outputs, gathered logits.
  Value whole = head->getResult(0);
  Operation *next = layers.reshapes.empty() ? layers.loss.getOperation()
                                            : layers.reshapes.front().getOperation();
  next->setOperand(0, logits);
  if (!whole.use_empty()) {
    b.setInsertionPointAfter(logits.getDefiningOp());
    whole.replaceAllUsesWith(gather(loc, logits));
  }
  Operation *transpose = head->getOperand(1).getDefiningOp();
  head->erase();
  if (transpose && transpose->use_empty())
    transpose->erase();
  Value value = logits;
  for (nn::ReshapeOp reshape : layers.reshapes) {
    SmallVector<int64_t> shape(reshape.getShape());
    shape.back() = part;
    b.setInsertionPoint(reshape);
    auto split = nn::ReshapeOp::create(b, reshape.getLoc(), reshape.getInput(), shape);
    reshape.getResult().replaceAllUsesWith(split.getResult());
    reshape.erase();
    value = split;
  }
  return value;
}

/// Row `rank` of a constant (T, P) table, as (P).
Value VocabSplitter::rowOfTable(Location loc, ArrayRef<float> table) {
  auto type = RankedTensorType::get({ranks, part}, b.getF32Type());
  Value rows = nn::ConstantOp::create(b, loc, DenseElementsAttr::get(type, table));
  Value index = nn::ReshapeOp::create(b, loc, rank(loc, b.getI64Type()), ArrayRef<int64_t>{1});
  Value row = nn::EmbeddingOp::create(b, loc, index, rows);
  return nn::ReshapeOp::create(b, loc, row, ArrayRef<int64_t>{part});
}

/// A padded part's columns past the vocabulary: zero (`zero`, for sums) or far below any logit
/// (for the log-sum-exp, where they then weigh nothing). Parts without padding are unchanged.
Value VocabSplitter::maskPadding(Location loc, Value logits, bool zero) {
  if (part * ranks == layers.vocab)
    return logits;
  std::vector<float> table(size_t(ranks * part));
  for (int64_t r = 0; r < ranks; ++r)
    for (int64_t c = 0; c < part; ++c) {
      bool padding = r * part + c >= layers.vocab;
      table[size_t(r * part + c)] = zero ? (padding ? 0.0f : 1.0f) : (padding ? -1e30f : 0.0f);
    }
  Value row = rowOfTable(loc, table);
  if (zero)
    return nn::MulOp::create(b, loc, logits, row);
  return nn::AddOp::create(b, loc, logits, row);
}

/// The log-sum-exp of `x` over its last axis, kept as size 1. The maximum only steadies it (the
/// value does not depend on it), so no gradient flows through the maximum.
Value VocabSplitter::logSumExp(Location loc, Value x) {
  int64_t last = int64_t(shapeOf(x).size()) - 1;
  auto keep = b.getBoolAttr(true);
  Value max = nn::StopGradientOp::create(
      b, loc, nn::ReduceMaxOp::create(b, loc, x, ArrayRef<int64_t>{last}, keep));
  Value exps = nn::ExpOp::create(b, loc, nn::SubOp::create(b, loc, x, max));
  Value sum = nn::ReduceSumOp::create(b, loc, exps, ArrayRef<int64_t>{last}, keep);
  return nn::AddOp::create(b, loc, max, nn::LogOp::create(b, loc, sum));
}

/// The cross-entropy of the whole vocabulary from this rank's (..., P) logits: per position
/// lse - (1 - s) x[label] - (s / V) sum(x), the terms summed over the ranks in one all-reduce.
Value VocabSplitter::parallelLoss(Location loc, Value logits) {
  nn::CrossEntropyOp loss = layers.loss;
  Type f = cast<RankedTensorType>(logits.getType()).getElementType();
  int64_t last = int64_t(shapeOf(logits).size()) - 1;
  auto keep = b.getBoolAttr(true);
  double s = loss.getLabelSmoothing() ? loss.getLabelSmoothing()->convertToDouble() : 0.0;
  Value lse = logSumExp(loc, maskPadding(headLoc, logits, false));
  // (..., 1): this rank's part of the target term.
  Value hot = nn::OneHotOp::create(b, headLoc, localIds(headLoc, loss.getTarget()),
                                   b.getI64IntegerAttr(part), TypeAttr::get(f));
  Value target = nn::ReduceSumOp::create(b, loc, nn::MulOp::create(b, headLoc, hot, logits),
                                         ArrayRef<int64_t>{last}, keep);
  if (s > 0.0) {
    Value sum = nn::ReduceSumOp::create(b, loc, maskPadding(headLoc, logits, true),
                                        ArrayRef<int64_t>{last}, keep);
    target = nn::AddOp::create(b, loc, nn::MulOp::create(b, loc, target, constant(loc, f, 1 - s)),
                               nn::MulOp::create(b, loc, sum, constant(loc, f, s / layers.vocab)));
  }
  // (..., T): this rank's log-sum-exp in its slot, zeros in the others'.
  Type index = b.getI64Type();
  Value slot = nn::OneHotOp::create(b, headLoc, rank(headLoc, index),
                                    b.getI64IntegerAttr(ranks), TypeAttr::get(f));
  Value slots = nn::MulOp::create(b, loc, lse, slot);
  Value packed = nn::ConcatOp::create(b, loc, ValueRange{slots, target}, b.getI64IntegerAttr(-1));
  Value summed = train::TensorParallelSumOp::create(b, loc, packed.getType(), packed,
                                                    b.getStringAttr("tensor"));
  SmallVector<int64_t> start(shapeOf(summed).size(), 0), limit(shapeOf(summed));
  limit.back() = ranks;
  Value lses = nn::SliceOp::create(b, loc, summed, start, limit, DenseI64ArrayAttr());
  start.back() = ranks;
  limit.back() = ranks + 1;
  Value picked = nn::SliceOp::create(b, loc, summed, start, limit, DenseI64ArrayAttr());
  Value rows = nn::SubOp::create(b, loc, logSumExp(loc, lses), picked);
  SmallVector<int64_t> all;
  for (int64_t d = 0; d <= last; ++d)
    all.push_back(d);
  bool mean = loss.getReduction().value_or(nn::Reduction::mean) == nn::Reduction::mean;
  if (mean)
    return nn::ReduceMeanOp::create(b, loc, rows, all, b.getBoolAttr(false));
  return nn::ReduceSumOp::create(b, loc, rows, all, b.getBoolAttr(false));
}

/// Whole (..., V) logits on every rank from each rank's (..., P): each places its part in its
/// slot of (..., T, P), and one sum over the ranks fills them all.
Value VocabSplitter::gather(Location loc, Value logits) {
  SmallVector<int64_t> shape(shapeOf(logits));
  Type f = cast<RankedTensorType>(logits.getType()).getElementType();
  shape.insert(shape.end() - 1, 1);
  Value parted = nn::ReshapeOp::create(b, loc, logits, shape);
  Value slot = nn::OneHotOp::create(b, loc, rank(loc, b.getI64Type()),
                                    b.getI64IntegerAttr(ranks), TypeAttr::get(f));
  slot = nn::ReshapeOp::create(b, loc, slot, ArrayRef<int64_t>{ranks, 1});
  Value placed = nn::MulOp::create(b, loc, parted, slot);
  Value summed = train::TensorParallelSumOp::create(b, loc, placed.getType(), placed,
                                                    b.getStringAttr("tensor"));
  shape.erase(shape.end() - 2);
  shape.back() = ranks * part;
  Value whole = nn::ReshapeOp::create(b, loc, summed, shape);
  if (ranks * part == layers.vocab)
    return whole;
  SmallVector<int64_t> start(shape.size(), 0), limit(shape);
  limit.back() = layers.vocab; // the padding dropped
  return nn::SliceOp::create(b, loc, whole, start, limit, DenseI64ArrayAttr());
}

void VocabSplitter::run() {
  shard(layers.weight);
  if (layers.bias)
    shard(layers.bias);
  for (nn::EmbeddingOp embedding : layers.embeddings) {
    if (BlockArgument table = paramArg(func, embedding.getWeight()); table != layers.weight)
      shard(table);
    splitEmbedding(embedding);
  }
  Value logits = logitsPart();
  nn::CrossEntropyOp loss = layers.loss;
  b.setInsertionPoint(loss);
  loss.getResult().replaceAllUsesWith(parallelLoss(loss.getLoc(), logits));
  loss.erase();
}

} // namespace

bool nnc::splitVocabulary(func::FuncOp forward, int64_t ranks) {
  SmallVector<nn::CrossEntropyOp> losses;
  forward.walk([&](nn::CrossEntropyOp loss) { losses.push_back(loss); });
  bool split = false;
  for (nn::CrossEntropyOp loss : losses)
    if (std::optional<VocabLayers> layers = findVocabLayers(forward, loss)) {
      // A last rank holding padding only would see no logit (its log-sum-exp is -inf, and
      // fp16 turns the padding mask into -inf too): such a vocabulary stays whole.
      int64_t part = (layers->vocab + ranks - 1) / ranks;
      if ((ranks - 1) * part >= layers->vocab) {
        layers->head->emitWarning("tensor parallelism: a vocabulary of ")
            << layers->vocab << " in parts of " << part << " leaves the last rank no rows; "
            << "the embedding and output layer stay whole on every rank";
        continue;
      }
      VocabSplitter(forward, *layers, ranks).run();
      split = true;
    }
  return split;
}
