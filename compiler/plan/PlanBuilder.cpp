// The plan phase's serializer: a module whose entry points were lowered to a `plan.plan`
// (nnc-lower-to-plan, nnc-assign-buffers, for pipelines nnc-schedule-pipeline) becomes an
// nnc.Plan. Each plan op becomes its protobuf message one to one; the model supplies the metadata
// and its parameters' stored values and initializers; the kernels are compiled into the plan's
// shared object (or PTX library).
#include "compiler/plan/PlanBuilder.h"
#include "dialects/AttrNames.h"

#include "compiler/codegen/CpuCodegen.h"
#include "compiler/codegen/CudaCodegen.h"
#include "dialects/plan/PlanDialect.h"
#include "proto/plan.pb.h"
#include "support/Checksum.h"
#include "support/Version.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/SHA256.h"

#include <tuple>
#include <functional>
#include <numeric>

using namespace mlir;

namespace nnc {
namespace {

DType protoDType(Type element) {
  return element.isF32()         ? F32
         : element.isF16()       ? F16
         : element.isBF16()      ? BF16
         : element.isInteger(32) ? I32
                                 : I64;
}

TensorType protoType(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  TensorType result;
  result.set_dtype(protoDType(tensor.getElementType()));
  for (int64_t dim : tensor.getShape())
    result.add_shape(dim);
  return result;
}

class Serializer {
public:
  Serializer(plan::PlanOp planOp, const Model &model) : planOp(planOp), model(model) {}
  LogicalResult run(Plan &plan);

private:
  Slice slice(plan::SliceAttr s) {
    Slice result;
    result.set_offset(offsets.lookup(s.getBuffer().getAttr()));
    result.set_size(s.getBytes());
    return result;
  }
  void addSlices(ArrayAttr slices, google::protobuf::RepeatedPtrField<Slice> *to) {
    for (mlir::Attribute s : slices)
      *to->Add() = slice(cast<plan::SliceAttr>(s));
  }
  LogicalResult serializeInit(plan::InitParameterOp init, Plan &plan, Function &function);
  LogicalResult serializeCommand(Operation *op, Function &function);
  LogicalResult serializeFunction(plan::FuncOp func, Plan &plan);

  plan::PlanOp planOp;
  const Model &model;
  llvm::DenseMap<StringAttr, int64_t> offsets; // buffer symbol -> arena offset
};

// A parameter-table entry and its command: the model's stored values or initializer, or
// optimizer state's zeros or constant.
LogicalResult Serializer::serializeInit(plan::InitParameterOp init, Plan &plan,
                                        Function &function) {
  TensorSlice *table = plan.add_parameters();
  table->set_name(init.getName().str());
  *table->mutable_type() = protoType(init.getSlice().getType());
  *table->mutable_slice() = slice(init.getSlice());
  if (auto logical = init.getZeroLogical()) // ZeRO-1: the slice holds this rank's shard
    *table->mutable_zero_logical() = protoType(*logical);
  if (std::optional<ArrayRef<int64_t>> shard = init.getShard()) {
    // Tensor parallelism: the table holds the whole tensor's type; the slice, one rank's part
    // (with ZeRO-1, this rank's shard of the part: its logical type is then the whole).
    auto [axis, shards, groups] = std::make_tuple((*shard)[0], (*shard)[1], (*shard)[2]);
    TensorType *whole =
        table->has_zero_logical() ? table->mutable_zero_logical() : table->mutable_type();
    // A padded split (a vocabulary T does not divide) gives the whole extent as a 4th entry.
    whole->set_shape(axis, shard->size() > 3 ? (*shard)[3] : whole->shape(axis) * shards);
    table->set_shard_axis(axis);
    table->set_shards(shards);
    table->set_shard_groups(groups);
  }
  Command *command = function.add_commands();
  command->set_node(init.getName().str());
  const Parameter *param = nullptr;
  if (init.getFromModel()) {
    for (const Parameter &p : model.parameters())
      if (p.name() == init.getName())
        param = &p;
    if (!param)
      return init.emitError("parameter '") << init.getName() << "' is not in the model";
    if (param->has_stored()) {
      WriteBytes *write = command->mutable_write_bytes();
      *write->mutable_slice() = slice(init.getSlice());
      write->set_data(param->stored().values().data(), param->stored().values_size() * 4);
      if (table->shards() > 1) { // the whole values; each rank writes its part
        *write->mutable_type() = table->type();
        write->set_shard_axis(table->shard_axis());
        write->set_shards(table->shards());
        write->set_shard_groups(table->shard_groups());
      }
      return success();
    }
  }
  InitParameter *fill = command->mutable_init_parameter();
  *fill->mutable_slice() = slice(init.getSlice());
  *fill->mutable_type() = table->type();
  if (param) {
    *fill->mutable_init() = param->init();
  } else if (std::optional<APFloat> value = init.getConstant()) {
    fill->mutable_init()->set_kind(Initializer::CONSTANT);
    fill->mutable_init()->set_value(value->convertToDouble());
    table->set_optimizer_state(true);
  } else {
    fill->mutable_init()->set_kind(Initializer::ZEROS);
    table->set_optimizer_state(true);
  }
  fill->set_stream(init.getStream());
  if (table->has_zero_logical()) // zeros or a constant: this rank's ZeRO shard of them
    return success();
  fill->set_shard_axis(table->shard_axis());
  fill->set_shards(table->shards());
  fill->set_shard_groups(table->shard_groups());
  return success();
}

LogicalResult Serializer::serializeCommand(Operation *op, Function &function) {
  Command command;
  auto shape = [](plan::SliceAttr s) { return cast<RankedTensorType>(s.getType()).getShape(); };
  auto setShape = [](google::protobuf::RepeatedField<int64_t> *to, ArrayRef<int64_t> from) {
    to->Add(from.begin(), from.end());
  };
  bool known = llvm::TypeSwitch<Operation *, bool>(op)
      .Case([&](plan::GemmOp g) {
        command.set_node(g.getNode().str());
        Gemm *gemm = command.mutable_gemm();
        *gemm->mutable_a() = slice(g.getA());
        *gemm->mutable_b() = slice(g.getB());
        *gemm->mutable_c() = slice(g.getC());
        if (g.getBias())
          *gemm->mutable_bias() = slice(*g.getBias());
        gemm->set_batch(g.getBatch());
        gemm->set_m(g.getM());
        gemm->set_n(g.getN());
        gemm->set_k(g.getK());
        gemm->set_transpose_b(g.getTransposeB());
        gemm->set_post_op(g.getRelu() ? POST_OP_RELU : POST_OP_NONE);
        gemm->set_dtype(protoDType(g.getDtype()));
        if (auto dims = g.getBatchDims())
          setShape(gemm->mutable_batch_dims(), *dims);
        if (auto strides = g.getAStrides())
          setShape(gemm->mutable_a_strides(), *strides);
        if (auto strides = g.getBStrides())
          setShape(gemm->mutable_b_strides(), *strides);
        if (auto strides = g.getCStrides())
          setShape(gemm->mutable_c_strides(), *strides);
        return true;
      })
      .Case([&](plan::Conv2dOp c) {
        command.set_node(c.getNode().str());
        Conv2d *conv = command.mutable_conv2d();
        conv->set_pass(c.getPass() == "forward"         ? CONV_PASS_FORWARD
                       : c.getPass() == "backward_data" ? CONV_PASS_BACKWARD_DATA
                                                        : CONV_PASS_BACKWARD_WEIGHTS);
        *conv->mutable_input() = slice(c.getInput());
        *conv->mutable_weight() = slice(c.getWeight());
        *conv->mutable_output() = slice(c.getOutput());
        setShape(conv->mutable_input_shape(), shape(c.getInput()));
        setShape(conv->mutable_weight_shape(), shape(c.getWeight()));
        setShape(conv->mutable_output_shape(), shape(c.getOutput()));
        setShape(conv->mutable_stride(), c.getStride());
        setShape(conv->mutable_padding(), c.getPadding());
        setShape(conv->mutable_dilation(), c.getDilation());
        conv->set_groups(c.getGroups());
        if (c.getBias())
          *conv->mutable_bias() = slice(*c.getBias());
        conv->set_post_op(c.getRelu() ? POST_OP_RELU : POST_OP_NONE);
        conv->set_dtype(protoDType(c.getDtype()));
        conv->set_input_key(c.getInputKey().value_or(0));
        conv->set_output_key(c.getOutputKey().value_or(0));
        return true;
      })
      .Case([&](plan::CausalAttentionOp a) {
        command.set_node(a.getNode().str());
        CausalAttention *attention = command.mutable_causal_attention();
        attention->set_backward(a.getPass() == "backward");
        addSlices(a.getArgs(), attention->mutable_args());
        ArrayRef<int64_t> q = shape(cast<plan::SliceAttr>(a.getArgs()[0])); // (..., T, D)
        attention->set_batch(std::accumulate(q.begin(), q.end() - 2, int64_t(1),
                                             std::multiplies<int64_t>()));
        attention->set_t(q[q.size() - 2]);
        attention->set_d(q.back());
        attention->set_scale(a.getScale().convertToDouble());
        attention->set_dtype(protoDType(a.getDtype()));
        return true;
      })
      .Case([&](plan::KernelCallOp call) {
        command.set_node(call.getNode().str());
        KernelCall *kernel = command.mutable_kernel();
        kernel->set_symbol(kKernelEntryPrefix + call.getCallee().str());
        addSlices(call.getArgs(), kernel->mutable_args());
        return true;
      })
      .Case([&](plan::CopyOp copy) {
        command.set_node(copy.getNode().str());
        *command.mutable_copy()->mutable_src() = slice(copy.getSrc());
        *command.mutable_copy()->mutable_dst() = slice(copy.getDst());
        return true;
      })
      .Case([&](plan::WriteBytesOp write) {
        command.set_node(write.getNode().str());
        *command.mutable_write_bytes()->mutable_slice() = slice(write.getSlice());
        auto value = cast<DenseElementsAttr>(write.getValue());
        ArrayRef<char> raw = value.getRawData();
        std::string data;
        if (value.isSplat()) // a splat stores one element: fill the slice with it
          for (int64_t i = 0; i < write.getSlice().getBytes(); i += raw.size())
            data.append(raw.data(), raw.size());
        else
          data.assign(raw.data(), raw.size());
        command.mutable_write_bytes()->set_data(data);
        return true;
      })
      .Case([&](plan::AllReduceStartOp start) {
        command.set_node(start.getNode().str());
        AllReduceStart *reduce = command.mutable_all_reduce_start();
        reduce->set_sequence(start.getSequence());
        reduce->set_dtype(F32);
        reduce->set_sum(start.getSum());
        addSlices(start.getSources(), reduce->mutable_sources());
        addSlices(start.getResults(), reduce->mutable_results());
        return true;
      })
      .Case([&](plan::TensorAllReduceOp r) {
        command.set_node(r.getNode().str());
        TensorAllReduce *reduce = command.mutable_tensor_all_reduce();
        *reduce->mutable_source() = slice(r.getSource());
        *reduce->mutable_result() = slice(r.getResult());
        reduce->set_group(r.getGroup().str());
        return true;
      })
      .Case([&](plan::TensorRankOp r) { // issue 20: the vocabulary split
        command.set_node(r.getNode().str());
        TensorRank *rank = command.mutable_tensor_rank();
        *rank->mutable_result() = slice(r.getResult());
        rank->set_group(r.getGroup().str());
        return true;
      })
      .Case([&](plan::AllReduceWaitOp wait) {
        command.set_node(wait.getNode().str());
        command.mutable_all_reduce_wait()->set_sequence(wait.getSequence());
        return true;
      })
      // ZeRO-1 (issue 20).
      .Case([&](plan::ReduceScatterOp op) {
        command.set_node(op.getNode().str());
        *command.mutable_reduce_scatter()->mutable_source() = slice(op.getSrc());
        *command.mutable_reduce_scatter()->mutable_result() = slice(op.getDst());
        return true;
      })
      .Case([&](plan::AllGatherOp op) {
        command.set_node(op.getNode().str());
        *command.mutable_all_gather()->mutable_source() = slice(op.getSrc());
        *command.mutable_all_gather()->mutable_result() = slice(op.getDst());
        return true;
      })
      .Case([&](plan::TakeShardOp op) {
        command.set_node(op.getNode().str());
        *command.mutable_take_shard()->mutable_source() = slice(op.getSrc());
        *command.mutable_take_shard()->mutable_result() = slice(op.getDst());
        return true;
      })
      .Default([](Operation *) { return false; });
  if (!known)
    return op->emitError("is not a command of a plan function: ") << op->getName();
  *function.add_commands() = std::move(command);
  return success();
}

LogicalResult Serializer::serializeFunction(plan::FuncOp func, Plan &plan) {
  Function *function = plan.add_functions();
  function->set_name(func.getSymName().str());
  if (auto flops = func.getFlops())
    function->set_flops(*flops);
  if (auto names = func.getCheckedGradients())
    for (mlir::Attribute name : *names)
      function->add_checked_gradients(cast<StringAttr>(name).str());
  if (auto checks = func.getCheckedNodes())
    for (mlir::Attribute check : *checks) {
      auto dict = cast<DictionaryAttr>(check);
      CheckedNode *node = function->add_checked_nodes();
      node->set_node(dict.getAs<StringAttr>("node").str());
      node->set_pass(dict.getAs<StringAttr>("pass").str());
    }
  for (Operation &op : func.getBody().front()) {
    LogicalResult done = success();
    if (auto input = dyn_cast<plan::InputOp>(op)) {
      TensorSlice *slot = function->add_inputs();
      slot->set_name(input.getName().str());
      *slot->mutable_type() = protoType(input.getSlice().getType());
      *slot->mutable_slice() = slice(input.getSlice());
      if (auto limit = input.getIndexLimit())
        slot->set_index_limit(*limit);
      if (auto reader = input.getIndexReader())
        slot->set_index_reader(reader->str());
    } else if (auto output = dyn_cast<plan::OutputOp>(op)) {
      TensorSlice *slot = function->add_outputs();
      slot->set_name(output.getName().str());
      *slot->mutable_type() = protoType(output.getSlice().getType());
      *slot->mutable_slice() = slice(output.getSlice());
    } else if (auto init = dyn_cast<plan::InitParameterOp>(op)) {
      done = serializeInit(init, plan, *function);
    } else {
      done = serializeCommand(&op, *function);
    }
    if (failed(done))
      return failure();
  }
  return success();
}

LogicalResult Serializer::run(Plan &plan) {
  if (!planOp.getArenaBytes())
    return planOp.emitError("the plan's buffers have no offsets: run nnc-assign-buffers first");
  plan.set_arena_bytes(*planOp.getArenaBytes());
  for (auto buffer : planOp.getBody().getOps<plan::BufferOp>())
    offsets[buffer.getSymNameAttr()] = buffer.getOffset().value_or(0);
  for (auto func : planOp.getBody().getOps<plan::FuncOp>())
    if (failed(serializeFunction(func, plan)))
      return failure();
  return success();
}

/// The module's plan, or an error when the plan phase's passes did not run.
plan::PlanOp findPlan(ModuleOp module) {
  for (auto plan : module.getOps<plan::PlanOp>())
    return plan;
  module.emitError("the module has no plan.plan: run nnc-lower-to-plan first");
  return nullptr;
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


void serializeAction(plan::PipelineActionOp op, PipelineAction &action) {
  action.set_kind(llvm::StringSwitch<PipelineAction::Kind>(op.getKind())
                      .Case("forward", PipelineAction::FORWARD)
                      .Case("backward", PipelineAction::BACKWARD)
                      .Case("send_activation", PipelineAction::SEND_ACTIVATION)
                      .Case("recv_activation", PipelineAction::RECV_ACTIVATION)
                      .Case("send_gradient", PipelineAction::SEND_GRADIENT)
                      .Case("recv_gradient", PipelineAction::RECV_GRADIENT)
                      .Case("apply", PipelineAction::APPLY)
                      .Default(PipelineAction::KIND_UNSET));
  action.set_micro_batch(op.getMicroBatch());
  action.set_peer(op.getPeer());
}
} // namespace

LogicalResult buildPlan(ModuleOp module, const Model &model, llvm::StringRef modelBytes,
                        const CpuTarget &target, Plan &plan, KernelTarget kernels) {
  plan::PlanOp planOp = findPlan(module);
  if (!planOp)
    return failure();
  setMetadata(model, modelBytes, target, plan);
  if (failed(Serializer(planOp, model).run(plan)))
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
    stage->mutable_plan()->set_checksum(planChecksum(stage->plan()));
    if (auto node = stageModule->getAttrOfType<StringAttr>(nnc::attr::kPipelineFirstNode))
      stage->set_first_node(node.str());
    if (auto node = stageModule->getAttrOfType<StringAttr>(nnc::attr::kPipelineLastNode))
      stage->set_last_node(node.str());
    for (auto planOp : stageModule.getOps<plan::PlanOp>())
      for (auto action : planOp.getBody().getOps<plan::PipelineActionOp>())
        serializeAction(action, *stage->add_actions());
  }
  return success();
}

} // namespace nnc
