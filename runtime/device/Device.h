// Device: the small contract between the executor and a driver (cpu, null; later cuda). The
// executor owns everything plan-shaped — slices, command order, initializers — and a driver only
// moves bytes, runs kernels and library calls, and says when the work is done.
//
// Lifecycle, as the executor uses it:
//   1. prepare: allocate the arena, loadKernelLibrary once, prepareGemm/prepareConv2d once per
//      command (a driver does its expensive setup here: oneDNN primitives, cuBLASLt plans);
//   2. run, any number of times: copy, launchKernel, LibraryCall::run, then synchronize.
#pragma once

#include "support/StatusOr.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nnrt {

/// An activation fused into a library call's epilogue (nnc::PostOp).
enum class PostOp { None, Relu };

/// The element type of every operand of a library call (nnc::DType F32, F16, BF16).
enum class FloatType { F32, F16, BF16 };

inline int64_t bytesOf(FloatType type) { return type == FloatType::F32 ? 4 : 2; }

/// Row-major batched matrix product, as nnc::Gemm: for each b < batch,
///   c[b] (m, n) = a[b] (m, k) @ (transposeB ? b[b]^T : b[b]) (+ bias (n)), then postOp,
/// where b[b] is (k, n), or (n, k) when transposeB; broadcastB: one b for every batch.
/// Strided (nnc::Gemm's a/b/c_strides): a (batchDims..., m, k), b (batchDims..., k, n) and
/// c (batchDims..., m, n) at these element strides, batch = product(batchDims); a batch
/// stride 0 in b broadcasts it. The flags above are then unset.
struct GemmDesc {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool transposeB = false;
  bool broadcastB = false;
  bool hasBias = false;
  PostOp postOp = PostOp::None;
  FloatType type = FloatType::F32;
  std::vector<int64_t> batchDims, aStrides, bStrides, cStrides; // empty: not strided

  bool strided() const { return !aStrides.empty(); }
};

/// nnc::ConvPass: the forward convolution, or the gradient of its input or of its weight.
enum class ConvPass { Forward, BackwardData, BackwardWeights };

/// 2-D convolution over NCHW tensors, as nnc::Conv2d / nn.conv2d (PyTorch semantics:
/// symmetric padding per side, dilation 1 means none). Shapes are the forward convolution's for
/// every pass; backward passes have no post-op, and only BackwardWeights a bias (dL/dbias, f32
/// whatever `type`).
struct Conv2dDesc {
  ConvPass pass = ConvPass::Forward;
  std::array<int64_t, 4> input{};  // N, C, H, W
  std::array<int64_t, 4> weight{}; // O, C / groups, KH, KW
  std::array<int64_t, 4> output{}; // N, O, OH, OW
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
  bool hasBias = false;
  PostOp postOp = PostOp::None;
  FloatType type = FloatType::F32;
  // Nonzero: earlier conv calls prepared with the same key read the same bytes at input (or
  // output), unchanged since, so their conversion to the library's layout may be reused.
  int64_t inputKey = 0, outputKey = 0;
};

/// Device pointers of a library call, in this order: Gemm {a, b, bias, c}; Conv2d {input, weight,
/// bias, output}, where a backward pass's gradients take the place of the tensor they belong to
/// (BackwardData writes dL/dinput at input). bias is null when the descriptor has none.
using LibraryOperands = std::array<void *, 4>;

/// A library call whose setup was done once, at prepare time; run it on any operands that match
/// its descriptor.
class LibraryCall {
public:
  virtual ~LibraryCall() = default;
  virtual nnc::Status run(const LibraryOperands &operands) = 0;
};

/// Issue 23: fused causal attention over (batch, t, d) row-major tensors (nnc::CausalAttention):
/// forward computes result = softmax(causal_mask(q k^T * scale)) v and each row's log-sum-exp
/// (lse, (batch, t) f32); backward computes dq, dk, dv from q, k, v, result, lse and grad.
/// type: of every operand but lse (F32 or BF16). avx512: the plan's CPU features include
/// AVX-512 (the driver may use it).
struct AttentionDesc {
  bool backward = false;
  int64_t batch = 0, t = 0, d = 0;
  double scale = 1.0;
  FloatType type = FloatType::F32;
  bool avx512 = false;
  bool avx512bf16 = false; // bf16 tensors: products of bf16 pairs (vdpbf16ps); needs avx512
};

/// Operands of an attention call: forward {q, k, v, result, lse}, backward {q, k, v, result,
/// lse, grad, dq, dk, dv}.
using AttentionOperands = std::array<void *, 9>;

/// An attention call prepared once (scratch sized), run on any operands of its descriptor.
class AttentionCall {
public:
  virtual ~AttentionCall() = default;
  virtual nnc::Status run(const AttentionOperands &operands) = 0;
};

/// A loaded kernel library. Destroying it unloads the code.
class KernelLibrary {
public:
  virtual ~KernelLibrary() = default;
  /// The device's handle for the i-th symbol passed to loadKernelLibrary.
  virtual void *kernel(size_t i) const = 0;
};

class Device {
public:
  explicit Device(std::string name) : name_(std::move(name)) {}
  virtual ~Device() = default;
  Device(const Device &) = delete;
  Device &operator=(const Device &) = delete;

  /// The driver's registered name: "cpu", "null".
  const std::string &name() const { return name_; }

  /// `bytes` of zeroed device memory (the plan's arena). 0 bytes may give a null pointer.
  virtual nnc::StatusOr<void *> allocate(int64_t bytes) = 0;
  virtual void free(void *memory) = 0;
  /// Copies between host and device memory in either direction, or within device memory (a
  /// plan's Copy command; the ranges never overlap). The device knows its pointers. Ordered with
  /// launches: a copy sees every earlier launch's result.
  virtual nnc::Status copy(void *destination, const void *source, int64_t bytes) = 0;

  /// Loads a kernel library image (the plan's kernel_library) and resolves each symbol, or fails
  /// naming the first one it lacks: "kernel library does not export 'fc1_matmul'".
  virtual nnc::StatusOr<std::unique_ptr<KernelLibrary>>
  loadKernelLibrary(std::string_view image, const std::vector<std::string> &symbols) = 0;
  /// Runs `kernel` (a KernelLibrary handle) as `void kernel(void **args)` on `count` device
  /// pointers into the arena. May return before the kernel finishes; see synchronize.
  virtual nnc::Status launchKernel(void *kernel, void **args, size_t count) = 0;

  /// One-time setup of a library call for a descriptor.
  virtual nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareGemm(const GemmDesc &desc) = 0;
  virtual nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareConv2d(const Conv2dDesc &desc) = 0;

  /// Waits until every launched kernel and library call has finished.
  virtual nnc::Status synchronize() = 0;

  /// Issue 23: one-time setup of a fused attention call. Drivers without one refuse it (the
  /// compiler fuses attention in CPU plans only).
  virtual nnc::StatusOr<std::unique_ptr<AttentionCall>> prepareAttention(const AttentionDesc &) {
    return nnc::Status::error("the " + name_ + " device has no fused causal attention");
  }

private:
  std::string name_;
};

} // namespace nnrt
