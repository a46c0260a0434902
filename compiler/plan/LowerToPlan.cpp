// nnc-lower-to-plan: the entry functions of a module lowered through kernel outlining become a
// `plan.plan` (dialects/plan): buffers with live ranges, and one command op per host op.
//
// 1. Updated parameters whose old value is dead are computed in their own slice (in place).
// 2. Every tensor of the entry points gets a buffer (views share their source's), with a live
//    range over the op sequence; parameters (shared by name) and constants live throughout.
// 3. The "init" function fills the parameters and writes the constants.
// 4. Each entry's host ops become commands: library calls (plan.gemm, plan.conv2d), kernel
//    calls, all-reduce start/wait, and copies of updated parameters.
#include "compiler/Passes.h"
#include "compiler/codegen/CpuCodegen.h"
#include "dialects/AttrNames.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/plan/PlanDialect.h"
#include "dialects/train/TrainDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

#include <map>

namespace nnc {
#define GEN_PASS_DEF_LOWERTOPLAN
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace nnc {
namespace {

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

using plan::nodeName;

ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

/// The tensor whose storage `v` views (itself unless a collapse/expand_shape made it).
Value root(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (!isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def))
      break;
    v = def->getOperand(0);
  }
  return v;
}

/// Whether `kernel` may compute its result `result` over its argument `input`: its body is one
/// all-parallel linalg.generic whose outputs are its last arguments, which reads `input` (of the
/// result's type) only at the element it writes, so every element is read before it is
/// overwritten and by no other iteration.
bool writesElementwise(func::FuncOp kernel, unsigned input, unsigned result) {
  Block &body = kernel.getBody().front();
  linalg::GenericOp generic;
  for (Operation &op : body) {
    if (auto g = dyn_cast<linalg::GenericOp>(op)) {
      if (generic)
        return false;
      generic = g;
    } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      if (!generic || ret.getOperands() != generic->getResults())
        return false;
    } else if (!isa<arith::ConstantOp>(op)) {
      return false;
    }
  }
  if (!generic || generic.getNumParallelLoops() != generic.getNumLoops())
    return false;
  unsigned outs = generic.getNumDpsInits(), firstOut = body.getNumArguments() - outs;
  for (unsigned i = 0; i < outs; ++i)
    if (generic.getDpsInitOperand(i)->get() != body.getArgument(firstOut + i))
      return false;
  OpOperand *out = generic.getDpsInitOperand(result);
  BlockArgument in = body.getArgument(input);
  if (input >= firstOut || in.getType() != out->get().getType() ||
      !generic.getMatchingIndexingMap(out).isIdentity())
    return false;
  return llvm::all_of(in.getUses(), [&](OpOperand &use) {
    return use.getOwner() == generic.getOperation() && generic.isDpsInput(&use) &&
           generic.getMatchingIndexingMap(&use).isIdentity();
  });
}

/// Whether no op after `op` reads `value`, directly or through a view, and `op` reads it only
/// directly (its kernel is checked elementwise on that operand). A collective counts as a later
/// reader: it reads its operands while the commands after it run.
bool deadAfter(Value value, Operation *op) {
  SmallVector<Value> worklist = {value};
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    for (Operation *user : v.getUsers()) {
      if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user))
        worklist.push_back(user->getResult(0));
      else if (user == op ? v != value
                          : isa<train::AllReduceOp>(user) || !user->isBeforeInBlock(op))
        return false;
    }
  }
  return true;
}

/// An op of the plan dialect with its attributes still to set (the setters name them).
template <typename OpTy>
OpTy makeOp(OpBuilder &b, Location loc) {
  OperationState state(loc, OpTy::getOperationName());
  OpTy::build(b, state, TypeRange(), ValueRange(), ArrayRef<NamedAttribute>());
  return cast<OpTy>(b.create(state));
}

/// A plan.func named `name` at the builder, with the builder moved into its body.
plan::FuncOp makeFunc(OpBuilder &b, Location loc, StringRef name) {
  auto func = makeOp<plan::FuncOp>(b, loc);
  func.setSymName(name);
  b.setInsertionPointToStart(&func.getBody().emplaceBlock());
  return func;
}

class Lowering {
public:
  Lowering(ModuleOp module, ArrayRef<func::FuncOp> entries, const llvm::StringSet<> &modelParams)
      : module(module), entries(entries), modelParams(modelParams),
        context(module.getContext()) {}
  LogicalResult run();

private:
  struct Buffer {
    std::string name;
    StringAttr param; // the parameter it holds, if any
    int64_t size, start, end;
  };
  plan::SliceAttr slice(Value v) { return sliceOf(bufferOf.lookup(root(v)), v.getType()); }
  plan::SliceAttr sliceOf(int buffer, Type type) {
    return plan::SliceAttr::get(context, FlatSymbolRefAttr::get(context, buffers[buffer].name),
                                type);
  }
  void planInPlaceUpdates();
  void createBuffers();
  LogicalResult lowerInit(OpBuilder &b);
  LogicalResult lowerFunction(func::FuncOp entry, OpBuilder &b);
  LogicalResult lowerCommand(Operation *op, OpBuilder &b);
  void lowerShardCommand(Operation *op, OpBuilder &b);
  LogicalResult lowerMatmul(nn::MatmulOp matmul, plan::GemmOp gemm);
  void lowerCausalAttention(Operation *op, OpBuilder &b);
  void setStridedGemm(plan::GemmOp gemm, nn::MatmulOp matmul);
  template <typename ConvOpTy>
  void setConv2d(plan::Conv2dOp c, StringRef pass, Value input, Value weight, Value output,
                 ConvOpTy op);

  ModuleOp module;
  ArrayRef<func::FuncOp> entries;
  const llvm::StringSet<> &modelParams;
  MLIRContext *context;
  llvm::DenseMap<Value, int> bufferOf;      // root tensor -> buffer index
  llvm::StringMap<int> paramBuffer;         // parameter name -> buffer index, shared by functions
  llvm::DenseMap<Value, StringRef> inPlace; // updated value -> the parameter whose slice it takes
  llvm::DenseMap<int, int> convReads;       // buffer -> conv commands of this function reading it
  std::vector<Buffer> buffers;
};

// An updated parameter (a result marked nn.updates) computed by a kernel call after which nothing
// reads the old value can be written straight into the parameter's slice: no copy after the
// step, and a fused optimizer update streams each value once. A kernel that also reads the old
// value must write it elementwise; it gets `kInPlaceAttr` (per result, the argument it
// overwrites), which codegen uses to make the two one pointer, and a copy of its own if other
// calls of it overwrite differently.
void Lowering::planInPlaceUpdates() {
  llvm::MapVector<func::CallOp, std::vector<int64_t>> overwriting; // per result, an operand or -1
  for (func::FuncOp entry : entries) {
    llvm::StringMap<BlockArgument> params;
    for (BlockArgument arg : entry.getArguments())
      if (auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kParam))
        params[name.strref()] = arg;
    llvm::StringSet<> taken;
    auto ret = cast<func::ReturnOp>(entry.getBody().front().getTerminator());
    for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
      auto target = entry.getResultAttrOfType<StringAttr>(i, nnc::attr::kUpdates);
      auto call = value.getDefiningOp<func::CallOp>();
      if (!target || !params.count(target.strref()) || !call || inPlace.count(value) ||
          taken.contains(target.strref()))
        continue;
      BlockArgument old = params.lookup(target.strref());
      auto kernel = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(call, call.getCalleeAttr());
      if (!kernel || !kernel->hasAttr(nnc::attr::kKernel) || !deadAfter(old, call))
        continue;
      auto reads = llvm::make_filter_range(call->getOpOperands(),
                                           [&](OpOperand &o) { return o.get() == old; });
      if (llvm::range_size(reads) > 1)
        continue;
      if (!reads.empty()) {
        unsigned input = (*reads.begin()).getOperandNumber();
        unsigned result = cast<OpResult>(value).getResultNumber();
        if (!writesElementwise(kernel, input, result))
          continue;
        auto [site, inserted] = overwriting.try_emplace(call);
        if (inserted)
          site->second.assign(call->getNumResults(), -1);
        site->second[result] = input;
      }
      inPlace[value] = target.strref();
      taken.insert(target.strref());
    }
  }
  // A kernel keeps its symbol if every call of it overwrites the same arguments.
  llvm::DenseMap<Operation *, int> calls;
  for (func::FuncOp entry : entries)
    entry.walk([&](func::CallOp call) {
      ++calls[SymbolTable::lookupNearestSymbolFrom(call, call.getCalleeAttr())];
    });
  std::map<std::pair<Operation *, std::vector<int64_t>>, func::FuncOp> variants;
  for (auto &[call, overwritten] : overwriting) {
    auto kernel = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(call, call.getCalleeAttr());
    func::FuncOp &variant = variants[{kernel, overwritten}];
    if (!variant) {
      int64_t same = llvm::count_if(overwriting, [&](auto &other) {
        return other.second == overwritten && other.first.getCallee() == call.getCallee();
      });
      variant = kernel;
      if (same != calls.lookup(kernel) || kernel->hasAttr(kInPlaceAttr)) {
        variant = kernel.clone();
        variant.setSymName((kernel.getSymName() + "_in_place").str());
        SymbolTable(kernel->getParentOfType<ModuleOp>()).insert(variant, kernel->getIterator());
      }
      variant->setAttr(kInPlaceAttr, DenseI64ArrayAttr::get(kernel.getContext(), overwritten));
    }
    call.setCallee(variant.getSymName());
  }
}

// Each function's ops get indices of their own range, so that temporaries of different
// functions may share bytes; parameters (by name) and constants live throughout; a function's
// inputs and outputs live from its start to its end.
void Lowering::createBuffers() {
  auto request = [&](Value v, int64_t start, int64_t end) {
    bufferOf[v] = buffers.size();
    buffers.push_back({"t" + std::to_string(buffers.size()), StringAttr(),
                       plan::byteSize(v.getType()), start, end});
  };
  int64_t base = 0;
  for (func::FuncOp entry : entries) {
    Block &body = entry.getBody().front();
    int64_t end = base + static_cast<int64_t>(body.getOperations().size()) + 1;
    for (BlockArgument arg : body.getArguments()) {
      auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kParam);
      if (!name) {
        request(arg, base, end);
        continue;
      }
      auto [it, inserted] = paramBuffer.try_emplace(name.strref(), buffers.size());
      if (inserted)
        buffers.push_back(
            {"p." + name.str(), name, plan::byteSize(arg.getType()), 0, kForever});
      bufferOf[arg] = it->second;
    }
    int64_t index = base;
    for (Operation &op : body) {
      ++index;
      if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::EmptyOp, func::ReturnOp>(op))
        continue; // views share storage; host empties are only out-argument placeholders
      // Constants are written once by init and read by any function in any order: they live
      // for the whole plan, like parameters, not from their function's turn on.
      for (Value result : op.getResults())
        if (auto param = inPlace.find(result); param != inPlace.end())
          bufferOf[result] = paramBuffer.lookup(param->second);
        else if (isa<nn::ConstantOp>(op))
          request(result, 0, kForever);
        else
          request(result, index, index);
    }
    // Extend each live range to its last use; returned values live to the function's end,
    // when the caller reads them and the update copies run.
    index = base;
    for (Operation &op : body) {
      ++index;
      for (Value operand : op.getOperands()) {
        auto it = bufferOf.find(root(operand));
        if (it == bufferOf.end())
          continue;
        Buffer &buffer = buffers[it->second];
        buffer.end = std::max(buffer.end, isa<func::ReturnOp>(op) ? end : index);
      }
    }
    base = end + 1;
  }
}

// The parameter table, in order: the model's parameters, then optimizer state, each once; then
// the constants.
LogicalResult Lowering::lowerInit(OpBuilder &b) {
  OpBuilder::InsertionGuard guard(b);
  makeFunc(b, module.getLoc(), "init");
  llvm::StringSet<> seen;
  int64_t stream = 0;
  auto zeroLogical = module->getAttrOfType<DictionaryAttr>(nnc::attr::kZeroLogicalTypes);
  for (func::FuncOp entry : entries)
    for (BlockArgument arg : entry.getArguments()) {
      auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kParam);
      if (!name || !seen.insert(name.strref()).second)
        continue;
      if (!cast<RankedTensorType>(arg.getType()).getElementType().isF32())
        return entry.emitError("the CPU backend supports f32 parameters only; '")
               << name.strref() << "' is " << arg.getType();
      auto init = makeOp<plan::InitParameterOp>(b, NameLoc::get(name));
      init.setName(name);
      init.setSliceAttr(slice(arg));
      init.setStream(stream++);
      if (auto shard = entry.getArgAttrOfType<DenseI64ArrayAttr>(arg.getArgNumber(),
                                                                 nnc::attr::kShard))
        init.setShardAttr(shard);
      if (modelParams.contains(name.strref())) {
        init.setFromModel(true);
        continue;
      }
      // Optimizer (or loss-scale) state: zeros or a constant, as its nn.init says.
      auto spec = entry.getArgAttrOfType<DictionaryAttr>(arg.getArgNumber(), nnc::attr::kInit);
      auto kind = spec ? spec.getAs<StringAttr>("kind") : StringAttr();
      auto value = spec ? spec.getAs<FloatAttr>("value") : FloatAttr();
      if (kind && kind.getValue() == "constant" && value)
        init.setConstantAttr(b.getF64FloatAttr(value.getValueAsDouble()));
      if (auto logical = zeroLogical ? zeroLogical.getAs<TypeAttr>(name) : TypeAttr())
        init.setZeroLogicalAttr(logical); // ZeRO-1: this rank's shard of it
    }
  for (func::FuncOp entry : entries)
    entry.walk([&](nn::ConstantOp constant) {
      auto write = makeOp<plan::WriteBytesOp>(b, constant.getLoc());
      write.setNode(nodeName(constant.getLoc()));
      write.setSliceAttr(slice(constant.getResult()));
      write.setValueAttr(cast<DenseElementsAttr>(constant.getValue()));
    });
  return success();
}

/// A conv2d command of any pass: the slices at the forward convolution's input, weight and
/// output positions (a backward pass's gradient sits where its tensor would), and `op`'s
/// stride, padding, dilation and groups.
template <typename ConvOpTy>
void Lowering::setConv2d(plan::Conv2dOp c, StringRef pass, Value input, Value weight,
                         Value output, ConvOpTy op) {
  c.setPass(pass);
  c.setInputAttr(slice(input));
  c.setWeightAttr(slice(weight));
  c.setOutputAttr(slice(output));
  // A tensor that several conv commands read (x: forward and weight gradient; dL/doutput: data
  // and weight gradients) is the same bytes for all of them (one SSA value, live until the last
  // read), so the runtime may reorder it into the library's layout once: its key says so.
  auto shareKey = [&](Value read) -> std::optional<int64_t> {
    int buffer = bufferOf.lookup(root(read));
    if (buffers[buffer].param || convReads.lookup(buffer) < 2)
      return std::nullopt;
    return buffer + 1;
  };
  if (pass != "backward_data")
    if (auto key = shareKey(input))
      c.setInputKey(*key);
  if (pass != "forward")
    if (auto key = shareKey(output))
      c.setOutputKey(*key);
  c.setStride(op.getStride().value_or(nn::defaults::kUnitPair));
  c.setPadding(op.getPadding().value_or(nn::defaults::kZeroPair));
  c.setDilation(op.getDilation().value_or(nn::defaults::kUnitPair));
  c.setGroups(op.getGroups().value_or(nn::defaults::kGroups));
}

/// A matmul with folded transposes: each operand's (batch..., rows, cols) strides in its
/// stored tensor, the batch dimensions the result's (a rank-2 rhs is broadcast, stride 0).
void Lowering::setStridedGemm(plan::GemmOp gemm, nn::MatmulOp matmul) {
  // The strides of `value`'s dimensions as the product sees them: its row-major strides,
  // permuted, and left-padded with broadcast zeros to `rank`.
  auto viewStrides = [](Value value, std::optional<ArrayRef<int64_t>> perm, int64_t rank) {
    ArrayRef<int64_t> stored = shapeOf(value);
    SmallVector<int64_t> rowMajor = computeStrides(stored);
    SmallVector<int64_t> strides(rank - stored.size(), 0);
    for (size_t i = 0; i < stored.size(); ++i)
      strides.push_back(perm ? rowMajor[(*perm)[i]] : rowMajor[i]);
    return strides;
  };
  ArrayRef<int64_t> result = shapeOf(matmul.getResult());
  int64_t rank = result.size();
  // The stored result is the product transposed by q: product dim q[j] has stored stride j.
  SmallVector<int64_t> resultStrides = viewStrides(matmul.getResult(), std::nullopt, rank);
  SmallVector<int64_t> cStrides(rank), product(rank);
  for (int64_t j = 0; j < rank; ++j) {
    int64_t dim = matmul.getResultPermutation() ? (*matmul.getResultPermutation())[j] : j;
    cStrides[dim] = resultStrides[j];
    product[dim] = result[j];
  }
  int64_t batch = 1;
  for (int64_t d : ArrayRef(product).drop_back(2))
    batch *= d;
  gemm.setBatchDims(ArrayRef(product).drop_back(2));
  gemm.setBatch(batch);
  gemm.setM(product[rank - 2]);
  gemm.setN(product[rank - 1]);
  gemm.setK(matmul.getContractedSize());
  gemm.setAStrides(viewStrides(matmul.getLhs(), matmul.getLhsPermutation(), rank));
  gemm.setBStrides(viewStrides(matmul.getRhs(), matmul.getRhsPermutation(), rank));
  gemm.setCStrides(cStrides);
}

LogicalResult Lowering::lowerMatmul(nn::MatmulOp matmul, plan::GemmOp gemm) {
  gemm.setAAttr(slice(matmul.getLhs()));
  gemm.setBAttr(slice(matmul.getRhs()));
  gemm.setCAttr(slice(matmul.getResult()));
  if (matmul.hasFoldedLayouts()) {
    setStridedGemm(gemm, matmul);
    return success();
  }
  ArrayRef<int64_t> a = shapeOf(matmul.getLhs()), b = shapeOf(matmul.getRhs());
  int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  auto batchOf = [](ArrayRef<int64_t> s) {
    int64_t p = 1;
    for (int64_t d : s.drop_back(2))
      p *= d;
    return p;
  };
  int64_t batchA = batchOf(a), batchB = batchOf(b);
  gemm.setN(n);
  gemm.setK(k);
  if (batchB == 1) { // one rhs for every lhs matrix: fold the batch into m
    gemm.setBatch(1);
    gemm.setM(batchA * m);
  } else if (a.drop_back(2) == b.drop_back(2)) {
    gemm.setBatch(batchA);
    gemm.setM(m);
  } else {
    return matmul->emitError("the CPU backend does not support this batch broadcast yet: ")
           << matmul.getLhs().getType() << " and " << matmul.getRhs().getType();
  }
  return success();
}

/// Fused attention: its operands then its results, in the op's order (forward: q, k, v, result,
/// lse; backward: q, k, v, result, lse, grad, dq, dk, dv).
void Lowering::lowerCausalAttention(Operation *op, OpBuilder &b) {
  SmallVector<Attribute> args;
  for (Value v : llvm::concat<Value>(op->getOperands(), op->getResults()))
    args.push_back(slice(v));
  bool forward = isa<nn::CausalAttentionOp>(op);
  auto attention = makeOp<plan::CausalAttentionOp>(b, op->getLoc());
  attention.setNode(nodeName(op->getLoc()));
  attention.setPass(forward ? "forward" : "backward");
  attention.setArgsAttr(b.getArrayAttr(args));
  auto grad = dyn_cast<nn::CausalAttentionGradOp>(op);
  attention.setScaleAttr(forward ? cast<nn::CausalAttentionOp>(op).getScaleAttr()
                                 : grad.getScaleAttr());
  attention.setDtype(getElementTypeOrSelf(op->getOperand(0).getType()));
}

/// ZeRO-1 (issue 20): a shard op of the train dialect becomes the plan command of its name.
void Lowering::lowerShardCommand(Operation *op, OpBuilder &b) {
  auto set = [&](auto command) {
    command.setNode(nodeName(op->getLoc()));
    command.setSrcAttr(slice(op->getOperand(0)));
    command.setDstAttr(slice(op->getResult(0)));
  };
  if (isa<train::ReduceScatterOp>(op))
    set(makeOp<plan::ReduceScatterOp>(b, op->getLoc()));
  else if (isa<train::AllGatherOp>(op))
    set(makeOp<plan::AllGatherOp>(b, op->getLoc()));
  else
    set(makeOp<plan::TakeShardOp>(b, op->getLoc()));
}

LogicalResult Lowering::lowerCommand(Operation *op, OpBuilder &b) {
  Location loc = op->getLoc();
  std::string node = nodeName(loc);
  bool relu = nn::fusedActivation(op).has_value();
  // Library calls compute in their one result's element type.
  Type dtype = op->getNumResults() == 1 ? getElementTypeOrSelf(op->getResult(0).getType())
                                        : b.getF32Type();
  if (auto linear = dyn_cast<nn::LinearOp>(op)) {
    ArrayRef<int64_t> w = shapeOf(linear.getWeight()); // (out, in)
    auto gemm = makeOp<plan::GemmOp>(b, loc);
    gemm.setNode(node);
    gemm.setAAttr(slice(linear.getInput()));
    gemm.setBAttr(slice(linear.getWeight()));
    gemm.setCAttr(slice(linear.getResult()));
    if (linear.getBias())
      gemm.setBiasAttr(slice(linear.getBias()));
    gemm.setBatch(1);
    gemm.setM(cast<RankedTensorType>(linear.getInput().getType()).getNumElements() / w[1]);
    gemm.setN(w[0]);
    gemm.setK(w[1]);
    gemm.setTransposeB(true);
    gemm.setRelu(relu);
    gemm.setDtype(dtype);
  } else if (auto matmul = dyn_cast<nn::MatmulOp>(op)) {
    auto gemm = makeOp<plan::GemmOp>(b, loc);
    gemm.setNode(node);
    gemm.setDtype(dtype);
    if (failed(lowerMatmul(matmul, gemm)))
      return failure();
  } else if (auto conv = dyn_cast<nn::Conv2dOp>(op)) {
    auto c = makeOp<plan::Conv2dOp>(b, loc);
    setConv2d(c, "forward", conv.getInput(), conv.getWeight(), conv.getResult(), conv);
    if (conv.getBias())
      c.setBiasAttr(slice(conv.getBias()));
    c.setRelu(relu);
    c.setNode(node);
    c.setDtype(dtype);
  } else if (auto grad = dyn_cast<nn::Conv2dGradInputOp>(op)) {
    auto c = makeOp<plan::Conv2dOp>(b, loc);
    setConv2d(c, "backward_data", grad.getResult(), grad.getWeight(), grad.getGrad(), grad);
    c.setNode(node);
    c.setDtype(dtype);
  } else if (auto grad = dyn_cast<nn::Conv2dGradWeightOp>(op)) {
    auto c = makeOp<plan::Conv2dOp>(b, loc);
    setConv2d(c, "backward_weights", grad.getInput(), grad.getResult(), grad.getGrad(), grad);
    if (grad.getBiasGrad())
      c.setBiasAttr(slice(grad.getBiasGrad()));
    c.setNode(node);
    c.setDtype(getElementTypeOrSelf(grad.getResult().getType()));
  } else if (auto sum = dyn_cast<train::TensorParallelSumOp>(op)) {
    if (!getElementTypeOrSelf(sum.getType()).isF32())
      return sum.emitError("the tensor-parallel sum supports f32 only, not ") << sum.getType();
    auto reduce = makeOp<plan::TensorAllReduceOp>(b, loc);
    reduce.setNode(node);
    reduce.setGroup(sum.getGroup());
    reduce.setSourceAttr(slice(sum.getInput()));
    reduce.setResultAttr(slice(sum.getResult()));
  } else if (auto rank = dyn_cast<train::TensorParallelRankOp>(op)) {
    auto command = makeOp<plan::TensorRankOp>(b, loc);
    command.setNode(node);
    command.setGroup(rank.getGroup());
    command.setResultAttr(slice(rank.getResult()));
  } else if (isa<nn::CausalAttentionOp, nn::CausalAttentionGradOp>(op)) {
    lowerCausalAttention(op, b);
  } else if (auto call = dyn_cast<func::CallOp>(op)) {
    SmallVector<Attribute> args;
    for (Value operand : call.getOperands())
      if (!operand.getDefiningOp<tensor::EmptyOp>())
        args.push_back(slice(operand));
    for (Value result : call.getResults())
      args.push_back(slice(result));
    auto kernel = makeOp<plan::KernelCallOp>(b, loc);
    kernel.setNode(node);
    kernel.setCallee(call.getCallee());
    kernel.setArgsAttr(b.getArrayAttr(args));
  } else if (isa<train::ReduceScatterOp, train::AllGatherOp, train::TakeShardOp>(op)) {
    lowerShardCommand(op, b);
  } else if (!isa<nn::ConstantOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp,
                  tensor::EmptyOp, func::ReturnOp>(op)) { // written by init, views, placeholders
    return op->emitError("cannot be executed by the CPU backend: ") << op->getName();
  }
  return success();
}

LogicalResult Lowering::lowerFunction(func::FuncOp entry, OpBuilder &b) {
  OpBuilder::InsertionGuard guard(b);
  plan::FuncOp func = makeFunc(b, entry.getLoc(), entry.getSymName());
  if (auto flops = entry->getAttrOfType<IntegerAttr>(nnc::attr::kFlops))
    func.setFlops(flops.getInt());
  if (auto names = entry->getAttrOfType<ArrayAttr>(nnc::attr::kCheckedGradients))
    func.setCheckedGradientsAttr(names);
  if (auto checks = entry->getAttrOfType<ArrayAttr>(nnc::attr::kCheckedNodes))
    func.setCheckedNodesAttr(checks);
  for (BlockArgument arg : entry.getArguments())
    if (auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kInput)) {
      auto input = makeOp<plan::InputOp>(b, entry.getLoc());
      input.setName(name);
      input.setSliceAttr(slice(arg));
      if (auto limit = entry.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), nnc::attr::kIndexLimit))
        input.setIndexLimit(limit.getInt());
      if (auto reader = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kIndexReader))
        input.setIndexReader(reader.strref());
    }
  // Collectives start where their all_reduce sits and are waited for, in sequence order (the
  // order the runtime completes them), just before the first command that reads a result.
  llvm::DenseMap<Value, int64_t> reducedBy; // all_reduce result -> its sequence
  SmallVector<std::pair<std::string, Location>> collectives;
  int64_t waited = 0;
  auto waitThrough = [&](int64_t sequence) {
    for (; waited <= sequence; ++waited) {
      auto wait = makeOp<plan::AllReduceWaitOp>(b, collectives[waited].second);
      wait.setNode(collectives[waited].first);
      wait.setSequence(waited);
    }
  };
  convReads.clear();
  for (Operation &op : entry.getBody().front())
    if (isa<nn::Conv2dOp, nn::Conv2dGradInputOp, nn::Conv2dGradWeightOp>(op))
      for (Value operand : op.getOperands())
        ++convReads[bufferOf.lookup(root(operand))];
  for (Operation &op : entry.getBody().front()) {
    for (Value operand : op.getOperands())
      if (auto it = reducedBy.find(root(operand)); it != reducedBy.end())
        waitThrough(it->second);
    if (isa<func::ReturnOp>(op))
      waitThrough(static_cast<int64_t>(collectives.size()) - 1);
    auto reduce = dyn_cast<train::AllReduceOp>(op);
    if (!reduce) {
      if (failed(lowerCommand(&op, b)))
        return failure();
      continue;
    }
    int64_t sequence = static_cast<int64_t>(collectives.size());
    collectives.push_back({nodeName(reduce.getLoc()), reduce.getLoc()});
    SmallVector<Attribute> sources, results;
    for (auto [grad, mean] : llvm::zip(reduce.getGrads(), reduce.getResults())) {
      if (!cast<RankedTensorType>(grad.getType()).getElementType().isF32())
        return reduce.emitError("all-reduce supports f32 gradients only, not ") << grad.getType();
      sources.push_back(slice(grad));
      results.push_back(slice(mean));
      reducedBy[mean] = sequence;
    }
    auto start = makeOp<plan::AllReduceStartOp>(b, reduce.getLoc());
    start.setNode(collectives.back().first);
    start.setSequence(sequence);
    start.setSourcesAttr(b.getArrayAttr(sources));
    start.setResultsAttr(b.getArrayAttr(results));
    start.setSum(reduce.getSum());
  }
  auto ret = cast<func::ReturnOp>(entry.getBody().front().getTerminator());
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    if (auto name = entry.getResultAttrOfType<StringAttr>(i, nnc::attr::kOutput)) {
      auto output = makeOp<plan::OutputOp>(b, entry.getLoc());
      output.setName(name);
      output.setSliceAttr(slice(value));
    }
    // New parameter and optimizer-state values go back to their own slices.
    if (auto target = entry.getResultAttrOfType<StringAttr>(i, nnc::attr::kUpdates)) {
      if (!paramBuffer.count(target.strref()))
        return entry.emitError("result ") << i << " updates '" << target.strref()
                                          << "', which is not a parameter of the plan";
      int param = paramBuffer.lookup(target.strref());
      if (bufferOf.at(root(value)) == param)
        continue; // computed in place
      auto copy = makeOp<plan::CopyOp>(b, NameLoc::get(target));
      copy.setNode(target);
      copy.setSrcAttr(slice(value));
      copy.setDstAttr(sliceOf(param, value.getType()));
    }
  }
  return success();
}

LogicalResult Lowering::run() {
  planInPlaceUpdates();
  createBuffers();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto plan = makeOp<plan::PlanOp>(b, func::FuncOp(entries.front()).getLoc());
  b.setInsertionPointToStart(&plan.getBody().emplaceBlock());
  for (const Buffer &buffer : buffers) {
    auto op = makeOp<plan::BufferOp>(b, module.getLoc());
    op.setSymName(buffer.name);
    if (buffer.param)
      op.setParamAttr(buffer.param);
    op.setSize(buffer.size);
    op.setStart(buffer.start);
    op.setEnd(buffer.end);
  }
  if (failed(lowerInit(b)))
    return failure();
  for (func::FuncOp entry : entries)
    if (failed(lowerFunction(entry, b)))
      return failure();
  for (func::FuncOp entry : entries)
    entry.erase();
  return success();
}

struct LowerToPlanPass : impl::LowerToPlanBase<LowerToPlanPass> {
  using LowerToPlanBase::LowerToPlanBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func->hasAttr(nnc::attr::kKernel))
        entries.push_back(func);
    if (entries.empty()) {
      module.emitError("the model has nothing to run: no outputs to predict and no optimizer to "
                       "train with");
      return signalPassFailure();
    }
    llvm::StringSet<> modelParams;
    for (const std::string &name : modelParameters)
      modelParams.insert(name);
    if (failed(Lowering(module, entries, modelParams).run()))
      signalPassFailure();
  }
};

} // namespace
} // namespace nnc
