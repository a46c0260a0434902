// The plan phase: a module lowered through kernel outlining becomes an nnc.Plan.
//
// 1. Give every tensor of @predict a buffer (views share their source's), with live ranges over
//    the op sequence; parameters, graph inputs, outputs and constants live throughout.
// 2. Place the buffers in one arena (BufferAssignment).
// 3. Turn each host op into a command: library calls (Gemm, Conv2d), kernel calls; and write
//    the "init" function: parameter initializers, stored values and constants.
// 4. Compile the kernels into the plan's shared object.
#include "compiler/plan/PlanBuilder.h"

#include "compiler/codegen/CpuCodegen.h"
#include "compiler/plan/BufferAssignment.h"
#include "dialects/nn/NNDialect.h"
#include "proto/plan.pb.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/SHA256.h"

using namespace mlir;

namespace nnc {
namespace {

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

int64_t byteSize(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return tensor.getNumElements() * tensor.getElementTypeBitWidth() / 8;
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

class Builder {
public:
  Builder(func::FuncOp predict, const Model &model) : predict(predict), model(model) {}
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
  void assign();
  LogicalResult emitCommand(Operation *op, Function &function);
  LogicalResult emitInit(Plan &plan);

  func::FuncOp predict;
  const Model &model;
  llvm::DenseMap<Value, int> bufferOf; // root tensor -> request index
  std::vector<BufferRequest> requests;
  std::vector<int64_t> offsets;
  int64_t peak = 0;
};

void Builder::assign() {
  Block &body = predict.getBody().front();
  auto request = [&](Value v, int64_t start, int64_t end) {
    bufferOf[v] = requests.size();
    requests.push_back({byteSize(v.getType()), start, end});
  };
  for (BlockArgument arg : body.getArguments())
    request(arg, 0, kForever);
  int64_t index = 0;
  for (Operation &op : body) {
    ++index;
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::EmptyOp, func::ReturnOp>(op))
      continue; // views share storage; host empties are only out-argument placeholders
    for (Value result : op.getResults())
      request(result, index, isa<nn::ConstantOp>(op) ? kForever : index);
  }
  // Extend each live range to its last use; returned values live on for the caller.
  index = 0;
  for (Operation &op : body) {
    ++index;
    for (Value operand : op.getOperands()) {
      auto it = bufferOf.find(root(operand));
      if (it == bufferOf.end())
        continue;
      BufferRequest &r = requests[it->second];
      r.end = isa<func::ReturnOp>(op) ? kForever : std::max(r.end, index);
    }
  }
  BufferAssignment assignment = assignBuffers(requests);
  offsets = std::move(assignment.offsets);
  peak = assignment.peakBytes;
}

LogicalResult Builder::emitCommand(Operation *op, Function &function) {
  Command command;
  command.set_node(nodeName(op->getLoc()));
  PostOp postOp = op->hasAttr("activation") ? POST_OP_RELU : POST_OP_NONE;
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
    *c->mutable_input() = slice(conv.getInput());
    *c->mutable_weight() = slice(conv.getWeight());
    if (conv.getBias())
      *c->mutable_bias() = slice(conv.getBias());
    *c->mutable_output() = slice(conv.getResult());
    for (int64_t d : shape(conv.getInput()))
      c->add_input_shape(d);
    for (int64_t d : shape(conv.getWeight()))
      c->add_weight_shape(d);
    for (int64_t d : shape(conv.getResult()))
      c->add_output_shape(d);
    for (int64_t s : conv.getStride().value_or(nn::defaults::kUnitPair))
      c->add_stride(s);
    for (int64_t p : conv.getPadding().value_or(nn::defaults::kZeroPair))
      c->add_padding(p);
    for (int64_t d : conv.getDilation().value_or(nn::defaults::kUnitPair))
      c->add_dilation(d);
    c->set_groups(conv.getGroups().value_or(nn::defaults::kGroups));
    c->set_post_op(postOp);
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
  *function.add_commands() = std::move(command);
  return success();
}

LogicalResult Builder::emitInit(Plan &plan) {
  Function *init = plan.add_functions();
  init->set_name("init");
  llvm::StringMap<const Parameter *> params;
  for (const Parameter &p : model.parameters())
    params[p.name()] = &p;
  int stream = 0;
  for (BlockArgument arg : predict.getArguments()) {
    auto name = predict.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "nn.param");
    if (!name)
      continue;
    const Parameter *param = params.lookup(name.strref());
    if (!cast<RankedTensorType>(arg.getType()).getElementType().isF32())
      return predict.emitError("the CPU backend supports f32 parameters only; '")
             << name.strref() << "' is " << arg.getType();
    TensorSlice *entry = plan.add_parameters();
    entry->set_name(name.str());
    *entry->mutable_type() = protoType(arg.getType());
    *entry->mutable_slice() = slice(arg);
    Command *command = init->add_commands();
    command->set_node(name.str());
    if (param->has_stored()) {
      WriteBytes *write = command->mutable_write_bytes();
      *write->mutable_slice() = slice(arg);
      write->set_data(param->stored().values().data(), param->stored().values_size() * 4);
    } else {
      InitParameter *fill = command->mutable_init_parameter();
      *fill->mutable_slice() = slice(arg);
      *fill->mutable_type() = entry->type();
      *fill->mutable_init() = param->init();
      fill->set_stream(stream);
    }
    ++stream;
  }
  WalkResult walk = predict.walk([&](nn::ConstantOp constant) {
    auto value = cast<DenseElementsAttr>(constant.getValue());
    Command *command = init->add_commands();
    if (auto name = dyn_cast<NameLoc>(constant.getLoc()))
      command->set_node(name.getName().str());
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
    return WalkResult::advance();
  });
  (void)walk;
  return success();
}

LogicalResult Builder::run(Plan &plan) {
  assign();
  plan.set_arena_bytes(peak);
  if (failed(emitInit(plan)))
    return failure();
  Function *function = plan.add_functions();
  function->set_name("predict");
  if (auto flops = predict->getAttrOfType<IntegerAttr>("nnc.flops"))
    function->set_flops(flops.getInt());
  for (BlockArgument arg : predict.getArguments())
    if (auto name = predict.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "nn.input")) {
      TensorSlice *input = function->add_inputs();
      input->set_name(name.str());
      *input->mutable_type() = protoType(arg.getType());
      *input->mutable_slice() = slice(arg);
    }
  for (Operation &op : predict.getBody().front())
    if (failed(emitCommand(&op, *function)))
      return failure();
  auto ret = cast<func::ReturnOp>(predict.getBody().front().getTerminator());
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    TensorSlice *output = function->add_outputs();
    if (auto name = predict.getResultAttrOfType<StringAttr>(i, "nn.output"))
      output->set_name(name.str());
    *output->mutable_type() = protoType(value.getType());
    *output->mutable_slice() = slice(value);
  }
  return success();
}

} // namespace

LogicalResult buildPlan(ModuleOp module, const Model &model, llvm::StringRef modelBytes,
                        const CpuTarget &target, Plan &plan) {
  auto predict = module.lookupSymbol<func::FuncOp>("predict");
  if (!predict)
    return module.emitError("expects a @predict function (run the lower phase first)");
  plan.set_version(PLAN_VERSION_CURRENT);
  plan.set_seed(model.training().seed());
  PlanMetadata *meta = plan.mutable_metadata();
  meta->set_nnc_version("0.1.0");
  meta->set_model_name(model.name());
  meta->set_model_sha256(llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(modelBytes)),
                                     /*LowerCase=*/true));
  meta->set_target_triple(target.triple);
  meta->set_target_cpu(target.cpu);
  for (const std::string &feature : target.features)
    meta->add_cpu_features(feature);
  meta->set_precision("fp32");
  if (failed(Builder(predict, model).run(plan)))
    return failure();
  std::string library;
  if (failed(compileKernels(module, target, library)))
    return failure();
  plan.set_kernel_library(std::move(library));
  return success();
}

} // namespace nnc
