// nnc-recompute: fits a plan's arena into `nnc compile --memory-budget BYTES` by computing some
// tensors twice instead of keeping them. A tensor that sits idle across the arena's peak (made
// by the forward pass, read again by the backward pass) is recomputed just before its next
// reader, from operands that are live there anyway, so its bytes are free in between and no
// other tensor lives longer. The cheapest first, in bytes freed per FLOP: elementwise kernels
// (activations, normalizations) before GEMMs and convolutions. Repeated at the new peak until
// the arena fits or nothing left can be recomputed.
//
// Runs just before nnc-lower-to-plan, on the same host-op sequence (kernel calls, library
// calls) and with its liveness rules: views share their source's bytes, parameters and
// constants live throughout, a function's inputs and results live from its start to its end.
// The arena is estimated with the same placement (BufferAssignment.h); in-place updates, which
// the lowering decides later, only make the real one smaller.
#include "compiler/Passes.h"
#include "compiler/plan/BufferAssignment.h"
#include "compiler/plan/Flops.h"
#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/plan/PlanDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringSet.h"

namespace nnc {
#define GEN_PASS_DEF_RECOMPUTE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace nnc {
namespace {

bool isView(Operation *op) { return isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op); }

/// The tensor whose storage `v` views (itself unless a collapse/expand_shape made it).
Value root(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (!isView(def))
      break;
    v = def->getOperand(0);
  }
  return v;
}

/// Ops that compute their results from their operands alone, so a second call gives the same
/// bytes: outlined kernels (a dropout mask is keyed by its operands) and the forward library
/// calls. Gradient convolutions and collectives are never worth recomputing or not allowed.
bool recomputable(Operation *op) {
  if (auto call = dyn_cast<func::CallOp>(op)) {
    auto callee = SymbolTable::lookupNearestSymbolFrom(call, call.getCalleeAttr());
    return callee && callee->hasAttr(attr::kKernel);
  }
  return isa<nn::LinearOp, nn::MatmulOp, nn::Conv2dOp, nn::CausalAttentionOp>(op);
}

/// What recomputing `op` costs: its FLOPs for a library call, one per element read or written
/// for a kernel (they are memory-bound).
int64_t cost(Operation *op) {
  if (!isa<func::CallOp>(op))
    return countFlops(op);
  int64_t elements = 0;
  for (Value v : llvm::concat<Value>(op->getOperands(), op->getResults()))
    if (!v.getDefiningOp<tensor::EmptyOp>())
      elements += cast<ShapedType>(v.getType()).getNumElements();
  return elements;
}

/// Positions and live ranges of one function's temporaries, as nnc-lower-to-plan computes them.
struct Liveness {
  explicit Liveness(func::FuncOp func);

  /// Bytes of temporaries live at each position (index 0: before the first op).
  std::vector<int64_t> profile() const;
  /// The temporaries' arena, placed as nnc-assign-buffers places them.
  int64_t arena() const;
  /// The positions of the ops that read `v` or a view of it, in order (computed once).
  ArrayRef<int64_t> readers(Value v);
  /// Whether `v`'s bytes hold it at position `at` (a function input always does).
  bool liveAt(Value v, int64_t at) const;

  llvm::DenseMap<Operation *, int64_t> position;
  std::vector<Operation *> ops; // by position (ops[0] is null)
  llvm::MapVector<Value, BufferRequest> ranges; // root value -> size and [start, end]
  llvm::DenseMap<Value, SmallVector<int64_t>> readersOf;
  int64_t end = 0;
};

Liveness::Liveness(func::FuncOp func) {
  Block &body = func.getBody().front();
  end = static_cast<int64_t>(body.getOperations().size()) + 1;
  for (BlockArgument arg : body.getArguments())
    if (!func.getArgAttr(arg.getArgNumber(), attr::kParam))
      ranges[arg] = {plan::byteSize(arg.getType()), 0, end};
  int64_t index = 0;
  ops.push_back(nullptr);
  // An updated parameter that a kernel computes is written into the parameter's own bytes (the
  // lowering's in-place updates; where it cannot be, the real arena is larger than estimated,
  // which the driver checks).
  llvm::DenseSet<Value> inPlace;
  Operation *ret = body.getTerminator();
  for (auto [i, value] : llvm::enumerate(ret->getOperands()))
    if (func.getResultAttr(i, attr::kUpdates) && value.getDefiningOp<func::CallOp>())
      inPlace.insert(value);
  for (Operation &op : body) {
    position[&op] = ++index;
    ops.push_back(&op);
    if (isView(&op) || isa<tensor::EmptyOp, func::ReturnOp, nn::ConstantOp>(op))
      continue;
    for (Value result : op.getResults())
      if (!inPlace.contains(result))
        ranges[result] = {plan::byteSize(result.getType()), index, index};
  }
  for (Operation &op : body)
    for (Value operand : op.getOperands()) {
      auto it = ranges.find(root(operand));
      if (it != ranges.end())
        it->second.end =
            std::max(it->second.end, isa<func::ReturnOp>(op) ? end : position.lookup(&op));
    }
}

std::vector<int64_t> Liveness::profile() const {
  std::vector<int64_t> delta(end + 2, 0);
  for (auto &[value, range] : ranges) {
    delta[range.start] += range.size;
    delta[range.end + 1] -= range.size;
  }
  std::vector<int64_t> live(end + 1, 0);
  int64_t sum = 0;
  for (int64_t i = 0; i <= end; ++i)
    live[i] = sum += delta[i];
  return live;
}

int64_t Liveness::arena() const {
  std::vector<BufferRequest> requests;
  for (auto &[value, range] : ranges)
    requests.push_back(range);
  return assignBuffers(requests).peakBytes;
}

ArrayRef<int64_t> Liveness::readers(Value v) {
  auto [it, inserted] = readersOf.try_emplace(v);
  if (!inserted)
    return it->second;
  SmallVector<int64_t> &at = it->second;
  SmallVector<Value> worklist = {v};
  while (!worklist.empty())
    for (Operation *user : worklist.pop_back_val().getUsers()) {
      if (isView(user))
        worklist.push_back(user->getResult(0));
      else
        at.push_back(isa<func::ReturnOp>(user) ? end : position.lookup(user));
    }
  llvm::sort(at);
  return at;
}

bool Liveness::liveAt(Value v, int64_t at) const {
  if (isa<BlockArgument>(v))
    return true;
  auto it = ranges.find(v);
  return it != ranges.end() && it->second.start < at && at <= it->second.end;
}

/// One recomputation: `chain` (the op of the tensor to free last, the producers of its operands
/// that are not live there before it) again just before `before`, for the readers from there on.
struct Candidate {
  SmallVector<Operation *> chain;
  Operation *before = nullptr;
  int64_t at = 0;
  double score = 0;
};

class Recomputer {
public:
  Recomputer(func::FuncOp func, int64_t budget) : func(func), budget(budget) {}

  /// Recomputes until the function's temporaries fit `budget` bytes; false if they cannot.
  bool run();
  /// What was recomputed: the ops' user node names (with repeats) and their FLOPs.
  SmallVector<std::string> nodes;
  int64_t flops = 0;
  int64_t arena = 0;

private:
  std::optional<Candidate> bestAt(Liveness &liveness, int64_t peak);
  /// `v`, or a recomputed copy of it, that holds its value at position `at`.
  Value availableAt(const Liveness &liveness, Value v, int64_t at);
  /// Appends to `chain` the ops that recompute `v` at position `at` from tensors live there
  /// (none when it is live there), producers first, at most `depth` ops deep.
  bool recomputeChain(const Liveness &liveness, Value v, int64_t at, int depth,
                      SmallVector<Operation *> &chain);
  void apply(const Liveness &liveness, const Candidate &candidate);
  void replaceReadersFrom(const Liveness &liveness, Value from, Value to, int64_t at,
                          OpBuilder &b);

  func::FuncOp func;
  int64_t budget;
  llvm::DenseMap<Value, SmallVector<Value>> copies; // original -> its recomputed copies
  llvm::DenseSet<Operation *> recomputed;           // the copies' ops, not recomputed again
};

Value Recomputer::availableAt(const Liveness &liveness, Value v, int64_t at) {
  Value r = root(v);
  if (liveness.liveAt(r, at) || r.getDefiningOp<nn::ConstantOp>())
    return v;
  if (r != v) // a view of a copy is recomputed as a view (recomputeChain)
    return {};
  for (Value copy : copies.lookup(v))
    if (liveness.liveAt(copy, at))
      return copy;
  return {};
}

bool Recomputer::recomputeChain(const Liveness &liveness, Value v, int64_t at, int depth,
                                SmallVector<Operation *> &chain) {
  if (v.getDefiningOp<tensor::EmptyOp>() || availableAt(liveness, v, at))
    return true;
  Operation *def = v.getDefiningOp();
  if (!def || depth == 0 || !(isView(def) || recomputable(def)))
    return false;
  for (Value operand : def->getOperands())
    if (!recomputeChain(liveness, operand, at, depth - 1, chain))
      return false;
  if (!llvm::is_contained(chain, def))
    chain.push_back(def);
  return true;
}

std::optional<Candidate> Recomputer::bestAt(Liveness &liveness, int64_t peak) {
  // Producers this many ops deep (views included) are recomputed with a tensor whose operands
  // are not kept: a GELU's input, the GEMM before it, the normalization before that.
  constexpr int kDepth = 5;
  // Tensors below this size are not worth a kernel launch (scalars of norms and checks).
  constexpr int64_t kMinBytes = 4096;
  std::optional<Candidate> best;
  for (auto &[value, range] : liveness.ranges) {
    Operation *op = value.getDefiningOp();
    if (!op || range.size < kMinBytes || range.start >= peak || range.end <= peak ||
        !recomputable(op) || recomputed.contains(op))
      continue;
    ArrayRef<int64_t> readers = liveness.readers(value);
    const int64_t *next = llvm::upper_bound(readers, peak - 1); // first reader at or after peak
    if (next == readers.end() || *next == peak || *next >= liveness.end)
      continue;
    SmallVector<Operation *> chain;
    if (!llvm::all_of(op->getOperands(), [&](Value operand) {
          return recomputeChain(liveness, operand, *next, kDepth - 1, chain);
        }))
      continue;
    chain.push_back(op);
    int64_t total = 0;
    for (Operation *link : chain)
      total += cost(link);
    double score = static_cast<double>(range.size) / static_cast<double>(total + 1);
    if (!best || score > best->score)
      best = Candidate{std::move(chain), liveness.ops[*next], *next, score};
  }
  return best;
}

/// Points the readers of `from` at position `at` or later to `to`; a view made earlier whose
/// readers come later gets a copy over `to`.
void Recomputer::replaceReadersFrom(const Liveness &liveness, Value from, Value to, int64_t at,
                                    OpBuilder &b) {
  for (OpOperand &use : llvm::make_early_inc_range(from.getUses())) {
    Operation *user = use.getOwner();
    int64_t position = isa<func::ReturnOp>(user) ? liveness.end : liveness.position.lookup(user);
    if (position >= at) {
      use.set(to);
    } else if (isView(user)) {
      Operation *view = b.clone(*user);
      view->setOperand(0, to);
      replaceReadersFrom(liveness, user->getResult(0), view->getResult(0), at, b);
      if (view->use_empty())
        view->erase();
    }
  }
}

void Recomputer::apply(const Liveness &liveness, const Candidate &candidate) {
  OpBuilder b(candidate.before);
  IRMapping mapping;
  Operation *copy = nullptr;
  for (Operation *op : candidate.chain) {
    for (Value operand : op->getOperands()) {
      if (mapping.contains(operand))
        continue;
      if (auto empty = operand.getDefiningOp<tensor::EmptyOp>())
        mapping.map(operand, b.clone(*empty)->getResult(0));
      else
        mapping.map(operand, availableAt(liveness, operand, candidate.at));
    }
    copy = b.clone(*op, mapping);
    recomputed.insert(copy);
    if (isView(op))
      continue;
    nodes.push_back(plan::nodeName(op->getLoc()));
    flops += cost(op);
  }
  // Only the last op's readers move to the copy; the producers' copies feed it alone.
  Operation *op = candidate.chain.back();
  for (auto [original, recomputed] : llvm::zip(op->getResults(), copy->getResults())) {
    replaceReadersFrom(liveness, original, recomputed, candidate.at, b);
    Value source = original;
    for (auto &[from, list] : copies)
      if (llvm::is_contained(list, original))
        source = from;
    copies[source].push_back(recomputed);
  }
}

bool Recomputer::run() {
  // A copy is never recomputed again, and an original only where it idles across the peak, so
  // the loop ends; the bound is a guard.
  for (size_t round = 0, rounds = 4 * func.getBody().front().getOperations().size();; ++round) {
    Liveness liveness(func);
    std::vector<int64_t> profile = liveness.profile();
    int64_t peak = *std::max_element(profile.begin(), profile.end());
    if (peak <= budget && (arena = liveness.arena()) <= budget)
      return true;
    // The highest positions first (a few: a position with nothing to recompute usually stays
    // where it is); those over the budget must all come down. When the profile fits but the
    // placement does not (fragmentation), lowering one of the highest may help.
    constexpr size_t kTries = 16;
    std::vector<int64_t> positions;
    for (int64_t i = 1; i < static_cast<int64_t>(profile.size()); ++i)
      if (profile[i] > budget || peak <= budget)
        positions.push_back(i);
    llvm::stable_sort(positions, [&](int64_t a, int64_t b) { return profile[a] > profile[b]; });
    if (positions.size() > kTries)
      positions.resize(kTries);
    std::optional<Candidate> best;
    for (int64_t position : positions)
      if ((best = bestAt(liveness, position)))
        break;
    if (!best || round == rounds) {
      arena = liveness.arena();
      return false;
    }
    apply(liveness, *best);
  }
}

/// Bytes that live for the whole plan whatever the order: parameters (once per name) and
/// constants.
int64_t globalBytes(ArrayRef<func::FuncOp> entries) {
  llvm::StringSet<> seen;
  int64_t bytes = 0;
  for (func::FuncOp entry : entries) {
    for (BlockArgument arg : entry.getArguments())
      if (auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), attr::kParam))
        if (seen.insert(name.strref()).second)
          bytes += plan::byteSize(arg.getType());
    entry.walk([&](nn::ConstantOp c) { bytes += plan::byteSize(c.getType()); });
  }
  return bytes;
}

struct RecomputePass : impl::RecomputeBase<RecomputePass> {
  using RecomputeBase::RecomputeBase;
  void runOnOperation() override {
    int64_t budget = memoryBudget;
    if (budget <= 0)
      return;
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func->hasAttr(attr::kKernel))
        entries.push_back(func);
    int64_t global = globalBytes(entries);
    if (global > budget) {
      module.emitError() << "--memory-budget " << budget
                         << " bytes is less than the parameters, optimizer state and constants "
                            "alone ("
                         << global << " bytes)";
      return signalPassFailure();
    }
    Builder b(module.getContext());
    SmallVector<Attribute> report; // per function that recomputed something
    for (func::FuncOp entry : entries) {
      Recomputer recomputer(entry, budget - global);
      if (!recomputer.run()) {
        entry.emitError() << "cannot fit the arena into --memory-budget " << budget
                          << " bytes: after recomputing what it can, " << entry.getSymName()
                          << " needs " << global + recomputer.arena << " bytes (" << global
                          << " of them parameters, optimizer state and constants)";
        return signalPassFailure();
      }
      if (recomputer.nodes.empty())
        continue;
      SmallVector<Attribute> nodes;
      for (const std::string &node : recomputer.nodes)
        nodes.push_back(b.getStringAttr(node));
      report.push_back(b.getDictionaryAttr(
          {b.getNamedAttr("function", b.getStringAttr(entry.getSymName())),
           b.getNamedAttr("nodes", b.getArrayAttr(nodes)),
           b.getNamedAttr("flops", b.getI64IntegerAttr(recomputer.flops))}));
    }
    module->setAttr(attr::kRecomputed, b.getArrayAttr(report));
  }
};

} // namespace
} // namespace nnc
