// Plan parsing and validation. Every check here is one the executor and the devices rely on, so
// that a hostile or stale plan is refused up front instead of writing outside the arena later.
// Messages name the function and the user's node: "function 'predict', node 'fc1': ...".
#include "runtime/PlanLoader.h"

#include "support/Checksum.h"

#include "runtime/CpuFeatures.h"
#include "runtime/FileIO.h"
#include "runtime/HostTensor.h"
#include "runtime/Initializers.h"
#include "runtime/Shards.h"

#include <google/protobuf/stubs/logging.h>

#include <climits>
#include <initializer_list>
#include <set>

namespace nnrt {

using nnc::Status;

FloatType floatTypeOf(nnc::DType dtype) {
  return dtype == nnc::F16 ? FloatType::F16 : dtype == nnc::BF16 ? FloatType::BF16 : FloatType::F32;
}

GemmDesc gemmDescOf(const nnc::Gemm &gemm) {
  GemmDesc desc;
  desc.type = floatTypeOf(gemm.dtype());
  desc.batch = gemm.batch() == 0 ? 1 : gemm.batch();
  desc.m = gemm.m();
  desc.n = gemm.n();
  desc.k = gemm.k();
  desc.transposeB = gemm.transpose_b();
  desc.broadcastB = gemm.broadcast_b();
  desc.hasBias = gemm.bias().size() != 0;
  desc.postOp = gemm.post_op() == nnc::POST_OP_RELU ? PostOp::Relu : PostOp::None;
  desc.batchDims.assign(gemm.batch_dims().begin(), gemm.batch_dims().end());
  desc.aStrides.assign(gemm.a_strides().begin(), gemm.a_strides().end());
  desc.bStrides.assign(gemm.b_strides().begin(), gemm.b_strides().end());
  desc.cStrides.assign(gemm.c_strides().begin(), gemm.c_strides().end());
  return desc;
}

Conv2dDesc conv2dDescOf(const nnc::Conv2d &conv) {
  Conv2dDesc desc;
  desc.type = floatTypeOf(conv.dtype());
  auto copy = [](const auto &from, auto &to) {
    for (int i = 0; i < static_cast<int>(to.size()) && i < from.size(); ++i)
      to[i] = from[i];
  };
  copy(conv.input_shape(), desc.input);
  copy(conv.weight_shape(), desc.weight);
  copy(conv.output_shape(), desc.output);
  copy(conv.stride(), desc.stride);
  copy(conv.padding(), desc.padding);
  copy(conv.dilation(), desc.dilation);
  desc.groups = conv.groups() == 0 ? 1 : conv.groups();
  desc.hasBias = conv.bias().size() != 0;
  desc.postOp = conv.post_op() == nnc::POST_OP_RELU ? PostOp::Relu : PostOp::None;
  desc.pass = conv.pass() == nnc::CONV_PASS_BACKWARD_DATA      ? ConvPass::BackwardData
              : conv.pass() == nnc::CONV_PASS_BACKWARD_WEIGHTS ? ConvPass::BackwardWeights
                                                               : ConvPass::Forward;
  desc.inputKey = conv.input_key();
  desc.outputKey = conv.output_key();
  return desc;
}

AttentionDesc attentionDescOf(const nnc::CausalAttention &attention) {
  AttentionDesc desc;
  desc.backward = attention.backward();
  desc.batch = attention.batch();
  desc.t = attention.t();
  desc.d = attention.d();
  desc.scale = attention.scale();
  desc.type = floatTypeOf(attention.dtype());
  return desc;
}

const nnc::Function *findFunction(const nnc::Plan &plan, std::string_view name) {
  for (const nnc::Function &function : plan.functions())
    if (function.name() == name)
      return &function;
  return nullptr;
}

std::string describeCommand(const nnc::Command &command, int index) {
  return command.node().empty() ? "command " + std::to_string(index)
                                : "node '" + command.node() + "'";
}

namespace {

/// The product of non-negative factors, or -1 if one is negative or the product overflows.
int64_t product(const std::vector<int64_t> &factors) {
  int64_t result = 1;
  for (int64_t factor : factors)
    if (factor < 0 || __builtin_mul_overflow(result, factor, &result))
      return -1;
  return result;
}

std::string join(const std::vector<int64_t> &values) {
  std::string s;
  for (int64_t v : values)
    s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

class Validator {
public:
  explicit Validator(const nnc::Plan &plan) : plan_(plan) {}

  Status run() {
    if (plan_.version() == nnc::PLAN_VERSION_UNSET)
      return Status::error("not a plan (it has no plan version)");
    if (plan_.version() != nnc::PLAN_VERSION_CURRENT)
      return Status::error("plan version " + std::to_string(plan_.version()) +
                           " is not supported (this nnrun reads version " +
                           std::to_string(nnc::PLAN_VERSION_CURRENT) + ")");
    if (plan_.arena_bytes() < 0)
      return Status::error("negative arena size " + std::to_string(plan_.arena_bytes()));
    for (const nnc::TensorSlice &parameter : plan_.parameters())
      if (Status s = tensorSlice(parameter, "parameter"); !s.ok())
        return s;
    std::set<std::string> names;
    for (const nnc::Function &function : plan_.functions()) {
      if (!names.insert(function.name()).second)
        return Status::error("two functions named '" + function.name() + "'");
      if (Status s = checkFunction(function); !s.ok())
        return Status::error("function '" + function.name() + "', " + s.message());
    }
    return Status();
  }

private:
  Status checkFunction(const nnc::Function &function) {
    for (const nnc::TensorSlice &input : function.inputs()) {
      if (Status s = tensorSlice(input, "input"); !s.ok())
        return s;
      bool ids = input.type().dtype() == nnc::I64 || input.type().dtype() == nnc::I32;
      if (input.index_limit() < 0 || (input.index_limit() > 0 && !ids))
        return Status::error("input '" + input.name() + "' has index_limit " +
                             std::to_string(input.index_limit()) +
                             " (a limit must be positive, on an integer input)");
    }
    for (const nnc::TensorSlice &output : function.outputs())
      if (Status s = tensorSlice(output, "output"); !s.ok())
        return s;
    // Collectives start in sequence order and each is waited for, in the same order, before
    // the function ends: the runtime completes them first in, first out.
    int64_t started = 0, waited = 0;
    for (int i = 0; i < function.commands_size(); ++i) {
      const nnc::Command &command = function.commands(i);
      Status s = checkCommand(command);
      if (s.ok() && command.has_all_reduce_start() &&
          command.all_reduce_start().sequence() != started++)
        s = Status::error("all-reduce " + std::to_string(command.all_reduce_start().sequence()) +
                          " starts out of order (expected " + std::to_string(started - 1) + ")");
      if (s.ok() && command.has_all_reduce_wait() &&
          (command.all_reduce_wait().sequence() != waited++ || waited > started))
        s = Status::error("waits for all-reduce " +
                          std::to_string(command.all_reduce_wait().sequence()) +
                          " out of order or before it starts");
      if (!s.ok())
        return Status::error(describeCommand(command, i) + ": " + s.message());
    }
    if (waited != started)
      return Status::error("all-reduce " + std::to_string(waited) + " is never waited for");
    return Status();
  }

  /// `slice` lies in the arena and, if expectedBytes >= 0, has that size.
  Status slice(const nnc::Slice &slice, int64_t expectedBytes, const std::string &what) {
    if (slice.offset() < 0 || slice.size() < 0 ||
        slice.offset() > plan_.arena_bytes() - slice.size())
      return Status::error(what + " [offset " + std::to_string(slice.offset()) + ", " +
                           std::to_string(slice.size()) + " bytes] lies outside the arena (" +
                           std::to_string(plan_.arena_bytes()) + " bytes)");
    if (expectedBytes >= 0 && slice.size() != expectedBytes)
      return Status::error(what + " has " + std::to_string(slice.size()) + " bytes, expected " +
                           std::to_string(expectedBytes));
    return Status();
  }

  /// An optional bias: size 0 (none) or exactly `bytes`.
  Status bias(const nnc::Slice &bias, int64_t bytes) {
    return slice(bias, bias.size() == 0 ? 0 : bytes, "bias");
  }

  Status tensorSlice(const nnc::TensorSlice &tensor, const std::string &role) {
    std::string what = role + " '" + tensor.name() + "'";
    int64_t bytes = byteSize(tensor.type().dtype(), shapeOf(tensor.type()));
    if (tensor.name().empty())
      return Status::error(role + " without a name");
    if (bytes < 0)
      return Status::error(what + " has an invalid type " + formatShape(shapeOf(tensor.type())) +
                           " " + formatDType(tensor.type().dtype()));
    // A tensor-parallel parameter's slice holds one rank's part of its (whole) type; ZeRO-1's
    // state, its shard of the part (the split then applies to the logical type).
    nnc::StatusOr<int64_t> part = partBytes(tensor.type().dtype(), shapeOf(tensor.type()),
                                            tensor.has_zero_logical() ? ShardSpec()
                                                                      : shardOf(tensor));
    if (!part.ok())
      return Status::error(what + ": " + part.status().message());
    return slice(tensor.slice(), *part, what);
  }

  Status checkCommand(const nnc::Command &command) {
    switch (command.kind_case()) {
    case nnc::Command::kKernel:
      return kernel(command.kernel());
    case nnc::Command::kGemm:
      return gemm(command.gemm());
    case nnc::Command::kConv2D:
      return conv2d(command.conv2d());
    case nnc::Command::kInitParameter: {
      const nnc::InitParameter &init = command.init_parameter();
      if (Status s = checkInitializer(init.init(), init.type()); !s.ok())
        return s;
      nnc::StatusOr<int64_t> part =
          partBytes(init.type().dtype(), shapeOf(init.type()), shardOf(init));
      if (!part.ok())
        return Status::error("parameter slice: " + part.status().message());
      return slice(init.slice(), *part, "parameter slice");
    }
    case nnc::Command::kWriteBytes:
      if (shardOf(command.write_bytes()).split())
        return splitWrite(command.write_bytes());
      return slice(command.write_bytes().slice(),
                   static_cast<int64_t>(command.write_bytes().data().size()), "write_bytes slice");
    case nnc::Command::kCopy:
      return copy(command.copy());
    case nnc::Command::kAllReduceStart:
      return allReduce(command.all_reduce_start());
    case nnc::Command::kAllReduceWait:
      return Status();
    case nnc::Command::kTensorAllReduce:
      return tensorAllReduce(command.tensor_all_reduce());
    case nnc::Command::kCausalAttention:
      return causalAttention(command.causal_attention());
    case nnc::Command::kReduceScatter:
      return shardSlices(command.reduce_scatter().source(), command.reduce_scatter().result(),
                         "reduce-scatter");
    case nnc::Command::kAllGather:
      return shardSlices(command.all_gather().result(), command.all_gather().source(),
                         "all-gather");
    case nnc::Command::kTakeShard:
      return shardSlices(command.take_shard().source(), command.take_shard().result(),
                         "take-shard");
    case nnc::Command::kTensorRank: // one i32 or i64
      if (command.tensor_rank().group().empty())
        return Status::error("tensor rank without a group");
      if (command.tensor_rank().result().size() != 8)
        return slice(command.tensor_rank().result(), 4, "tensor rank");
      return slice(command.tensor_rank().result(), 8, "tensor rank");
    case nnc::Command::KIND_NOT_SET:
      break;
    }
    return Status::error("command of unknown kind (a newer plan format?)");
  }

  /// A split parameter's stored values: the whole f32 tensor in `data`, a part in the slice.
  Status splitWrite(const nnc::WriteBytes &write) {
    Shape whole = shapeOf(write.type());
    nnc::StatusOr<int64_t> part = partBytes(write.type().dtype(), whole, shardOf(write));
    if (!part.ok())
      return Status::error("write_bytes of a split parameter: " + part.status().message());
    if (write.type().dtype() != nnc::F32 ||
        static_cast<int64_t>(write.data().size()) != byteSize(nnc::F32, whole))
      return Status::error("write_bytes of a split parameter has " +
                           std::to_string(write.data().size()) + " bytes, not the whole f32 " +
                           formatShape(whole));
    return slice(write.slice(), *part, "write_bytes slice");
  }

  /// ZeRO-1 (issue 20): the whole tensor and its shard in the arena, whole f32 values, the shard
  /// no larger than the tensor (the executor checks it against the number of ranks).
  Status shardSlices(const nnc::Slice &whole, const nnc::Slice &shard, const std::string &what) {
    Status s = slice(whole, -1, what + " tensor");
    if (s.ok())
      s = slice(shard, -1, what + " shard");
    if (s.ok() && (whole.size() % 4 != 0 || shard.size() % 4 != 0 || shard.size() > whole.size()))
      s = Status::error(what + " of " + std::to_string(whole.size()) + " bytes into shards of " +
                        std::to_string(shard.size()) + " bytes (whole f32 values, no larger)");
    return s;
  }

  Status kernel(const nnc::KernelCall &kernel) {
    if (kernel.symbol().empty())
      return Status::error("kernel call without a symbol");
    if (plan_.kernel_library().empty())
      return Status::error("kernel '" + kernel.symbol() + "' but the plan has no kernel library");
    for (int i = 0; i < kernel.args_size(); ++i)
      if (Status s = slice(kernel.args(i), -1, "argument " + std::to_string(i)); !s.ok())
        return s;
    return Status();
  }

  /// f32 sources and results in the arena, pairwise of one size.
  Status allReduce(const nnc::AllReduceStart &reduce) {
    if (reduce.dtype() != nnc::F32)
      return Status::error("all-reduce of " + formatDType(reduce.dtype()) + " (only f32 is supported)");
    if (reduce.sources_size() != reduce.results_size())
      return Status::error("all-reduce with " + std::to_string(reduce.sources_size()) +
                           " sources but " + std::to_string(reduce.results_size()) + " results");
    for (int i = 0; i < reduce.sources_size(); ++i) {
      const nnc::Slice &source = reduce.sources(i);
      Status s = slice(source, -1, "all-reduce source " + std::to_string(i));
      if (s.ok())
        s = slice(reduce.results(i), source.size(), "all-reduce result " + std::to_string(i));
      if (s.ok() && source.size() % dtypeSize(reduce.dtype()) != 0)
        s = Status::error("all-reduce source " + std::to_string(i) + " is not whole " +
                          formatDType(reduce.dtype()) + " values");
      if (!s.ok())
        return s;
    }
    return Status();
  }

  /// f32 source and result of one size in the arena, and a group to reduce over.
  Status tensorAllReduce(const nnc::TensorAllReduce &reduce) {
    if (reduce.group().empty())
      return Status::error("tensor all-reduce without a group");
    Status s = slice(reduce.source(), -1, "tensor all-reduce source");
    if (s.ok())
      s = slice(reduce.result(), reduce.source().size(), "tensor all-reduce result");
    if (s.ok() && reduce.source().size() % 4 != 0)
      s = Status::error("tensor all-reduce source is not whole f32 values");
    return s;
  }

  /// Both slices in the arena, equal sizes, disjoint: the device copies with memcpy, which
  /// overlapping ranges would corrupt.
  Status copy(const nnc::Copy &copy) {
    const nnc::Slice &src = copy.src(), &dst = copy.dst();
    Status s = slice(src, -1, "copy source");
    if (s.ok())
      s = slice(dst, -1, "copy destination");
    if (!s.ok())
      return s;
    if (src.size() != dst.size())
      return Status::error("copy source has " + std::to_string(src.size()) +
                           " bytes but its destination " + std::to_string(dst.size()));
    if (src.size() > 0 && src.offset() < dst.offset() + dst.size() &&
        dst.offset() < src.offset() + src.size())
      return Status::error("copy source [offset " + std::to_string(src.offset()) +
                           "] and destination [offset " + std::to_string(dst.offset()) + "] of " +
                           std::to_string(src.size()) + " bytes overlap");
    return Status();
  }

  Status postOp(nnc::PostOp op) {
    if (!nnc::PostOp_IsValid(op))
      return Status::error("unknown post-op " + std::to_string(op));
    return Status();
  }

  /// Library calls compute in one float type; unset means F32.
  static Status floatDType(nnc::DType dtype, const char *what) {
    if (dtype == nnc::DTYPE_UNSET || dtype == nnc::F32 || dtype == nnc::F16 || dtype == nnc::BF16)
      return Status();
    return Status::error(std::string(what) + " dtype must be F32, F16 or BF16, got " +
                         std::to_string(dtype));
  }

  /// The elements a strided gemm's a, b and c span (the furthest one + 1), once its strides
  /// are consistent: one per dimension, none negative, and no other layout flag.
  static nnc::StatusOr<std::array<int64_t, 3>> stridedGemmExtents(const GemmDesc &d) {
    size_t rank = d.batchDims.size() + 2;
    if (d.aStrides.size() != rank || d.bStrides.size() != rank || d.cStrides.size() != rank)
      return Status::error("strided gemm needs " + std::to_string(rank) +
                           " strides for each of a, b and c (batch_dims + 2)");
    if (d.transposeB || d.broadcastB || d.hasBias || product(d.batchDims) != d.batch)
      return Status::error("strided gemm: batch must be the product of batch_dims, without "
                           "transpose_b, broadcast_b or bias");
    std::vector<int64_t> dims = d.batchDims;
    auto extent = [&](const std::vector<int64_t> &strides, int64_t rows, int64_t cols) {
      dims.resize(rank - 2);
      dims.insert(dims.end(), {rows, cols});
      int64_t last = 0;
      for (size_t i = 0; i < rank; ++i) {
        // Only b's batch dimensions broadcast (stride 0); a and c step through memory.
        bool broadcasts = &strides == &d.bStrides && i + 2 < rank;
        if (strides[i] == 0 && !broadcasts)
          return int64_t(-1);
        int64_t step = dims[i] <= 0 ? -1 : product({dims[i] - 1, strides[i]});
        if (step < 0 || __builtin_add_overflow(last, step, &last))
          return int64_t(-1);
      }
      return last + 1;
    };
    std::array<int64_t, 3> extents = {extent(d.aStrides, d.m, d.k), extent(d.bStrides, d.k, d.n),
                                      extent(d.cStrides, d.m, d.n)};
    if (extents[0] <= 0 || extents[1] <= 0 || extents[2] <= 0)
      return Status::error("strided gemm needs positive batch_dims and positive strides (0 "
                           "only for a batch dimension of b) that do not overflow");
    return extents;
  }

  Status gemm(const nnc::Gemm &gemm) {
    if (Status s = floatDType(gemm.dtype(), "gemm"); !s.ok())
      return s;
    GemmDesc d = gemmDescOf(gemm);
    if (d.batch <= 0 || d.m <= 0 || d.n <= 0 || d.k <= 0)
      return Status::error("gemm needs positive sizes, got batch " + std::to_string(d.batch) +
                           ", m " + std::to_string(d.m) + ", n " + std::to_string(d.n) +
                           ", k " + std::to_string(d.k));
    int64_t e = bytesOf(d.type);
    int64_t a = product({d.batch, d.m, d.k, e}), c = product({d.batch, d.m, d.n, e});
    int64_t b = product({d.broadcastB ? 1 : d.batch, d.k, d.n, e});
    if (!d.batchDims.empty() || !d.aStrides.empty() || !d.bStrides.empty() ||
        !d.cStrides.empty()) {
      nnc::StatusOr<std::array<int64_t, 3>> extents = stridedGemmExtents(d);
      if (!extents.ok())
        return extents.status();
      a = (*extents)[0] * e;
      b = (*extents)[1] * e;
      c = (*extents)[2] * e;
    }
    if (a < 0 || b < 0 || c < 0)
      return Status::error("gemm sizes overflow");
    Status s = slice(gemm.a(), a, "operand a");
    if (s.ok())
      s = slice(gemm.b(), b, "operand b");
    if (s.ok())
      s = slice(gemm.c(), c, "operand c");
    if (s.ok())
      s = bias(gemm.bias(), d.n * e);
    if (s.ok())
      s = postOp(gemm.post_op());
    return s;
  }

  // Issue 23: every operand (batch, t, d) in the dtype, lse (batch, t) f32.
  Status causalAttention(const nnc::CausalAttention &attention) {
    if (attention.dtype() != nnc::DTYPE_UNSET && attention.dtype() != nnc::F32 &&
        attention.dtype() != nnc::BF16)
      return Status::error("causal attention dtype must be F32 or BF16, got " +
                           std::to_string(attention.dtype()));
    AttentionDesc d = attentionDescOf(attention);
    if (d.batch <= 0 || d.t <= 0 || d.d <= 0)
      return Status::error("causal attention needs positive sizes, got batch " +
                           std::to_string(d.batch) + ", t " + std::to_string(d.t) + ", d " +
                           std::to_string(d.d));
    int expected = d.backward ? 9 : 5;
    if (attention.args_size() != expected)
      return Status::error("causal attention needs " + std::to_string(expected) + " operands, got " +
                           std::to_string(attention.args_size()));
    int64_t tensor = product({d.batch, d.t, d.d, bytesOf(d.type)});
    int64_t lse = product({d.batch, d.t, 4});
    if (tensor < 0 || lse < 0)
      return Status::error("causal attention sizes overflow");
    for (int i = 0; i < expected; ++i)
      if (Status s = slice(attention.args(i), i == 4 ? lse : tensor,
                           "causal attention operand " + std::to_string(i));
          !s.ok())
        return s;
    return Status();
  }

  Status conv2d(const nnc::Conv2d &conv) {
    if (Status s = floatDType(conv.dtype(), "conv2d"); !s.ok())
      return s;
    auto fourPositive = [](const auto &dims) {
      if (dims.size() != 4)
        return false;
      for (int64_t d : dims)
        if (d <= 0)
          return false;
      return true;
    };
    if (!fourPositive(conv.input_shape()) || !fourPositive(conv.weight_shape()) ||
        !fourPositive(conv.output_shape()))
      return Status::error("conv2d needs 4 positive dimensions in input, weight and output shapes");
    if ((conv.stride_size() != 0 && conv.stride_size() != 2) ||
        (conv.padding_size() != 0 && conv.padding_size() != 2) ||
        (conv.dilation_size() != 0 && conv.dilation_size() != 2) || conv.groups() < 0)
      return Status::error("conv2d stride, padding and dilation take 2 values (height, width)");
    // Bounding every size keeps the arithmetic below far from int64 overflow.
    for (const auto *values : {&conv.input_shape(), &conv.weight_shape(), &conv.output_shape(),
                               &conv.stride(), &conv.padding(), &conv.dilation()})
      for (int64_t v : *values)
        if (v > INT32_MAX)
          return Status::error("conv2d size " + std::to_string(v) + " is too large");
    if (conv.groups() > INT32_MAX)
      return Status::error("conv2d groups " + std::to_string(conv.groups()) + " is too large");
    Conv2dDesc d = conv2dDescOf(conv);
    auto [n, c, h, w] = d.input;
    auto [o, cPerGroup, kh, kw] = d.weight;
    std::vector<int64_t> expected = {n, o, 0, 0};
    for (int i = 0; i < 2; ++i) {
      if (d.stride[i] < 1 || d.dilation[i] < 1 || d.padding[i] < 0)
        return Status::error("conv2d needs stride >= 1, dilation >= 1 and padding >= 0");
      int64_t size = i == 0 ? h : w, kernel = i == 0 ? kh : kw;
      // PyTorch's floor((size + 2 pad - dilation (kernel - 1) - 1) / stride) + 1.
      int64_t span = size + 2 * d.padding[i] - d.dilation[i] * (kernel - 1) - 1;
      expected[2 + i] = span < 0 ? 0 : span / d.stride[i] + 1;
    }
    if (cPerGroup * d.groups != c || o % d.groups != 0)
      return Status::error("conv2d weight " + join({o, cPerGroup, kh, kw}) + " does not fit " +
                           std::to_string(c) + " input channels in " + std::to_string(d.groups) +
                           " groups");
    std::vector<int64_t> output(d.output.begin(), d.output.end());
    if (output != expected)
      return Status::error("conv2d output shape [" + join(output) + "] should be [" +
                           join(expected) + "]");
    int64_t e = bytesOf(d.type);
    int64_t inBytes = product({n, c, h, w, e}), weightBytes = product({o, cPerGroup, kh, kw, e});
    int64_t outBytes = product({n, o, expected[2], expected[3], e});
    if (inBytes < 0 || weightBytes < 0 || outBytes < 0)
      return Status::error("conv2d sizes overflow");
    Status s = slice(conv.input(), inBytes, "input");
    if (s.ok())
      s = slice(conv.weight(), weightBytes, "weight");
    if (s.ok())
      s = slice(conv.output(), outBytes, "output");
    if (s.ok()) // dL/dbias (backward_weights) is f32 whatever the dtype
      s = bias(conv.bias(), o * (conv.pass() == nnc::CONV_PASS_BACKWARD_WEIGHTS ? 4 : e));
    if (s.ok())
      s = postOp(conv.post_op());
    if (s.ok() && !nnc::ConvPass_IsValid(conv.pass()))
      s = Status::error("conv2d has an unknown pass " + std::to_string(conv.pass()));
    if (s.ok() && conv.pass() != nnc::CONV_PASS_FORWARD && conv.post_op() != nnc::POST_OP_NONE)
      s = Status::error("a backward conv2d pass takes no post_op");
    if (s.ok() && conv.pass() == nnc::CONV_PASS_BACKWARD_DATA && conv.bias().size() != 0)
      s = Status::error("a backward_data conv2d takes no bias");
    for (int64_t key : {conv.input_key(), conv.output_key()})
      if (s.ok() && (key < 0 || key >= (int64_t(1) << 32)))
        s = Status::error("conv2d key " + std::to_string(key) + " is outside [0, 2^32)");
    return s;
  }

  const nnc::Plan &plan_;
};

} // namespace

Status validatePlan(const nnc::Plan &plan) { return Validator(plan).run(); }

nnc::StatusOr<nnc::Plan> parsePlan(std::string_view bytes) {
  if (bytes.empty())
    return Status::error("empty file, not a plan");
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return Status::error("plans larger than 2 GiB are not supported");
  nnc::Plan plan;
  {
    // Protobuf logs some parse failures (invalid UTF-8 in a string) to stderr itself; the caller
    // reports the failure as one line.
    google::protobuf::LogSilencer silence;
    if (!plan.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      return Status::error("not a plan, or a truncated or corrupt one (protobuf parse failed)");
  }
  // A damaged plan is refused before anything in it is trusted; another version is named first.
  if (plan.version() == nnc::PLAN_VERSION_CURRENT && plan.checksum() != nnc::planChecksum(plan))
    return Status::error("the plan is corrupt (checksum mismatch)");
  if (Status s = validatePlan(plan); !s.ok())
    return s;
  const nnc::PlanMetadata &metadata = plan.metadata();
  std::vector<std::string> features(metadata.cpu_features().begin(),
                                    metadata.cpu_features().end());
  if (Status s = checkCpuFeatures(features, metadata.target_cpu()); !s.ok())
    return s;
  return plan;
}

namespace {

/// A file that did not load as a plan but is what `nnc compile` reads: an nnc.Model with nodes,
/// or by its name a text-format model or an ONNX file.
bool isModel(const std::string &path, std::string_view bytes) {
  auto endsWith = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(),
                                                        suffix.size(), suffix) == 0;
  };
  if (endsWith(".pbtxt") || endsWith(".onnx"))
    return true;
  nnc::Model model;
  google::protobuf::LogSilencer silence;
  return bytes.size() <= static_cast<size_t>(INT_MAX) &&
         model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) &&
         model.nodes_size() > 0;
}

} // namespace

nnc::StatusOr<nnc::Plan> loadPlan(const std::string &path) {
  nnc::StatusOr<std::string> bytes = readFile(path);
  if (!bytes.ok())
    return bytes.status();
  nnc::StatusOr<nnc::Plan> plan = parsePlan(*bytes);
  if (!plan.ok() && isModel(path, *bytes))
    return Status::error(path + ": this is a model, not a plan: compile it first (nnc compile " +
                         path + " -o model.plan)");
  if (!plan.ok())
    return Status::error(path + ": " + plan.status().message());
  return plan;
}

} // namespace nnrt
