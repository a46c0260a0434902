// Outlines every computation of an entry point that is not host-level work into a kernel
// function, leaving the entry point as the plan's command list in IR form.
//
// 1. Host ops stay: library calls (nn.linear/matmul/conv2d), views (collapse/expand_shape),
//    constants, calls, return.
// 2. Init-like ops (tensor.empty, arith.constant, linalg.fill of those) are cloned into every
//    kernel that needs them.
// 3. Every other op is a kernel root: it moves into `@k<i>_<node>` with the init-like ops it
//    uses; a destination-style root (or a loop, through its initial values) writes into a
//    trailing `%out` argument, and the host passes a tensor.empty there that the plan ignores
//    (the call's result gets the storage).
// 4. With row-groups (the CPU), consecutive roots over the same rows that read each other only at
//    their own row, directly or through reshapes that keep the rows, share one kernel (see
//    canJoin); those reshapes move into the kernel.
#include "compiler/Passes.h"
#include "dialects/AttrNames.h"

#include "compiler/conversion/LinalgBuilders.h"

#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace nnc {
#define GEN_PASS_DEF_OUTLINEKERNELS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

bool isHostOp(Operation *op) {
  return isa<nnc::nn::LinearOp, nnc::nn::MatmulOp, nnc::nn::Conv2dOp, nnc::nn::Conv2dGradInputOp,
             nnc::nn::Conv2dGradWeightOp, nnc::nn::ConstantOp, nnc::train::AllReduceOp,
             nnc::train::TensorParallelSumOp, nnc::train::TensorParallelRankOp,
             nnc::nn::CausalAttentionOp, nnc::nn::CausalAttentionGradOp,
             tensor::CollapseShapeOp, tensor::ExpandShapeOp, func::CallOp, func::ReturnOp,
             nnc::train::ReduceScatterOp, nnc::train::TakeShardOp, nnc::train::AllGatherOp>(op);
}

/// The operands `op` computes its results into, one per result: a destination-style op's inits,
/// or a loop's initial values (the CPU's embedding-gradient scatter); none for other ops.
MutableOperandRange destinationsOf(Operation *op) {
  if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
    return dps.getDpsInitsMutable();
  if (auto loop = dyn_cast<scf::ForOp>(op))
    return loop.getInitArgsMutable();
  return MutableOperandRange(op, 0, 0);
}

bool isInitLike(Operation *op) {
  if (isa<tensor::EmptyOp, arith::ConstantOp>(op))
    return true;
  if (auto fill = dyn_cast<linalg::FillOp>(op))
    return llvm::all_of(fill->getOperands(), [](Value v) {
      Operation *def = v.getDefiningOp();
      return def && isInitLike(def);
    });
  return false;
}

/// "fc1/qk" -> "fc1_qk": the node name as a C identifier, for readable kernel symbols.
std::string symbolPart(Location loc) {
  std::string name = "op";
  if (auto named = dyn_cast<NameLoc>(loc))
    name = named.getName().str();
  for (char &c : name)
    if (!llvm::isAlnum(c))
      c = '_';
  return name;
}

/// Adds to `ops` the init-like producers `value` depends on, operands first.
void collectInitLike(Value value, llvm::SetVector<Operation *> &ops) {
  Operation *def = value.getDefiningOp();
  if (!def || !isInitLike(def) || ops.contains(def))
    return;
  for (Value operand : def->getOperands())
    collectInitLike(operand, ops);
  ops.insert(def);
}

/// Row groups. Consecutive linalg ops whose first loop is parallel over the same rows, where a
/// later op reads an earlier one's result only at its own row (both index dimension 0 of that
/// tensor with loop 0 and nowhere else), form one kernel: codegen then runs their loop nests
/// row by row in one loop (a layer norm's sums, centring and scaling; softmax's max, sum and
/// normalization; a pooling's two passes, the second over a reshape of the first's rows), so
/// each row is read from memory once and the rest from cache. Results only the group reads stay
/// inside the kernel, in a buffer of one row that every row reuses: a row of them must fit in
/// cache.
constexpr int64_t kMaxInternalRowBytes = 512 * 1024;

/// The static extent of `op`'s first loop if it is parallel, else 0.
int64_t rowsOf(Operation *op) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  if (!linalgOp || isa<linalg::TransposeOp>(op) || !linalgOp.hasPureTensorSemantics() ||
      linalgOp.getNumLoops() == 0 ||
      linalgOp.getIteratorTypesArray()[0] != utils::IteratorType::parallel)
    return 0;
  int64_t rows = linalgOp.getStaticLoopRanges()[0];
  return ShapedType::isDynamic(rows) ? 0 : rows;
}

/// The tensor.empty under `init`'s chain of fills (in `fills`, outermost first), or null.
Operation *emptyUnderFills(Value init, SmallVectorImpl<linalg::FillOp> *fills = nullptr) {
  Operation *def = init.getDefiningOp();
  for (; def && isa<linalg::FillOp>(def);
       def = cast<linalg::FillOp>(def).getOutputs()[0].getDefiningOp())
    if (fills)
      fills->push_back(cast<linalg::FillOp>(def));
  return isa_and_nonnull<tensor::EmptyOp>(def) ? def : nullptr;
}

int64_t byteSize(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  return type.getNumElements() * type.getElementTypeBitWidth() / 8;
}

/// Whether `op` is a reshape that keeps dimension 0 as it is (its first reassociation group is
/// {0}): row r of its result is row r of its source.
bool keepsRows(Operation *op) {
  SmallVector<ReassociationIndices> groups;
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
    groups = collapse.getReassociationIndices();
  else if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
    groups = expand.getReassociationIndices();
  else
    return false;
  return !groups.empty() && groups.front() == ReassociationIndices{0};
}

/// The member result that `consumer`'s operand `value` is, directly or through a chain of
/// row-keeping reshapes each read only by the next (added to `views`, sources first); null if
/// none.
OpResult memberResult(Value value, Operation *consumer,
                      const llvm::SmallPtrSet<Operation *, 8> &members,
                      llvm::SetVector<Operation *> &views) {
  SmallVector<Operation *> chain;
  Operation *reader = consumer;
  while (Operation *def = value.getDefiningOp()) {
    if (!keepsRows(def) || llvm::any_of(def->getUsers(), [&](Operation *u) { return u != reader; }))
      break;
    chain.push_back(def);
    reader = def;
    value = def->getOperand(0);
  }
  auto result = dyn_cast<OpResult>(value);
  if (!result || !members.contains(result.getOwner()))
    return nullptr;
  views.insert(chain.rbegin(), chain.rend());
  return result;
}

/// Whether `op` can join the row group `group` (ops in block order, `op` after them all), with
/// the reshapes between them that keep rows (appended to `views`: they join too, before `op`).
bool canJoin(ArrayRef<Operation *> group, Operation *op, SmallVectorImpl<Operation *> &views) {
  int64_t rows = rowsOf(op);
  if (!rows || rowsOf(group.front()) != rows)
    return false;
  llvm::SmallPtrSet<Operation *, 8> members(group.begin(), group.end());
  auto consumer = cast<linalg::LinalgOp>(op);
  bool connected = false;
  llvm::SetVector<Operation *> joining;
  for (OpOperand &operand : op->getOpOperands()) {
    OpResult result = memberResult(operand.get(), op, members, joining);
    if (!result)
      continue;
    if (!consumer.isDpsInput(&operand)) // accumulating into a member's result
      return false;
    auto producer = dyn_cast<linalg::LinalgOp>(result.getOwner());
    if (!producer ||
        !nnc::lowering::indexesLeadingDims(consumer.getMatchingIndexingMap(&operand), 1) ||
        !nnc::lowering::indexesLeadingDims(producer.getIndexingMapMatchingResult(result), 1))
      return false;
    connected = true;
  }
  if (!connected)
    return false;
  members.insert(joining.begin(), joining.end());
  // The kernel runs where `op` is: the group's results must not be read before that, and what
  // stays inside must be small.
  for (Operation *member : group)
    for (OpResult result : member->getResults()) {
      bool outside = false, inside = false;
      for (Operation *user : result.getUsers()) {
        if (user == op || members.contains(user)) {
          inside = true;
          continue;
        }
        if (user->getBlock() != op->getBlock() || user->isBeforeInBlock(op))
          return false;
        outside = true;
      }
      if (inside && !outside && byteSize(result) / rows > kMaxInternalRowBytes)
        return false;
    }
  views.append(joining.begin(), joining.end());
  return true;
}

struct OutlineKernelsPass : nnc::impl::OutlineKernelsBase<OutlineKernelsPass> {
  using OutlineKernelsBase::OutlineKernelsBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    int counter = 0;
    SmallVector<func::FuncOp> entries;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func->hasAttr(nnc::attr::kKernel))
        entries.push_back(func);
    for (func::FuncOp entry : entries) {
      SmallVector<SmallVector<Operation *>> groups;
      for (Operation &op : entry.getBody().front())
        if (!isHostOp(&op) && !isInitLike(&op)) {
          SmallVector<Operation *> views;
          if (rowGroups && !groups.empty() && canJoin(groups.back(), &op, views)) {
            groups.back().append(views.begin(), views.end());
            groups.back().push_back(&op);
          } else {
            groups.push_back({&op});
          }
        }
      for (ArrayRef<Operation *> group : groups)
        outline(group, module, counter++);
    }
    // Init-like ops nobody uses any more.
    for (func::FuncOp entry : entries) {
      SmallVector<Operation *> ops;
      for (Operation &op : entry.getBody().front().without_terminator())
        ops.push_back(&op);
      for (Operation *op : llvm::reverse(ops))
        if (isInitLike(op) && op->use_empty())
          op->erase();
    }
  }

  /// Gives each init of the group's ops its own tensor.empty (and fill): CSE merges equal
  /// empties, but each init becomes an %out argument or a buffer of its own.
  void separateInits(ArrayRef<Operation *> group) {
    llvm::SmallPtrSet<Operation *, 4> seen;
    for (Operation *op : group) {
      for (OpOperand &init : destinationsOf(op)) {
        SmallVector<linalg::FillOp> fills;
        Operation *def = emptyUnderFills(init.get(), &fills);
        if (!def || seen.insert(def).second)
          continue;
        OpBuilder builder(op);
        Value value = builder.clone(*def)->getResult(0);
        for (linalg::FillOp fill : llvm::reverse(fills)) {
          IRMapping mapping;
          mapping.map(fill.getOutputs()[0], value);
          value = builder.clone(*fill, mapping)->getResult(0);
        }
        init.set(value);
      }
    }
  }

  /// What a group leaves for the rest of its function: results read outside it, each with what
  /// becomes its %out.
  struct GroupResults {
    SmallVector<OpResult> results;
    SmallVector<Operation *> outEmpties; // per result: the empty rebuilt on %out, or null
    SmallVector<Value> copiedInits;      // per result: the init copied into %out, or null
  };

  /// Outlines `group` (ops in block order) into one kernel called where its last op was. Its
  /// results are those read outside the group, each written into a trailing `%out` argument:
  /// an init chain ending in a tensor.empty is rebuilt on %out; any other init (a computed
  /// tensor the op accumulates into, after fusion) is an input copied into %out first.
  void outline(ArrayRef<Operation *> group, ModuleOp module, int index) {
    separateInits(group);
    llvm::SmallPtrSet<Operation *, 8> members(group.begin(), group.end());

    // The values the group reads (operands and values its regions capture) and the init-like
    // ops among their producers.
    llvm::SetVector<Operation *> inits;
    SmallVector<Value> used;
    for (Operation *op : group) {
      SetVector<Value> captured;
      getUsedValuesDefinedAbove(op->getRegions(), captured);
      used.append(op->getOperands().begin(), op->getOperands().end());
      used.append(captured.begin(), captured.end());
    }
    for (Value v : used)
      collectInitLike(v, inits);

    // An op that is not destination-style (tensor.pad, tensor.concat, a slice: always alone)
    // gets no %out; its result becomes an out-parameter in bufferization, in the same place.
    bool destinations = llvm::all_of(group, [](Operation *op) {
      return isa<DestinationStyleOpInterface, scf::ForOp>(op) || keepsRows(op);
    });
    GroupResults out = groupResults(group, members);
    SetVector<Value> inputs = kernelInputs(used, inits, members);
    func::FuncOp kernel = buildKernel(group, module, index, inits, inputs, out, destinations);
    replaceByCall(group, kernel, inputs, out.results, destinations);
  }

  /// The results of `group` read outside it, with what becomes each one's %out.
  GroupResults groupResults(ArrayRef<Operation *> group,
                            const llvm::SmallPtrSet<Operation *, 8> &members) {
    GroupResults out;
    for (Operation *op : group)
      for (OpResult result : op->getResults()) {
        // Unread results keep an %out too: a buffer of the plan's costs less than one allocated
        // on every call (and the CUDA backend cannot allocate in kernels).
        if (!result.use_empty() &&
            llvm::all_of(result.getUsers(), [&](Operation *u) { return members.contains(u); }))
          continue;
        out.results.push_back(result);
        Operation *empty = nullptr;
        Value copied;
        if (MutableOperandRange into = destinationsOf(op); !into.empty()) {
          Value init = into[result.getResultNumber()].get();
          empty = emptyUnderFills(init);
          if (!empty)
            copied = init;
        }
        out.outEmpties.push_back(empty);
        out.copiedInits.push_back(copied);
      }
    return out;
  }

  /// Kernel inputs: what the group and its inits use from outside them.
  SetVector<Value> kernelInputs(ArrayRef<Value> used, const llvm::SetVector<Operation *> &inits,
                                const llvm::SmallPtrSet<Operation *, 8> &members) {
    SetVector<Value> inputs;
    auto addInput = [&](Value v) {
      Operation *def = v.getDefiningOp();
      if (!def || (!inits.contains(def) && !members.contains(def)))
        inputs.insert(v);
    };
    for (Value v : used)
      addInput(v);
    for (Operation *init : inits)
      for (Value v : init->getOperands())
        addInput(v);
    return inputs;
  }

  /// The kernel function: `inputs`, then an %out per result (destination-style groups), its
  /// body the group with its inits cloned onto them.
  func::FuncOp buildKernel(ArrayRef<Operation *> group, ModuleOp module, int index,
                           const llvm::SetVector<Operation *> &inits,
                           const SetVector<Value> &inputs, const GroupResults &out,
                           bool destinations) {
    Operation *last = group.back();
    OpBuilder builder(module.getContext());
    builder.setInsertionPointToEnd(module.getBody());
    SmallVector<Type> argTypes = llvm::to_vector(ValueRange(inputs.getArrayRef()).getTypes());
    SmallVector<Type> resultTypes;
    for (OpResult result : out.results) {
      if (destinations)
        argTypes.push_back(result.getType());
      resultTypes.push_back(result.getType());
    }
    std::string name = "k" + std::to_string(index) + "_" + symbolPart(group.front()->getLoc());
    auto kernel = func::FuncOp::create(builder, group.front()->getLoc(), name,
                                       builder.getFunctionType(argTypes, resultTypes));
    kernel->setAttr(nnc::attr::kKernel, builder.getUnitAttr());
    // Private: bufferization may then drop results that alias %out (the plan's ABI is the
    // packed entry point codegen adds, not this signature).
    kernel.setPrivate();
    Block *body = kernel.addEntryBlock();
    for (unsigned i = 0; i < argTypes.size(); ++i)
      kernel.setArgAttr(i, bufferization::BufferizationDialect::kWritableAttrName,
                        builder.getBoolAttr(i >= inputs.size()));

    IRMapping mapping;
    for (auto [value, arg] : llvm::zip(inputs, body->getArguments()))
      mapping.map(value, arg);
    ValueRange outs = body->getArguments().drop_front(inputs.size());
    for (auto [empty, arg] : llvm::zip(out.outEmpties, outs))
      if (empty)
        mapping.map(empty->getResult(0), arg);
    builder.setInsertionPointToStart(body);
    for (auto [init, arg] : llvm::zip(out.copiedInits, outs))
      if (init)
        mapping.map(init, linalg::CopyOp::create(builder, last->getLoc(), mapping.lookup(init), arg)
                              .getResult(0));
    for (Operation *init : inits)
      if (!llvm::is_contained(out.outEmpties, init))
        builder.clone(*init, mapping);
    for (Operation *op : group)
      builder.clone(*op, mapping);
    SmallVector<Value> returned;
    for (OpResult result : out.results)
      returned.push_back(mapping.lookup(result));
    func::ReturnOp::create(builder, last->getLoc(), returned);
    return kernel;
  }

  /// Calls `kernel` where the group's last op was, with a fresh tensor.empty for each %out, and
  /// erases the group.
  void replaceByCall(ArrayRef<Operation *> group, func::FuncOp kernel,
                     const SetVector<Value> &inputs, ArrayRef<OpResult> results,
                     bool destinations) {
    Operation *last = group.back();
    OpBuilder builder(last);
    SmallVector<Value> operands(inputs.begin(), inputs.end());
    for (OpResult result : destinations ? results : ArrayRef<OpResult>()) {
      auto type = cast<RankedTensorType>(result.getType());
      operands.push_back(
          tensor::EmptyOp::create(builder, last->getLoc(), type.getShape(), type.getElementType()));
    }
    // The call computes every member's node: errors and profiles name them all.
    SmallVector<Location> locations;
    for (Operation *op : group)
      locations.push_back(op->getLoc());
    auto call = func::CallOp::create(builder, builder.getFusedLoc(locations), kernel, operands);
    for (auto [result, replacement] : llvm::zip(results, call.getResults()))
      Value(result).replaceAllUsesWith(replacement);
    for (Operation *op : llvm::reverse(group))
      op->erase();
  }
};

} // namespace
