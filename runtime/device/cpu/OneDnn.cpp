// oneDNN (v2 API: op descriptor -> primitive_desc -> primitive) behind the cpu driver's library
// calls. Gemm memory descriptors describe the plan's row-major layouts exactly. Convolutions let
// oneDNN pick its layouts (blocked nChw16c runs its direct AVX-512 kernels, several times faster
// than the plain-NCHW gemm path) and reorder to and from the plan's NCHW around the call. Memory
// objects are created once and only re-pointed (set_data_handle) per run.
#include "runtime/device/cpu/OneDnn.h"

#include <dnnl.hpp>
#include <omp.h>

#include <unordered_map>
#include <vector>

namespace nnrt {

struct OneDnnContext {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  /// Operands converted once for several calls (Conv2dDesc's keys): key -> the layouts and the
  /// copy that the first call to read them, its owner, writes each time it runs.
  struct SharedOperand {
    dnnl::memory::desc plain, chosen;
    dnnl::memory copy;
  };
  std::unordered_map<int64_t, SharedOperand> sharedOperands;
};

void OneDnnContextDeleter::operator()(OneDnnContext *context) const { delete context; }

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

memory::data_type dataTypeOf(FloatType type) {
  switch (type) {
  case FloatType::F16:
    return memory::data_type::f16;
  case FloatType::BF16:
    return memory::data_type::bf16;
  case FloatType::F32:
    break;
  }
  return memory::data_type::f32;
}

nnc::Status oneDnnError(const char *what, const std::exception &e) {
  return nnc::Status::error(std::string("oneDNN ") + what + ": " + e.what());
}

/// ReLU as PyTorch computes it, over the bits of `count` values of `type` at `data`: negative
/// values (-inf and -0 too) become +0, NaN stays. oneDNN's relu post-op (a vmaxps against 0 in
/// its JIT kernels) turns NaN into 0; its elu(0) keeps NaN but costs 2.8x on a 1-channel conv.
/// As signed integers, the negative floats that are not NaN are exactly those <= -inf's bits:
/// one compare per value.
template <typename Bits>
void reluKeepingNan(Bits *x, int64_t count, Bits negativeInfinity) {
  // Workers wake only for outputs worth it (the pool's wake-up costs microseconds). Two loops,
  // not an `if` clause: with one, GCC vectorizes only the parallel version.
  if (count > (int64_t(1) << 18)) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < count; ++i)
      x[i] = x[i] <= negativeInfinity ? Bits(0) : x[i];
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < count; ++i)
    x[i] = x[i] <= negativeInfinity ? Bits(0) : x[i];
}

void reluKeepingNan(void *data, int64_t count, FloatType type) {
  switch (type) {
  case FloatType::F32:
    return reluKeepingNan(static_cast<int32_t *>(data), count, int32_t(0xff800000u));
  case FloatType::F16:
    return reluKeepingNan(static_cast<int16_t *>(data), count, int16_t(0xfc00u));
  case FloatType::BF16:
    return reluKeepingNan(static_cast<int16_t *>(data), count, int16_t(0xff80u));
  }
}

/// A library call, then ReLU over its output (operand 3, `count` values of `type`).
class ReluAfterCall final : public LibraryCall {
public:
  ReluAfterCall(std::unique_ptr<LibraryCall> call, int64_t count, FloatType type)
      : call_(std::move(call)), count_(count), type_(type) {}

  nnc::Status run(const LibraryOperands &operands) override {
    if (nnc::Status s = call_->run(operands); !s.ok())
      return s;
    reluKeepingNan(operands[3], count_, type_);
    return nnc::Status();
  }

private:
  std::unique_ptr<LibraryCall> call_;
  int64_t count_;
  FloatType type_;
};

/// Issue 23: a call too small to share runs on the calling thread alone. Waking the pool's other
/// thread and meeting it at the barrier costs microseconds (and, while another process holds its
/// core, a scheduler time slice); a product of 2^20 FLOPs takes about 10 us on one AVX-512 core,
/// 5 on two plus the wake-up. The primitive keeps the blocking it was created with, so the
/// result is the same as on the pool.
class OnCallingThread final : public LibraryCall {
public:
  explicit OnCallingThread(std::unique_ptr<LibraryCall> call) : call_(std::move(call)) {}

  nnc::Status run(const LibraryOperands &operands) override {
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    nnc::Status status = call_->run(operands);
    omp_set_num_threads(threads);
    return status;
  }

private:
  std::unique_ptr<LibraryCall> call_;
};

/// Below this many FLOPs a GEMM runs on the calling thread (OnCallingThread).
constexpr int64_t kOneThreadFlops = int64_t(1) << 20;

/// A primitive and its four operand memories, in LibraryOperands order; the bias memory is empty
/// (get(true) == nullptr) when there is no bias.
class OneDnnCall final : public LibraryCall {
public:
  OneDnnCall(OneDnnContext &context, dnnl::primitive primitive, std::array<memory, 4> memories)
      : context_(context), primitive_(std::move(primitive)), memories_(std::move(memories)) {
    constexpr int kArgs[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    // dnnl::memory is a shared handle: the map's copies see set_data_handle on memories_.
    for (int i = 0; i < 4; ++i)
      if (memories_[i].get(true))
        args_.emplace(kArgs[i], memories_[i]);
  }

  nnc::Status run(const LibraryOperands &operands) override {
    try {
      for (int i = 0; i < 4; ++i)
        if (memories_[i].get(true))
          memories_[i].set_data_handle(operands[i]);
      primitive_.execute(context_.stream, args_);
      // Kernels run on the calling thread right after; the cpu stream is in order and this wait
      // returns at once, but it keeps the contract explicit.
      context_.stream.wait();
    } catch (const std::exception &e) {
      return oneDnnError("execution failed", e);
    }
    return nnc::Status();
  }

private:
  OneDnnContext &context_;
  dnnl::primitive primitive_;
  std::array<memory, 4> memories_;
  std::unordered_map<int, memory> args_;
};

/// One operand of a primitive: the plan's plain layout and type, the ones the primitive chose,
/// the primitive's argument, and whether the primitive writes it.
struct ConvOperand {
  memory::desc plain, chosen;
  int arg = 0;
  bool written = false;
  int64_t key = 0; // Conv2dDesc's inputKey / outputKey for operands read
};

/// A primitive in its preferred layouts (or compute type): each plan operand whose layout or
/// type differs is reordered into a buffer owned by the call before it runs (operands it reads)
/// or after (operands it writes). The buffers live outside the arena, for the plan's lifetime.
class OneDnnReorderedCall final : public LibraryCall {
public:
  OneDnnReorderedCall(OneDnnContext &context, dnnl::primitive primitive,
                 const std::array<ConvOperand, 4> &operands)
      : context_(context), conv_(std::move(primitive)) {
    for (int i = 0; i < 4; ++i) {
      const ConvOperand &operand = operands[i];
      if (operand.plain.is_zero())
        continue;
      plain_[i] = memory(operand.plain, context.engine, DNNL_MEMORY_NONE);
      if (operand.chosen == operand.plain) {
        args_.emplace(operand.arg, plain_[i]);
        continue;
      }
      if (!operand.written && operand.key != 0) {
        auto found = context.sharedOperands.find(operand.key);
        if (found != context.sharedOperands.end() && found->second.plain == operand.plain &&
            found->second.chosen == operand.chosen) {
          args_.emplace(operand.arg, found->second.copy); // converted by its owner, earlier
          continue;
        }
      }
      memory blocked(operand.chosen, context.engine); // owned by oneDNN, freed with the call
      args_.emplace(operand.arg, blocked);
      if (operand.written) {
        after_.push_back({dnnl::reorder(blocked, plain_[i]), blocked, plain_[i]});
        continue;
      }
      before_.push_back({dnnl::reorder(plain_[i], blocked), plain_[i], blocked});
      if (operand.key != 0 && context.sharedOperands
                                  .try_emplace(operand.key, OneDnnContext::SharedOperand{
                                                                operand.plain, operand.chosen,
                                                                blocked})
                                  .second)
        owned_.push_back(operand.key);
    }
  }

  ~OneDnnReorderedCall() override {
    for (int64_t key : owned_)
      context_.sharedOperands.erase(key);
  }

  nnc::Status run(const LibraryOperands &operands) override {
    try {
      for (int i = 0; i < 4; ++i)
        if (plain_[i].get(true))
          plain_[i].set_data_handle(operands[i]);
      for (Reorder &r : before_)
        r.primitive.execute(context_.stream, r.from, r.to);
      conv_.execute(context_.stream, args_);
      for (Reorder &r : after_)
        r.primitive.execute(context_.stream, r.from, r.to);
      context_.stream.wait();
    } catch (const std::exception &e) {
      return oneDnnError("execution failed", e);
    }
    return nnc::Status();
  }

private:
  struct Reorder {
    dnnl::reorder primitive;
    memory from, to;
  };
  OneDnnContext &context_;
  dnnl::primitive conv_;
  std::array<memory, 4> plain_;
  std::vector<Reorder> before_, after_;
  std::unordered_map<int, memory> args_;
  std::vector<int64_t> owned_; // keys of the shared copies this call writes
};

} // namespace

nnc::StatusOr<OneDnnContextPtr> createOneDnnContext() {
  try {
    return OneDnnContextPtr(new OneDnnContext());
  } catch (const std::exception &e) {
    return oneDnnError("initialization failed", e);
  }
}

// 1. A broadcast b is one (k, n) matrix for every batch, so the batch folds into m: one large
//    2-D product instead of `batch` small ones, and no batch strides to describe.
// 2. transpose_b is a layout, not a copy: b stored as (n, k) is the (k, n) matrix with strides
//    (1, k), which oneDNN reads directly.
// 3. Bias (n) broadcasts over rows (and batches) as a (1, n) / (1, 1, n) tensor.
// 4. Strided operands are memory descriptors with those strides (oneDNN's brgemm kernels read
//    a transposed or row-strided matrix directly); a broadcast b has batch dimensions of 1.
static nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareGemm(OneDnnContext &context,
                                                               const GemmDesc &desc) {
  int64_t batch = desc.batch, m = desc.m, n = desc.n, k = desc.k;
  if (desc.broadcastB) {
    m *= batch;
    batch = 1;
  }
  auto stridedDescsOf = [&](memory::data_type type) {
    memory::dims aDims(desc.batchDims), bDims(desc.batchDims), cDims(desc.batchDims);
    memory::dims bStrides(desc.bStrides);
    for (size_t i = 0; i < desc.batchDims.size(); ++i)
      if (bStrides[i] == 0) { // broadcast: any stride describes a dimension of 1
        bDims[i] = 1;
        bStrides[i] = k * n;
      }
    aDims.insert(aDims.end(), {m, k});
    bDims.insert(bDims.end(), {k, n});
    cDims.insert(cDims.end(), {m, n});
    return std::array<memory::desc, 4>{memory::desc(aDims, type, desc.aStrides),
                                       memory::desc(bDims, type, bStrides), memory::desc(),
                                       memory::desc(cDims, type, desc.cStrides)};
  };
  // {a, b, bias, c} in the plan's layouts, with elements of `type`.
  auto descsOf = [&](memory::data_type type) {
    if (desc.strided())
      return stridedDescsOf(type);
    memory::dims bStrides = desc.transposeB ? memory::dims{1, k} : memory::dims{n, 1};
    std::array<memory::desc, 4> d;
    if (batch == 1) {
      d = {memory::desc({m, k}, type, Tag::ab), memory::desc({k, n}, type, bStrides),
           desc.hasBias ? memory::desc({1, n}, type, Tag::ab) : memory::desc(),
           memory::desc({m, n}, type, Tag::ab)};
    } else {
      bStrides.insert(bStrides.begin(), k * n);
      d = {memory::desc({batch, m, k}, type, Tag::abc), memory::desc({batch, k, n}, type, bStrides),
           desc.hasBias ? memory::desc({1, 1, n}, type, Tag::abc) : memory::desc(),
           memory::desc({batch, m, n}, type, Tag::abc)};
    }
    return d;
  };
  auto primitiveFor = [&](const std::array<memory::desc, 4> &d) {
    dnnl::matmul::desc opDesc = desc.hasBias ? dnnl::matmul::desc(d[0], d[1], d[2], d[3])
                                             : dnnl::matmul::desc(d[0], d[1], d[3]);
    return dnnl::matmul::primitive_desc(opDesc, context.engine);
  };
  std::array<memory::desc, 4> plain = descsOf(dataTypeOf(desc.type));
  try {
    dnnl::matmul::primitive_desc pd = primitiveFor(plain);
    std::array<memory, 4> memories;
    for (int i = 0; i < 4; ++i)
      if (!plain[i].is_zero())
        memories[i] = memory(plain[i], context.engine, DNNL_MEMORY_NONE);
    return std::unique_ptr<LibraryCall>(
        std::make_unique<OneDnnCall>(context, dnnl::matmul(pd), std::move(memories)));
  } catch (const std::exception &e) {
    if (desc.type != FloatType::F16)
      return oneDnnError("cannot prepare the gemm", e);
  }
  // oneDNN has f16 matmuls only on CPUs with AVX512-FP16: elsewhere compute in f32, converting
  // the operands on the way in and the result on the way out.
  try {
    std::array<memory::desc, 4> wide = descsOf(memory::data_type::f32);
    dnnl::matmul::primitive_desc pd = primitiveFor(wide);
    constexpr int kArgs[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    std::array<ConvOperand, 4> operands;
    for (int i = 0; i < 4; ++i)
      operands[i] = {plain[i], wide[i], kArgs[i], i == 3};
    return std::unique_ptr<LibraryCall>(
        std::make_unique<OneDnnReorderedCall>(context, dnnl::matmul(pd), operands));
  } catch (const std::exception &e) {
    return oneDnnError("cannot prepare the gemm", e);
  }
}

// PyTorch and oneDNN differ in two conventions: oneDNN's dilation counts the *extra* gap (0 for
// a dense kernel, PyTorch's 1), and groups are a leading weight dimension (G, O/G, C/G, KH, KW)
// over the same bytes as PyTorch's (O, C/G, KH, KW). Padding is symmetric, as nn.conv2d's.
// Every pass builds the forward primitive descriptor for forward_training: the backward passes
// need it as a hint (oneDNN matches their algorithm and layouts to it), and the forward pass of
// a training step then uses the same blocked layouts (nChw16c), whose reorders from and to the
// plan's NCHW are cheap. forward_inference picks brgconv with NHWC instead; its NHWC <-> NCHW
// reorders cost more than the convolution saves (issue 23: 2 ms of a 35 ms CNN step).
/// The convolution of `desc` computed in `compute` (its operands' type, or f32 for f16 operands
/// where oneDNN has no f16 convolution: the reorders around the call convert).
static std::unique_ptr<LibraryCall> buildConv2d(OneDnnContext &context, const Conv2dDesc &desc,
                                                memory::data_type compute) {
  const memory::data_type type = dataTypeOf(desc.type); // of every operand in the plan
  const auto &[n, c, h, w] = desc.input;
  const auto &[o, cPerGroup, kh, kw] = desc.weight;
  const auto &out = desc.output;
  int64_t groups = desc.groups;
  memory::dims srcDims = {n, c, h, w}, dstDims = {out[0], out[1], out[2], out[3]};
  memory::dims weightDims = groups == 1 ? memory::dims{o, cPerGroup, kh, kw}
                                        : memory::dims{groups, o / groups, cPerGroup, kh, kw};
  memory::desc src(srcDims, type, Tag::nchw), dst(dstDims, type, Tag::nchw);
  memory::desc weights(weightDims, type, groups == 1 ? Tag::oihw : Tag::goihw);
  // dL/dbias (backward_weights) is f32 whatever the other operands' type.
  const bool f32Bias = desc.pass == ConvPass::BackwardWeights;
  auto biasDesc = [&](memory::data_type t) {
    return desc.hasBias ? memory::desc({o}, f32Bias ? memory::data_type::f32 : t, Tag::a)
                        : memory::desc();
  };
  memory::desc bias = biasDesc(type), computeBias = biasDesc(compute);
  memory::desc anySrc(srcDims, compute, Tag::any), anyDst(dstDims, compute, Tag::any);
  memory::desc anyWeights(weightDims, compute, Tag::any);
  memory::dims strides = {desc.stride[0], desc.stride[1]};
  memory::dims dilates = {desc.dilation[0] - 1, desc.dilation[1] - 1};
  memory::dims padding = {desc.padding[0], desc.padding[1]};
  constexpr auto kDirect = dnnl::algorithm::convolution_direct;
  dnnl::convolution_forward::desc forwardDesc(
      dnnl::prop_kind::forward_training, kDirect, anySrc, anyWeights, computeBias, anyDst, strides, dilates, padding, padding);
  dnnl::convolution_forward::primitive_desc forward(forwardDesc, context.engine);
  std::unique_ptr<LibraryCall> call;
  switch (desc.pass) {
  case ConvPass::Forward:
    call = std::make_unique<OneDnnReorderedCall>(
        context, dnnl::convolution_forward(forward),
        std::array<ConvOperand, 4>{{{src, forward.src_desc(), DNNL_ARG_SRC, false, desc.inputKey},
                                    {weights, forward.weights_desc(), DNNL_ARG_WEIGHTS},
                                    {bias, computeBias, DNNL_ARG_BIAS},
                                    {dst, forward.dst_desc(), DNNL_ARG_DST, true}}});
    break;
  case ConvPass::BackwardData: {
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(kDirect, anySrc, anyWeights, anyDst, strides,
                                              dilates, padding, padding),
        context.engine, forward);
    call = std::make_unique<OneDnnReorderedCall>(
        context, dnnl::convolution_backward_data(pd),
        std::array<ConvOperand, 4>{{{src, pd.diff_src_desc(), DNNL_ARG_DIFF_SRC, true},
                                    {weights, pd.weights_desc(), DNNL_ARG_WEIGHTS},
                                    {},
                                    {dst, pd.diff_dst_desc(), DNNL_ARG_DIFF_DST, false,
                                     desc.outputKey}}});
    break;
  }
  case ConvPass::BackwardWeights: {
    // With a bias, diff_bias is summed while diff_dst streams through (no second pass over it).
    auto weightsDesc =
        desc.hasBias ? dnnl::convolution_backward_weights::desc(kDirect, anySrc, anyWeights,
                                                                computeBias, anyDst, strides,
                                                                dilates, padding, padding)
                     : dnnl::convolution_backward_weights::desc(kDirect, anySrc, anyWeights, anyDst,
                                                                strides, dilates, padding, padding);
    dnnl::convolution_backward_weights::primitive_desc pd(weightsDesc, context.engine, forward);
    call = std::make_unique<OneDnnReorderedCall>(
        context, dnnl::convolution_backward_weights(pd),
        std::array<ConvOperand, 4>{{{src, pd.src_desc(), DNNL_ARG_SRC, false, desc.inputKey},
                                    {weights, pd.diff_weights_desc(), DNNL_ARG_DIFF_WEIGHTS, true},
                                    {bias, computeBias, DNNL_ARG_DIFF_BIAS, true},
                                    {dst, pd.diff_dst_desc(), DNNL_ARG_DIFF_DST, false,
                                     desc.outputKey}}});
    break;
  }
  }
  return call;
}

static nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareConv2d(OneDnnContext &context,
                                                                 const Conv2dDesc &desc) {
  try {
    return buildConv2d(context, desc, dataTypeOf(desc.type));
  } catch (const std::exception &e) {
    if (desc.type != FloatType::F16)
      return oneDnnError("cannot prepare the conv2d", e);
  }
  try {
    return buildConv2d(context, desc, memory::data_type::f32);
  } catch (const std::exception &e) {
    return oneDnnError("cannot prepare the conv2d", e);
  }
}

/// `call`, followed by the post-op over its `count` output values.
static nnc::StatusOr<std::unique_ptr<LibraryCall>>
withPostOp(nnc::StatusOr<std::unique_ptr<LibraryCall>> call, PostOp postOp, int64_t count,
           FloatType type) {
  if (!call.ok() || postOp == PostOp::None)
    return call;
  return std::unique_ptr<LibraryCall>(
      std::make_unique<ReluAfterCall>(std::move(*call), count, type));
}

nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareOneDnnGemm(OneDnnContext &context,
                                                              const GemmDesc &desc) {
  // Only linear ops carry a post-op: their c is contiguous, batch x m x n.
  nnc::StatusOr<std::unique_ptr<LibraryCall>> call = withPostOp(
      prepareGemm(context, desc), desc.postOp, desc.batch * desc.m * desc.n, desc.type);
  if (!call.ok() || 2 * desc.batch * desc.m * desc.n * desc.k >= kOneThreadFlops)
    return call;
  return std::unique_ptr<LibraryCall>(std::make_unique<OnCallingThread>(std::move(*call)));
}

nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareOneDnnConv2d(OneDnnContext &context,
                                                                const Conv2dDesc &desc) {
  const auto &out = desc.output;
  return withPostOp(prepareConv2d(context, desc),
                    desc.pass == ConvPass::Forward ? desc.postOp : PostOp::None,
                    out[0] * out[1] * out[2] * out[3], desc.type);
}

} // namespace nnrt
