// The plan phase: a module lowered through kernel outlining becomes an nnc.Plan.
//
// 1. Give every tensor of the entry points (@predict, @train_step) a buffer (views share their
//    source's), with live ranges over the op sequence; parameters (shared by name) and constants
//    live throughout.
// 2. Place the buffers in one arena (BufferAssignment).
// 3. Turn each host op into a command: library calls (Gemm, Conv2d), kernel calls, copies of
//    updated parameters; and write the "init" function: parameter initializers, stored values
//    and constants.
// 4. Compile the kernels into the plan's shared object.
#include "compiler/plan/PlanBuilder.h"
#include "dialects/AttrNames.h"

#include "compiler/codegen/CpuCodegen.h"
#include "compiler/codegen/CudaCodegen.h"
#include "compiler/plan/BufferAssignment.h"
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"
#include "proto/plan.pb.h"
#include "support/Checksum.h"
#include "support/Version.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/SHA256.h"

#include <map>

using namespace mlir;

namespace nnc {
namespace {

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

/// The byte size of a tensor type, or -1 when int64 cannot count it (the importer refuses such
/// types, but a pass could build one from them).
int64_t byteSize(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  int64_t width = tensor.getElementTypeBitWidth(), count = 1, bytes;
  for (int64_t dim : tensor.getShape())
    if (llvm::MulOverflow(count, dim, count))
      return -1;
  if (width % 8 != 0) // sub-byte elements: count the bits
    return llvm::MulOverflow(count, width, bytes) ? -1 : bytes / 8;
  return llvm::MulOverflow(count, width / 8, bytes) ? -1 : bytes;
}

TensorType protoType(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  TensorType result;
  Type e = tensor.getElementType();
  result.set_dtype(e.isF32() ? F32 : e.isF16() ? F16 : e.isBF16() ? BF16 : e.isInteger(32) ? I32 : I64);
  for (int64_t dim : tensor.getShape())
    result.add_shape(dim);
  return result;
}

/// The user's node an op computes: its NameLoc, or the names of a fused location joined by '+'.
std::string nodeName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  std::string joined;
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location part : fused.getLocations())
      if (auto name = dyn_cast<NameLoc>(part))
        joined += (joined.empty() ? "" : "+") + name.getName().str();
  return joined;
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

class Builder {
public:
  Builder(ArrayRef<func::FuncOp> entries, const Model &model) : entries(entries), model(model) {}
  LogicalResult run(Plan &plan);

private:
  Value root(Value v) {
    while (Operation *def = v.getDefiningOp()) {
      if (!isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def))
        break;
      v = def->getOperand(0);
    }
    return v;
  }
  Slice slice(Value v) {
    Slice s;
    int id = bufferOf.lookup(root(v));
    s.set_offset(offsets[id]);
    s.set_size(byteSize(v.getType()));
    return s;
  }
  void planInPlaceUpdates();
  LogicalResult assign();
  LogicalResult emitFunction(func::FuncOp entry, Plan &plan);
  LogicalResult emitCommand(Operation *op, Function &function);
  template <typename ConvOpTy>
  void setConv2d(Conv2d *c, ConvPass pass, Value input, Value weight, Value output, ConvOpTy op);
  void setStridedGemm(Gemm *gemm, nn::MatmulOp matmul);
  LogicalResult emitInit(Plan &plan);

  ArrayRef<func::FuncOp> entries;
  const Model &model;
  llvm::DenseMap<Value, int> bufferOf; // root tensor -> request index
  llvm::StringMap<int> paramBuffer;    // parameter name -> request index, shared by functions
  llvm::DenseMap<Value, StringRef> inPlace; // updated value -> the parameter whose slice it takes
  std::vector<BufferRequest> requests;
  std::vector<int64_t> offsets;
  int64_t peak = 0;
};

// An updated parameter (a result marked nn.updates) computed by a kernel call after which nothing
// reads the old value can be written straight into the parameter's slice: no copy after the
// step, and a fused optimizer update streams each value once. A kernel that also reads the old
// value must write it elementwise; it gets `kInPlaceAttr` (per result, the argument it
// overwrites), which codegen uses to make the two one pointer, and a copy of its own if other
// calls of it overwrite differently.
void Builder::planInPlaceUpdates() {
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
LogicalResult Builder::assign() {
  auto request = [&](Value v, int64_t start, int64_t end) {
    bufferOf[v] = requests.size();
    requests.push_back({byteSize(v.getType()), start, end});
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
      auto [it, inserted] = paramBuffer.try_emplace(name.strref(), requests.size());
      if (inserted)
        requests.push_back({byteSize(arg.getType()), 0, kForever});
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
        BufferRequest &r = requests[it->second];
        r.end = std::max(r.end, isa<func::ReturnOp>(op) ? end : index);
      }
    }
    base = end + 1;
  }
  // No offset exceeds the sum of the aligned sizes: when that fits in int64, every offset does.
  constexpr int64_t kAlignment = 64;
  int64_t total = 0;
  for (const BufferRequest &r : requests)
    if (r.size < 0 || llvm::AddOverflow(total, r.size + kAlignment, total))
      return func::FuncOp(entries.front())
          .emitError("the model's tensors need more bytes than int64 can count");
  BufferAssignment assignment = assignBuffers(requests, kAlignment);
  offsets = std::move(assignment.offsets);
  peak = assignment.peakBytes;
  return success();
}

/// A Conv2d command of any pass: the slices at the forward convolution's input, weight and
/// output positions (a backward pass's gradient sits where its tensor would), and `op`'s
/// stride, padding, dilation and groups.
template <typename ConvOpTy>
void Builder::setConv2d(Conv2d *c, ConvPass pass, Value input, Value weight, Value output,
                        ConvOpTy op) {
  auto dims = [](Value v) { return cast<RankedTensorType>(v.getType()).getShape(); };
  c->set_pass(pass);
  *c->mutable_input() = slice(input);
  *c->mutable_weight() = slice(weight);
  *c->mutable_output() = slice(output);
  c->mutable_input_shape()->Add(dims(input).begin(), dims(input).end());
  c->mutable_weight_shape()->Add(dims(weight).begin(), dims(weight).end());
  c->mutable_output_shape()->Add(dims(output).begin(), dims(output).end());
  for (int64_t s : op.getStride().value_or(nn::defaults::kUnitPair))
    c->add_stride(s);
  for (int64_t p : op.getPadding().value_or(nn::defaults::kZeroPair))
    c->add_padding(p);
  for (int64_t d : op.getDilation().value_or(nn::defaults::kUnitPair))
    c->add_dilation(d);
  c->set_groups(op.getGroups().value_or(nn::defaults::kGroups));
}

/// A matmul with folded transposes: each operand's (batch..., rows, cols) strides in its
/// stored tensor, the batch dimensions the result's (a rank-2 rhs is broadcast, stride 0).
void Builder::setStridedGemm(Gemm *gemm, nn::MatmulOp matmul) {
  // The strides of `value`'s dimensions as the product sees them: its row-major strides,
  // permuted, and left-padded with broadcast zeros to `rank`.
  auto viewStrides = [](Value value, std::optional<ArrayRef<int64_t>> perm, int64_t rank) {
    ArrayRef<int64_t> stored = cast<RankedTensorType>(value.getType()).getShape();
    SmallVector<int64_t> rowMajor = computeStrides(stored);
    SmallVector<int64_t> strides(rank - stored.size(), 0);
    for (size_t i = 0; i < stored.size(); ++i)
      strides.push_back(perm ? rowMajor[(*perm)[i]] : rowMajor[i]);
    return strides;
  };
  ArrayRef<int64_t> result = cast<RankedTensorType>(matmul.getType()).getShape();
  int64_t rank = result.size();
  // The stored result is the product transposed by q: product dim q[j] has stored stride j.
  SmallVector<int64_t> resultStrides = viewStrides(matmul.getResult(), std::nullopt, rank);
  SmallVector<int64_t> cStrides(rank), product(rank);
  for (int64_t j = 0; j < rank; ++j) {
    int64_t dim = matmul.getResultPermutation() ? (*matmul.getResultPermutation())[j] : j;
    cStrides[dim] = resultStrides[j];
    product[dim] = result[j];
  }
  SmallVector<int64_t> aStrides = viewStrides(matmul.getLhs(), matmul.getLhsPermutation(), rank);
  SmallVector<int64_t> bStrides = viewStrides(matmul.getRhs(), matmul.getRhsPermutation(), rank);
  *gemm->mutable_a() = slice(matmul.getLhs());
  *gemm->mutable_b() = slice(matmul.getRhs());
  *gemm->mutable_c() = slice(matmul.getResult());
  int64_t batch = 1;
  for (int64_t d : ArrayRef(product).drop_back(2)) {
    gemm->add_batch_dims(d);
    batch *= d;
  }
  gemm->set_batch(batch);
  gemm->set_m(product[rank - 2]);
  gemm->set_n(product[rank - 1]);
  gemm->set_k(matmul.getContractedSize());
  gemm->mutable_a_strides()->Add(aStrides.begin(), aStrides.end());
  gemm->mutable_b_strides()->Add(bStrides.begin(), bStrides.end());
  gemm->mutable_c_strides()->Add(cStrides.begin(), cStrides.end());
}

LogicalResult Builder::emitCommand(Operation *op, Function &function) {
  Command command;
  command.set_node(nodeName(op->getLoc()));
  PostOp postOp = nn::fusedActivation(op) ? POST_OP_RELU : POST_OP_NONE;
  DType dtype = op->getNumResults() == 1 ? protoType(op->getResult(0).getType()).dtype() : F32;
  auto shape = [](Value v) { return cast<RankedTensorType>(v.getType()).getShape(); };
  if (auto linear = dyn_cast<nn::LinearOp>(op)) {
    Gemm *gemm = command.mutable_gemm();
    ArrayRef<int64_t> w = shape(linear.getWeight()); // (out, in)
    *gemm->mutable_a() = slice(linear.getInput());
    *gemm->mutable_b() = slice(linear.getWeight());
    *gemm->mutable_c() = slice(linear.getResult());
    if (linear.getBias())
      *gemm->mutable_bias() = slice(linear.getBias());
    gemm->set_batch(1);
    gemm->set_m(cast<RankedTensorType>(linear.getInput().getType()).getNumElements() / w[1]);
    gemm->set_n(w[0]);
    gemm->set_k(w[1]);
    gemm->set_transpose_b(true);
    gemm->set_post_op(postOp);
  } else if (auto matmul = dyn_cast<nn::MatmulOp>(op); matmul && matmul.hasFoldedLayouts()) {
    setStridedGemm(command.mutable_gemm(), matmul);
  } else if (auto matmul = dyn_cast<nn::MatmulOp>(op)) {
    ArrayRef<int64_t> a = shape(matmul.getLhs()), b = shape(matmul.getRhs());
    int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
    auto batchOf = [](ArrayRef<int64_t> s) {
      int64_t p = 1;
      for (int64_t d : s.drop_back(2))
        p *= d;
      return p;
    };
    int64_t batchA = batchOf(a), batchB = batchOf(b);
    Gemm *gemm = command.mutable_gemm();
    *gemm->mutable_a() = slice(matmul.getLhs());
    *gemm->mutable_b() = slice(matmul.getRhs());
    *gemm->mutable_c() = slice(matmul.getResult());
    gemm->set_n(n);
    gemm->set_k(k);
    if (batchB == 1) { // one rhs for every lhs matrix: fold the batch into m
      gemm->set_batch(1);
      gemm->set_m(batchA * m);
    } else if (a.drop_back(2) == b.drop_back(2)) {
      gemm->set_batch(batchA);
      gemm->set_m(m);
    } else {
      return op->emitError("the CPU backend does not support this batch broadcast yet: ")
             << matmul.getLhs().getType() << " and " << matmul.getRhs().getType();
    }
  } else if (auto conv = dyn_cast<nn::Conv2dOp>(op)) {
    Conv2d *c = command.mutable_conv2d();
    setConv2d(c, CONV_PASS_FORWARD, conv.getInput(), conv.getWeight(), conv.getResult(), conv);
    if (conv.getBias())
      *c->mutable_bias() = slice(conv.getBias());
    c->set_post_op(postOp);
  } else if (auto grad = dyn_cast<nn::Conv2dGradInputOp>(op)) {
    setConv2d(command.mutable_conv2d(), CONV_PASS_BACKWARD_DATA, grad.getResult(),
              grad.getWeight(), grad.getGrad(), grad);
  } else if (auto grad = dyn_cast<nn::Conv2dGradWeightOp>(op)) {
    setConv2d(command.mutable_conv2d(), CONV_PASS_BACKWARD_WEIGHTS, grad.getInput(),
              grad.getResult(), grad.getGrad(), grad);
  } else if (auto call = dyn_cast<func::CallOp>(op)) {
    KernelCall *kernel = command.mutable_kernel();
    kernel->set_symbol(kKernelEntryPrefix + call.getCallee().str());
    for (Value operand : call.getOperands())
      if (!operand.getDefiningOp<tensor::EmptyOp>())
        *kernel->add_args() = slice(operand);
    for (Value result : call.getResults())
      *kernel->add_args() = slice(result);
  } else if (isa<nn::ConstantOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::EmptyOp,
                 func::ReturnOp>(op)) {
    return success(); // written by init, views, placeholders
  } else {
    return op->emitError("cannot be executed by the CPU backend: ") << op->getName();
  }
  if (command.has_gemm())
    command.mutable_gemm()->set_dtype(dtype);
  if (command.has_conv2d())
    command.mutable_conv2d()->set_dtype(dtype);
  *function.add_commands() = std::move(command);
  return success();
}

LogicalResult Builder::emitInit(Plan &plan) {
  Function *init = plan.add_functions();
  init->set_name("init");
  llvm::StringMap<const Parameter *> params;
  for (const Parameter &p : model.parameters())
    params[p.name()] = &p;
  // The parameter table: the model's parameters, then optimizer state, each once.
  llvm::StringSet<> seen;
  int stream = 0;
  for (func::FuncOp entry : entries)
    for (BlockArgument arg : entry.getArguments()) {
      auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kParam);
      if (!name || !seen.insert(name.strref()).second)
        continue;
      if (!cast<RankedTensorType>(arg.getType()).getElementType().isF32())
        return entry.emitError("the CPU backend supports f32 parameters only; '")
               << name.strref() << "' is " << arg.getType();
      TensorSlice *table = plan.add_parameters();
      table->set_name(name.str());
      *table->mutable_type() = protoType(arg.getType());
      *table->mutable_slice() = slice(arg);
      Command *command = init->add_commands();
      command->set_node(name.str());
      const Parameter *param = params.lookup(name.strref());
      if (param && param->has_stored()) {
        WriteBytes *write = command->mutable_write_bytes();
        *write->mutable_slice() = slice(arg);
        write->set_data(param->stored().values().data(), param->stored().values_size() * 4);
        ++stream;
        continue;
      }
      InitParameter *fill = command->mutable_init_parameter();
      *fill->mutable_slice() = slice(arg);
      *fill->mutable_type() = table->type();
      if (param) {
        *fill->mutable_init() = param->init();
      } else { // optimizer (or loss-scale) state: zeros or a constant, as its nn.init says
        auto init = entry.getArgAttrOfType<DictionaryAttr>(arg.getArgNumber(), nnc::attr::kInit);
        auto kind = init ? init.getAs<StringAttr>("kind") : StringAttr();
        auto value = init ? init.getAs<FloatAttr>("value") : FloatAttr();
        if (kind && kind.getValue() == "constant" && value) {
          fill->mutable_init()->set_kind(Initializer::CONSTANT);
          fill->mutable_init()->set_value(value.getValueAsDouble());
        } else {
          fill->mutable_init()->set_kind(Initializer::ZEROS);
        }
        table->set_optimizer_state(true);
      }
      fill->set_stream(stream++);
    }
  for (func::FuncOp entry : entries)
    entry.walk([&](nn::ConstantOp constant) {
      auto value = cast<DenseElementsAttr>(constant.getValue());
      Command *command = init->add_commands();
      command->set_node(nodeName(constant.getLoc()));
      WriteBytes *write = command->mutable_write_bytes();
      *write->mutable_slice() = slice(constant.getResult());
      ArrayRef<char> raw = value.getRawData();
      std::string data;
      int64_t bytes = byteSize(constant.getType());
      if (value.isSplat())
        for (int64_t i = 0; i < bytes; i += raw.size())
          data.append(raw.data(), raw.size());
      else
        data.assign(raw.data(), raw.size());
      write->set_data(data);
    });
  return success();
}

LogicalResult Builder::emitFunction(func::FuncOp entry, Plan &plan) {
  Function *function = plan.add_functions();
  function->set_name(entry.getSymName().str());
  if (auto flops = entry->getAttrOfType<IntegerAttr>(nnc::attr::kFlops))
    function->set_flops(flops.getInt());
  if (auto names = entry->getAttrOfType<ArrayAttr>(nnc::attr::kCheckedGradients))
    for (mlir::Attribute name : names)
      function->add_checked_gradients(cast<StringAttr>(name).str());
  if (auto checks = entry->getAttrOfType<ArrayAttr>(nnc::attr::kCheckedNodes))
    for (mlir::Attribute check : checks) {
      auto dict = cast<DictionaryAttr>(check);
      CheckedNode *node = function->add_checked_nodes();
      node->set_node(dict.getAs<StringAttr>("node").str());
      node->set_pass(dict.getAs<StringAttr>("pass").str());
    }
  for (BlockArgument arg : entry.getArguments())
    if (auto name = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kInput)) {
      TensorSlice *input = function->add_inputs();
      input->set_name(name.str());
      *input->mutable_type() = protoType(arg.getType());
      *input->mutable_slice() = slice(arg);
      if (auto limit = entry.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), nnc::attr::kIndexLimit))
        input->set_index_limit(limit.getInt());
      if (auto reader = entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), nnc::attr::kIndexReader))
        input->set_index_reader(reader.str());
    }
  // Collectives start where their all_reduce sits and are waited for, in sequence order (the
  // order the runtime completes them), just before the first command that reads a result.
  llvm::DenseMap<Value, int64_t> reducedBy; // all_reduce result -> its sequence
  SmallVector<std::string> collectiveNodes;
  int64_t waited = 0;
  auto waitThrough = [&](int64_t sequence) {
    for (; waited <= sequence; ++waited) {
      Command *command = function->add_commands();
      command->set_node(collectiveNodes[waited]);
      command->mutable_all_reduce_wait()->set_sequence(waited);
    }
  };
  for (Operation &op : entry.getBody().front()) {
    for (Value operand : op.getOperands())
      if (auto it = reducedBy.find(root(operand)); it != reducedBy.end())
        waitThrough(it->second);
    if (isa<func::ReturnOp>(op))
      waitThrough(static_cast<int64_t>(collectiveNodes.size()) - 1);
    auto reduce = dyn_cast<train::AllReduceOp>(op);
    if (!reduce) {
      if (failed(emitCommand(&op, *function)))
        return failure();
      continue;
    }
    int64_t sequence = static_cast<int64_t>(collectiveNodes.size());
    collectiveNodes.push_back(nodeName(reduce.getLoc()));
    Command *command = function->add_commands();
    command->set_node(collectiveNodes.back());
    AllReduceStart *start = command->mutable_all_reduce_start();
    start->set_sequence(sequence);
    start->set_dtype(F32);
    start->set_sum(reduce.getSum());
    for (auto [grad, mean] : llvm::zip(reduce.getGrads(), reduce.getResults())) {
      if (!cast<RankedTensorType>(grad.getType()).getElementType().isF32())
        return reduce.emitError("all-reduce supports f32 gradients only, not ") << grad.getType();
      *start->add_sources() = slice(grad);
      *start->add_results() = slice(mean);
      reducedBy[mean] = sequence;
    }
  }
  auto ret = cast<func::ReturnOp>(entry.getBody().front().getTerminator());
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    if (auto name = entry.getResultAttrOfType<StringAttr>(i, nnc::attr::kOutput)) {
      TensorSlice *output = function->add_outputs();
      output->set_name(name.str());
      *output->mutable_type() = protoType(value.getType());
      *output->mutable_slice() = slice(value);
    }
    // New parameter and optimizer-state values go back to their own slices.
    if (auto target = entry.getResultAttrOfType<StringAttr>(i, nnc::attr::kUpdates)) {
      if (!paramBuffer.count(target.strref()))
        return entry.emitError("result ") << i << " updates '" << target.strref()
                                          << "', which is not a parameter of the plan";
      if (bufferOf.at(root(value)) == paramBuffer.lookup(target.strref()))
        continue; // computed in place
      Command *command = function->add_commands();
      command->set_node(target.str());
      Copy *copy = command->mutable_copy();
      *copy->mutable_src() = slice(value);
      Slice dst;
      dst.set_offset(offsets[paramBuffer.lookup(target.strref())]);
      dst.set_size(byteSize(value.getType()));
      *copy->mutable_dst() = dst;
    }
  }
  return success();
}

LogicalResult Builder::run(Plan &plan) {
  planInPlaceUpdates();
  if (failed(assign()))
    return failure();
  plan.set_arena_bytes(peak);
  if (failed(emitInit(plan)))
    return failure();
  for (func::FuncOp entry : entries)
    if (failed(emitFunction(entry, plan)))
      return failure();
  return success();
}

} // namespace

namespace {
void setMetadata(const Model &model, llvm::StringRef modelBytes, const CpuTarget &target,
                 Plan &plan) {
  plan.set_version(PLAN_VERSION_CURRENT);
  plan.set_seed(model.training().seed());
  *plan.mutable_training() = model.training();
  PlanMetadata *meta = plan.mutable_metadata();
  meta->set_nnc_version(NNC_VERSION_STRING);
  meta->set_model_name(model.name());
  meta->set_model_sha256(llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(modelBytes)),
                                     /*LowerCase=*/true));
  meta->set_target_triple(target.triple);
  meta->set_target_cpu(target.cpu);
  for (const std::string &feature : target.features)
    meta->add_cpu_features(feature);
  switch (model.training().precision().kind()) {
  case Precision::FP16: meta->set_precision("fp16"); break;
  case Precision::BF16: meta->set_precision("bf16"); break;
  default: meta->set_precision("fp32"); break;
  }
}

/// One update of stage `s` of `stages` over `micro` micro-batches in the 1F1B order: forwards
/// while the pipeline fills (stages - 1 - s of them), then one forward and one backward in
/// turn, then the remaining backwards, then the update. Sends never wait for their receiver,
/// so no two neighbours can block each other.
void schedule1F1B(int64_t s, int64_t stages, int64_t micro, PipelineStage &stage) {
  bool first = s == 0, last = s + 1 == stages;
  auto add = [&](PipelineAction::Kind kind, int64_t microBatch, int64_t peer) {
    PipelineAction *action = stage.add_actions();
    action->set_kind(kind);
    action->set_micro_batch(microBatch);
    action->set_peer(peer);
  };
  auto forward = [&](int64_t i) {
    if (!first)
      add(PipelineAction::RECV_ACTIVATION, i, s - 1);
    if (last)
      return; // the last stage's forward is its backward slot's
    add(PipelineAction::FORWARD, i, s);
    add(PipelineAction::SEND_ACTIVATION, i, s + 1);
  };
  auto backward = [&](int64_t i) {
    if (!last)
      add(PipelineAction::RECV_GRADIENT, i, s + 1);
    add(PipelineAction::BACKWARD, i, s);
    if (!first)
      add(PipelineAction::SEND_GRADIENT, i, s - 1);
  };
  int64_t warmup = std::min(stages - 1 - s, micro);
  for (int64_t i = 0; i < warmup; ++i)
    forward(i);
  for (int64_t i = 0; i + warmup < micro; ++i) {
    forward(i + warmup);
    backward(i);
  }
  for (int64_t i = micro - warmup; i < micro; ++i)
    backward(i);
  add(PipelineAction::APPLY, 0, s);
}
} // namespace

LogicalResult buildPlan(ModuleOp module, const Model &model, llvm::StringRef modelBytes,
                        const CpuTarget &target, Plan &plan, KernelTarget kernels) {
  SmallVector<func::FuncOp> entries;
  for (auto func : module.getOps<func::FuncOp>())
    if (!func->hasAttr(nnc::attr::kKernel))
      entries.push_back(func);
  if (entries.empty())
    return module.emitError("the model has nothing to run: no outputs to predict and no "
                            "optimizer to train with");
  setMetadata(model, modelBytes, target, plan);
  if (failed(Builder(entries, model).run(plan)))
    return failure();
  if (kernels == KernelTarget::Cuda) {
    CudaTarget cuda;
    PlanMetadata *meta = plan.mutable_metadata();
    meta->set_target(TARGET_CUDA);
    meta->set_target_triple("nvptx64-nvidia-cuda");
    meta->set_target_cpu(cuda.chip);
    meta->clear_cpu_features(); // the host only copies and launches
    CudaKernelLibrary library;
    if (failed(compileCudaKernels(module, cuda, library)))
      return failure();
    plan.set_kernel_library(serializeDeterministic(library));
    return success();
  }
  std::string library;
  if (failed(compileKernels(module, target, library)))
    return failure();
  plan.set_kernel_library(std::move(library));
  return success();
}

LogicalResult buildPipelinePlan(ModuleOp module, const Model &model, llvm::StringRef modelBytes,
                                const CpuTarget &target, Plan &plan, KernelTarget kernels) {
  setMetadata(model, modelBytes, target, plan);
  SmallVector<ModuleOp> stages(module.getOps<ModuleOp>());
  PipelineSchedule *pipeline = plan.mutable_pipeline();
  pipeline->set_micro_batches(model.training().pipeline().micro_batches());
  for (auto [s, stageModule] : llvm::enumerate(stages)) {
    PipelineStage *stage = pipeline->add_stages();
    if (failed(buildPlan(stageModule, model, modelBytes, target, *stage->mutable_plan(), kernels)))
      return failure();
    for (const char *function : {"accumulate_step", "apply_step"})
      if (llvm::none_of(stage->plan().functions(),
                        [&](const Function &f) { return f.name() == function; }))
        return stageModule.emitError("pipeline stage ") << s << " has no " << function
               << " (the model has no optimizer, or its backward pass failed)";
    stage->mutable_plan()->set_checksum(planChecksum(stage->plan()));
    if (auto node = stageModule->getAttrOfType<StringAttr>(nnc::attr::kPipelineFirstNode))
      stage->set_first_node(node.str());
    if (auto node = stageModule->getAttrOfType<StringAttr>(nnc::attr::kPipelineLastNode))
      stage->set_last_node(node.str());
    schedule1F1B(static_cast<int64_t>(s), static_cast<int64_t>(stages.size()),
                 pipeline->micro_batches(), *stage);
  }
  return success();
}

} // namespace nnc
