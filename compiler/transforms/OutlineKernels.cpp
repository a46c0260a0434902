// Outlines every computation of an entry point that is not host-level work into a kernel
// function, leaving the entry point as the plan's command list in IR form.
//
// 1. Host ops stay: library calls (nn.linear/matmul/conv2d), views (collapse/expand_shape),
//    constants, calls, return.
// 2. Init-like ops (tensor.empty, arith.constant, linalg.fill of those) are cloned into every
//    kernel that needs them.
// 3. Every other op is a kernel root: it moves into `@k<i>_<node>` with the init-like ops it
//    uses; a destination-style root writes into a trailing `%out` argument, and the host passes
//    a tensor.empty there that the plan ignores (the call's result gets the storage).
#include "compiler/Passes.h"

#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
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
             tensor::CollapseShapeOp, tensor::ExpandShapeOp, func::CallOp, func::ReturnOp>(op);
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

struct OutlineKernelsPass : nnc::impl::OutlineKernelsBase<OutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    int counter = 0;
    SmallVector<func::FuncOp> entries;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func->hasAttr("nnc.kernel"))
        entries.push_back(func);
    for (func::FuncOp entry : entries)
      for (Operation &op : llvm::make_early_inc_range(entry.getBody().front()))
        if (!isHostOp(&op) && !isInitLike(&op))
          outline(&op, module, counter++);
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

  /// Gives each init of `root` its own tensor.empty (and fill): CSE merges equal empties, but
  /// each init must become an %out argument of its own.
  void separateInits(DestinationStyleOpInterface root) {
    llvm::SmallPtrSet<Operation *, 4> seen;
    for (OpOperand &init : root.getDpsInitsMutable()) {
      SmallVector<linalg::FillOp> fills;
      Operation *def = init.get().getDefiningOp();
      for (; def && isa<linalg::FillOp>(def); def = fills.back().getOutputs()[0].getDefiningOp())
        fills.push_back(cast<linalg::FillOp>(def));
      if (!def || !isa<tensor::EmptyOp>(def) || seen.insert(def).second)
        continue;
      OpBuilder builder(root);
      Value value = builder.clone(*def)->getResult(0);
      for (linalg::FillOp fill : llvm::reverse(fills)) {
        IRMapping mapping;
        mapping.map(fill.getOutputs()[0], value);
        value = builder.clone(*fill, mapping)->getResult(0);
      }
      init.set(value);
    }
  }

  void outline(Operation *root, ModuleOp module, int index) {
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(root))
      separateInits(dps);
    // The init-like ops the root reads (operands and values its regions capture).
    llvm::SetVector<Operation *> inits;
    SetVector<Value> captured;
    getUsedValuesDefinedAbove(root->getRegions(), captured);
    SmallVector<Value> used(root->getOperands());
    used.append(captured.begin(), captured.end());
    for (Value v : used)
      collectInitLike(v, inits);

    // Each destination-style init becomes an %out argument: an init chain ending in a
    // tensor.empty is rebuilt on %out; any other init (a computed tensor the op accumulates
    // into, after fusion) is an input copied into %out first.
    auto dps = dyn_cast<DestinationStyleOpInterface>(root);
    SmallVector<Operation *> outEmpties;
    SmallVector<Value> copiedInits;
    if (dps)
      for (OpOperand &init : dps.getDpsInitsMutable()) {
        Operation *def = init.get().getDefiningOp();
        while (def && isa<linalg::FillOp>(def))
          def = cast<linalg::FillOp>(def).getOutputs()[0].getDefiningOp();
        if (def && isa<tensor::EmptyOp>(def))
          outEmpties.push_back(def);
        else
          copiedInits.push_back(init.get());
      }

    // Kernel inputs: what the root and its inits use from outside them.
    SetVector<Value> inputs;
    auto addInput = [&](Value v) {
      Operation *def = v.getDefiningOp();
      if (!def || !inits.contains(def))
        inputs.insert(v);
    };
    for (Value v : used)
      addInput(v);
    for (Operation *init : inits)
      for (Value v : init->getOperands())
        addInput(v);

    OpBuilder builder(module.getContext());
    builder.setInsertionPointToEnd(module.getBody());
    SmallVector<Type> argTypes = llvm::to_vector(ValueRange(inputs.getArrayRef()).getTypes());
    for (Operation *empty : outEmpties)
      argTypes.push_back(empty->getResult(0).getType());
    for (Value init : copiedInits)
      argTypes.push_back(init.getType());
    std::string name = "k" + std::to_string(index) + "_" + symbolPart(root->getLoc());
    auto kernel = func::FuncOp::create(builder, root->getLoc(), name,
                                       builder.getFunctionType(argTypes, root->getResultTypes()));
    kernel->setAttr("nnc.kernel", builder.getUnitAttr());
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
    for (auto [empty, arg] :
         llvm::zip(outEmpties, body->getArguments().drop_front(inputs.size())))
      mapping.map(empty->getResult(0), arg);
    builder.setInsertionPointToStart(body);
    for (auto [init, arg] : llvm::zip(
             copiedInits, body->getArguments().drop_front(inputs.size() + outEmpties.size()))) {
      auto copy = linalg::CopyOp::create(builder, root->getLoc(), mapping.lookup(init), arg);
      mapping.map(init, copy.getResult(0));
    }
    for (Operation *init : inits)
      if (!llvm::is_contained(outEmpties, init))
        builder.clone(*init, mapping);
    Operation *clone = builder.clone(*root, mapping);
    func::ReturnOp::create(builder, root->getLoc(), clone->getResults());

    // The host calls the kernel with a fresh tensor.empty for each %out.
    builder.setInsertionPoint(root);
    SmallVector<Value> operands(inputs.begin(), inputs.end());
    for (Operation *empty : outEmpties)
      operands.push_back(builder.clone(*empty)->getResult(0));
    for (Value init : copiedInits) {
      auto type = cast<RankedTensorType>(init.getType());
      operands.push_back(
          tensor::EmptyOp::create(builder, root->getLoc(), type.getShape(), type.getElementType()));
    }
    auto call = func::CallOp::create(builder, root->getLoc(), kernel, operands);
    root->replaceAllUsesWith(call.getResults());
    root->erase();
  }
};

} // namespace
