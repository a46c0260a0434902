// The cuda driver's library calls: Gemm through cuBLASLt, Conv2d through cuDNN, both in fp32 with
// fp32 accumulation and no TF32 (results within rounding of the CPU backend's), on the device's
// stream.
//
// cuBLASLt is column-major and the plan row-major. A row-major (r, c) matrix is the column-major
// (c, r) matrix with the same bytes, so c = a @ op(b) is computed as c^T = op(b)^T @ a^T:
// cuBLASLt's A is the plan's b, its B the plan's a, and its D (n, m) column-major is the plan's
// c (m, n) row-major. The bias (n) is then per row of D, which is what cuBLASLt's bias epilogue
// adds.
#include "runtime/device/cuda/CudaContext.h"

namespace nnrt::cuda {

nnc::Status Context::initCublasLt() {
  if (cublasLtHandle)
    return nnc::Status();
  nnc::StatusOr<std::unique_ptr<CublasLtApi>> api = loadCublasLtApi();
  if (!api.ok())
    return api.status();
  cublasLt = std::move(*api);
  NNRT_CUDA_CHECK(*cublasLt, cublasLtCreate(&cublasLtHandle));
  // NVIDIA's recommendation for Hopper: 32 MiB lets cuBLASLt use its fastest kernels.
  cublasLtWorkspaceBytes = size_t(32) << 20;
  NNRT_CUDA_CHECK(*driver, cuMemAlloc(&cublasLtWorkspace, cublasLtWorkspaceBytes));
  return nnc::Status();
}

nnc::Status Context::initCudnn() {
  if (cudnnHandle)
    return nnc::Status();
  nnc::StatusOr<std::unique_ptr<CudnnApi>> api = loadCudnnApi();
  if (!api.ok())
    return api.status();
  cudnn = std::move(*api);
  NNRT_CUDA_CHECK(*cudnn, cudnnCreate(&cudnnHandle));
  NNRT_CUDA_CHECK(*cudnn, cudnnSetStream(cudnnHandle, reinterpret_cast<cudaStream_t>(stream)));
  return nnc::Status();
}

namespace {

/// The arena places tensors at multiples of 64 bytes; hand-built plans may not.
constexpr uint32_t kArenaAlignment = 64;

class CublasLtGemm final : public LibraryCall {
public:
  CublasLtGemm(Context &context, const GemmDesc &desc) : context_(context), desc_(desc) {}
  ~CublasLtGemm() override {
    const CublasLtApi &api = *context_.cublasLt;
    for (cublasLtMatrixLayout_t layout : {a_, b_, d_})
      if (layout)
        api.cublasLtMatrixLayoutDestroy(layout);
    if (matmul_)
      api.cublasLtMatmulDescDestroy(matmul_);
  }

  nnc::Status prepare() {
    const CublasLtApi &api = *context_.cublasLt;
    const GemmDesc &d = desc_;
    NNRT_CUDA_CHECK(api, cublasLtMatmulDescCreate(&matmul_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t transA = d.transposeB ? CUBLAS_OP_T : CUBLAS_OP_N;
    NNRT_CUDA_CHECK(api, cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_TRANSA,
                                                        &transA, sizeof transA));
    cublasLtEpilogue_t epilogue =
        d.hasBias ? (d.postOp == PostOp::Relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                  : (d.postOp == PostOp::Relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    NNRT_CUDA_CHECK(api, cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                        &epilogue, sizeof epilogue));
    // cuBLASLt's A: the plan's b, (n, k) column-major, stored (k, n) when transposed.
    uint64_t aRows = d.transposeB ? d.k : d.n, aCols = d.transposeB ? d.n : d.k;
    NNRT_CUDA_CHECK(api, cublasLtMatrixLayoutCreate(&a_, CUDA_R_32F, aRows, aCols, aRows));
    NNRT_CUDA_CHECK(api, cublasLtMatrixLayoutCreate(&b_, CUDA_R_32F, d.k, d.m, d.k));
    NNRT_CUDA_CHECK(api, cublasLtMatrixLayoutCreate(&d_, CUDA_R_32F, d.n, d.m, d.n));
    if (d.batch > 1) {
      int32_t batch = static_cast<int32_t>(d.batch);
      int64_t strides[] = {d.broadcastB ? 0 : d.n * d.k, d.m * d.k, d.m * d.n};
      cublasLtMatrixLayout_t layouts[] = {a_, b_, d_};
      for (int i = 0; i < 3; ++i) {
        NNRT_CUDA_CHECK(api, cublasLtMatrixLayoutSetAttribute(
                                 layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
                                 sizeof batch));
        NNRT_CUDA_CHECK(api, cublasLtMatrixLayoutSetAttribute(
                                 layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                 &strides[i], sizeof strides[i]));
      }
    }
    // Two algorithms: the best one for the arena's 64-byte alignment, and one that needs only
    // 4-byte alignment, for operands elsewhere.
    if (nnc::Status s = pickAlgorithm(kArenaAlignment, aligned_); !s.ok())
      return s;
    return pickAlgorithm(4, unaligned_);
  }

  nnc::Status run(const LibraryOperands &operands) override {
    const CublasLtApi &api = *context_.cublasLt;
    auto [a, b, bias, c] = operands;
    if (desc_.hasBias)
      NNRT_CUDA_CHECK(api, cublasLtMatmulDescSetAttribute(
                               matmul_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    bool isAligned = true;
    for (void *p : operands)
      isAligned &= reinterpret_cast<uintptr_t>(p) % kArenaAlignment == 0;
    const float one = 1.0f, zero = 0.0f;
    NNRT_CUDA_CHECK(api, cublasLtMatmul(context_.cublasLtHandle, matmul_, &one, b, a_, a, b_,
                                        &zero, c, d_, c, d_,
                                        isAligned ? &aligned_ : &unaligned_,
                                        reinterpret_cast<void *>(context_.cublasLtWorkspace),
                                        context_.cublasLtWorkspaceBytes,
                                        reinterpret_cast<cudaStream_t>(context_.stream)));
    return nnc::Status();
  }

private:
  nnc::Status pickAlgorithm(uint32_t alignment, cublasLtMatmulAlgo_t &algo) {
    const CublasLtApi &api = *context_.cublasLt;
    cublasLtMatmulPreference_t preference = nullptr;
    NNRT_CUDA_CHECK(api, cublasLtMatmulPreferenceCreate(&preference));
    struct Release {
      const CublasLtApi &api;
      cublasLtMatmulPreference_t p;
      ~Release() { api.cublasLtMatmulPreferenceDestroy(p); }
    } release{api, preference};
    size_t workspace = context_.cublasLtWorkspaceBytes;
    NNRT_CUDA_CHECK(api, cublasLtMatmulPreferenceSetAttribute(
                             preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                             sizeof workspace));
    for (cublasLtMatmulPreferenceAttributes_t attribute :
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
          CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      NNRT_CUDA_CHECK(api, cublasLtMatmulPreferenceSetAttribute(preference, attribute, &alignment,
                                                                sizeof alignment));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    NNRT_CUDA_CHECK(api, cublasLtMatmulAlgoGetHeuristic(context_.cublasLtHandle, matmul_, a_, b_,
                                                        d_, d_, preference, 1, &result, &found));
    if (found == 0)
      return nnc::Status::error("cuBLASLt has no algorithm for this gemm (batch " +
                                std::to_string(desc_.batch) + ", m " + std::to_string(desc_.m) +
                                ", n " + std::to_string(desc_.n) + ", k " +
                                std::to_string(desc_.k) + ")");
    algo = result.algo;
    return nnc::Status();
  }

  Context &context_;
  GemmDesc desc_;
  cublasLtMatmulDesc_t matmul_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  cublasLtMatmulAlgo_t aligned_{}, unaligned_{};
};

/// One convolution pass with cuDNN's legacy (v7-style) API: descriptors and the algorithm and
/// its workspace chosen once; the forward pass adds the bias and applies ReLU after.
class CudnnConv2d final : public LibraryCall {
public:
  CudnnConv2d(Context &context, const Conv2dDesc &desc) : context_(context), desc_(desc) {}
  ~CudnnConv2d() override {
    const CudnnApi &api = *context_.cudnn;
    for (cudnnTensorDescriptor_t t : {x_, y_, bias_})
      if (t)
        api.cudnnDestroyTensorDescriptor(t);
    if (w_)
      api.cudnnDestroyFilterDescriptor(w_);
    if (conv_)
      api.cudnnDestroyConvolutionDescriptor(conv_);
    if (relu_)
      api.cudnnDestroyActivationDescriptor(relu_);
    if (workspace_)
      context_.driver->cuMemFree(workspace_);
  }

  nnc::Status prepare() {
    const CudnnApi &api = *context_.cudnn;
    const Conv2dDesc &d = desc_;
    auto i32 = [](int64_t v) { return static_cast<int>(v); };
    // The plan loader checks shapes; a descriptor from elsewhere gets the same refusal here
    // rather than cuDNN's less specific one.
    for (int i = 0; i < 2; ++i) {
      int64_t span = d.input[2 + i] + 2 * d.padding[i] - d.dilation[i] * (d.weight[2 + i] - 1) - 1;
      if (d.stride[i] < 1 || span < 0 || span / d.stride[i] + 1 != d.output[2 + i] ||
          d.groups < 1 || d.input[1] != d.weight[1] * d.groups || d.output[1] != d.weight[0])
        return nnc::Status::error("conv2d shapes are inconsistent");
    }
    NNRT_CUDA_CHECK(api, cudnnCreateTensorDescriptor(&x_));
    NNRT_CUDA_CHECK(api, cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                    i32(d.input[0]), i32(d.input[1]),
                                                    i32(d.input[2]), i32(d.input[3])));
    NNRT_CUDA_CHECK(api, cudnnCreateTensorDescriptor(&y_));
    NNRT_CUDA_CHECK(api, cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                    i32(d.output[0]), i32(d.output[1]),
                                                    i32(d.output[2]), i32(d.output[3])));
    NNRT_CUDA_CHECK(api, cudnnCreateFilterDescriptor(&w_));
    NNRT_CUDA_CHECK(api, cudnnSetFilter4dDescriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                    i32(d.weight[0]), i32(d.weight[1]),
                                                    i32(d.weight[2]), i32(d.weight[3])));
    NNRT_CUDA_CHECK(api, cudnnCreateConvolutionDescriptor(&conv_));
    NNRT_CUDA_CHECK(api, cudnnSetConvolution2dDescriptor(
                             conv_, i32(d.padding[0]), i32(d.padding[1]), i32(d.stride[0]),
                             i32(d.stride[1]), i32(d.dilation[0]), i32(d.dilation[1]),
                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    NNRT_CUDA_CHECK(api, cudnnSetConvolutionGroupCount(conv_, i32(d.groups)));
    // FMA only: no TF32 tensor-core rounding, so results match the CPU's within fp32 rounding.
    NNRT_CUDA_CHECK(api, cudnnSetConvolutionMathType(conv_, CUDNN_FMA_MATH));
    if (d.hasBias) {
      NNRT_CUDA_CHECK(api, cudnnCreateTensorDescriptor(&bias_));
      NNRT_CUDA_CHECK(api, cudnnSetTensor4dDescriptor(bias_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                      1, i32(d.output[1]), 1, 1));
    }
    if (d.postOp == PostOp::Relu) {
      NNRT_CUDA_CHECK(api, cudnnCreateActivationDescriptor(&relu_));
      NNRT_CUDA_CHECK(api, cudnnSetActivationDescriptor(relu_, CUDNN_ACTIVATION_RELU,
                                                        CUDNN_PROPAGATE_NAN, 0.0));
    }
    if (nnc::Status s = pickAlgorithm(); !s.ok())
      return s;
    if (workspaceBytes_ > 0)
      NNRT_CUDA_CHECK(*context_.driver, cuMemAlloc(&workspace_, workspaceBytes_));
    return nnc::Status();
  }

  nnc::Status run(const LibraryOperands &operands) override {
    const CudnnApi &api = *context_.cudnn;
    auto [input, weight, bias, output] = operands;
    const float one = 1.0f, zero = 0.0f;
    void *workspace = reinterpret_cast<void *>(workspace_);
    switch (desc_.pass) {
    case ConvPass::Forward:
      NNRT_CUDA_CHECK(api, cudnnConvolutionForward(context_.cudnnHandle, &one, x_, input, w_,
                                                   weight, conv_, forward_, workspace,
                                                   workspaceBytes_, &zero, y_, output));
      if (bias_)
        NNRT_CUDA_CHECK(api, cudnnAddTensor(context_.cudnnHandle, &one, bias_, bias, &one, y_,
                                            output));
      if (relu_)
        NNRT_CUDA_CHECK(api, cudnnActivationForward(context_.cudnnHandle, relu_, &one, y_, output,
                                                    &zero, y_, output));
      break;
    case ConvPass::BackwardData: // input <- dL/dinput from output = dL/doutput
      NNRT_CUDA_CHECK(api, cudnnConvolutionBackwardData(context_.cudnnHandle, &one, w_, weight,
                                                        y_, output, conv_, backwardData_,
                                                        workspace, workspaceBytes_, &zero, x_,
                                                        input));
      break;
    case ConvPass::BackwardWeights: // weight <- dL/dweight
      NNRT_CUDA_CHECK(api, cudnnConvolutionBackwardFilter(context_.cudnnHandle, &one, x_, input,
                                                          y_, output, conv_, backwardFilter_,
                                                          workspace, workspaceBytes_, &zero, w_,
                                                          weight));
      break;
    }
    return nnc::Status();
  }

private:
  /// cuDNN's heuristics rank algorithms; take the first that supports these descriptors.
  nnc::Status pickAlgorithm() {
    const CudnnApi &api = *context_.cudnn;
    cudnnHandle_t handle = context_.cudnnHandle;
    int found = 0;
    switch (desc_.pass) {
    case ConvPass::Forward: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      NNRT_CUDA_CHECK(api, cudnnGetConvolutionForwardAlgorithm_v7(
                               handle, x_, w_, conv_, y_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                               &found, perf));
      for (int i = 0; i < found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS) {
          forward_ = perf[i].algo;
          NNRT_CUDA_CHECK(api, cudnnGetConvolutionForwardWorkspaceSize(
                                   handle, x_, w_, conv_, y_, forward_, &workspaceBytes_));
          return nnc::Status();
        }
      break;
    }
    case ConvPass::BackwardData: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      NNRT_CUDA_CHECK(api, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                               handle, w_, y_, conv_, x_, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                               &found, perf));
      for (int i = 0; i < found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS) {
          backwardData_ = perf[i].algo;
          NNRT_CUDA_CHECK(api, cudnnGetConvolutionBackwardDataWorkspaceSize(
                                   handle, w_, y_, conv_, x_, backwardData_, &workspaceBytes_));
          return nnc::Status();
        }
      break;
    }
    case ConvPass::BackwardWeights: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      NNRT_CUDA_CHECK(api, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                               handle, x_, y_, conv_, w_,
                               CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, perf));
      for (int i = 0; i < found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS) {
          backwardFilter_ = perf[i].algo;
          NNRT_CUDA_CHECK(api, cudnnGetConvolutionBackwardFilterWorkspaceSize(
                                   handle, x_, y_, conv_, w_, backwardFilter_, &workspaceBytes_));
          return nnc::Status();
        }
      break;
    }
    }
    return nnc::Status::error("cuDNN has no algorithm for this convolution");
  }

  Context &context_;
  Conv2dDesc desc_;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr, bias_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnActivationDescriptor_t relu_ = nullptr;
  cudnnConvolutionFwdAlgo_t forward_{};
  cudnnConvolutionBwdDataAlgo_t backwardData_{};
  cudnnConvolutionBwdFilterAlgo_t backwardFilter_{};
  size_t workspaceBytes_ = 0;
  CUdeviceptr workspace_ = 0;
};

} // namespace

nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareCublasLtGemm(Context &context,
                                                                 const GemmDesc &desc) {
  if (desc.type != FloatType::F32)
    return nnc::Status::error("the cuda driver runs f32 Gemm only so far; this one is f16 or bf16 "
                              "(mixed precision on CUDA is not built yet)");
  if (desc.strided()) // nnc folds transposes into gemms for CPU plans only
    return nnc::Status::error("the cuda driver has no strided Gemm (a CPU plan's folded "
                              "transposes); compile with --target=cuda");
  if (nnc::Status s = context.initCublasLt(); !s.ok())
    return s;
  auto call = std::make_unique<CublasLtGemm>(context, desc);
  if (nnc::Status s = call->prepare(); !s.ok())
    return s;
  return std::unique_ptr<LibraryCall>(std::move(call));
}

nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareCudnnConv2d(Context &context,
                                                               const Conv2dDesc &desc) {
  if (desc.type != FloatType::F32)
    return nnc::Status::error("the cuda driver runs f32 Conv2d only so far; this one is f16 or bf16 "
                              "(mixed precision on CUDA is not built yet)");
  if (nnc::Status s = context.initCudnn(); !s.ok())
    return s;
  auto call = std::make_unique<CudnnConv2d>(context, desc);
  if (nnc::Status s = call->prepare(); !s.ok())
    return s;
  return std::unique_ptr<LibraryCall>(std::move(call));
}

} // namespace nnrt::cuda
