// Ops of the `nn` dialect. Every op infers its result type (InferTypeOpAdaptor); the inference
// function in NNOps.cpp is also the op's shape and dtype verifier.
//
// Attributes with a default are OptionalAttr, their defaults in NNDialect.h (nn::defaults):
// inference runs while parsing, before ODS would fill in DefaultValuedAttr values.
#ifndef NNC_DIALECT_NN_OPS_TD
#define NNC_DIALECT_NN_OPS_TD

include "dialects/nn/NNDialect.td"
include "dialects/nn/NNAttrs.td"
include "dialects/nn/NNInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

class NN_Op<string mnemonic, list<Trait> traits = []>
    : Op<NN_Dialect, mnemonic, !listconcat(traits, [InferTypeOpAdaptor])>;

//===----------------------------------------------------------------------===//
// Constants and contractions
//===----------------------------------------------------------------------===//

def NN_ConstantOp : NN_Op<"constant", [Pure, ConstantLike]> {
  let summary = "constant tensor";
  let description = [{
    A constant tensor of any nn dtype; the result type is the value's type.

    ```mlir
    %scale = nn.constant dense<0.125> : tensor<f32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$value prop-dict attr-dict";
  let hasFolder = 1;
}

def NN_LinearOp : NN_Op<"linear", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "affine map over the last dimension: x W^T + b";
  let description = [{
    `input` is (..., in), `weight` is (out, in) as in PyTorch, the optional `bias` is (out); the
    result is (..., out). All three share one float dtype. `activation = #nn<activation relu>`
    applies relu to the result (the nnc-fuse-epilogues pass sets it so a library call does both).

    ```mlir
    %y = nn.linear %x, %w, %b : tensor<128x784xf32>, tensor<256x784xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$weight,
                       Optional<NN_FloatTensor>:$bias,
                       OptionalAttr<NN_ActivationAttr>:$activation);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? prop-dict attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
}

def NN_MatmulOp : NN_Op<"matmul", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "batched matrix product";
  let description = [{
    `lhs` is (..., M, K) and `rhs` is (..., K, N); the leading batch dimensions broadcast as in
    NumPy. The result is (..., M, N).

    ```mlir
    %att = nn.matmul %q, %kt : tensor<32x4x128x32xf32>, tensor<32x4x32x128xf32>
    ```

    Folded layouts (set by nnc-fold-matmul-layouts, for a library call that reads and writes
    strided matrices): with `lhs_permutation` the product's left operand is
    `nn.transpose %lhs` by that permutation, likewise `rhs_permutation`; with
    `result_permutation` the op returns the product transposed by it. Such an op has no
    gradient (the fold runs after differentiation).
  }];
  let arguments = (ins NN_FloatTensor:$lhs, NN_FloatTensor:$rhs,
                       OptionalAttr<DenseI64ArrayAttr>:$lhs_permutation,
                       OptionalAttr<DenseI64ArrayAttr>:$rhs_permutation,
                       OptionalAttr<DenseI64ArrayAttr>:$result_permutation);
  let results = (outs NN_FloatTensor:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
      build($_builder, $_state, lhs, rhs, ::mlir::DenseI64ArrayAttr(), ::mlir::DenseI64ArrayAttr(),
            ::mlir::DenseI64ArrayAttr());
    }]>
  ];
  let extraClassDeclaration = [{
    /// Whether transposes are folded into the operands or the result.
    bool hasFoldedLayouts() {
      return getLhsPermutation() || getRhsPermutation() || getResultPermutation();
    }
    /// K, the contracted dimension: the last of the product's lhs.
    int64_t getContractedSize() {
      auto lhs = ::llvm::cast<::mlir::RankedTensorType>(getLhs().getType()).getShape();
      return getLhsPermutation() ? lhs[getLhsPermutation()->back()] : lhs.back();
    }
  }];
  let assemblyFormat = "$lhs `,` $rhs prop-dict attr-dict `:` type($lhs) `,` type($rhs)";
}

def NN_Conv2dOp : NN_Op<"conv2d", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "2-D convolution over NCHW images";
  let description = [{
    `input` is (N, C, H, W), `weight` is (O, C / groups, KH, KW), the optional `bias` is (O).
    `stride`, `padding` (symmetric, per side) and `dilation` give (height, width). The result is
    (N, O, (H + 2 ph - dh (KH - 1) - 1) / sh + 1, ...), rounding down.
    `activation = #nn<activation relu>` applies relu to the result, as for nn.linear.

    ```mlir
    %y = nn.conv2d %x, %w, %b <{padding = array<i64: 1, 1>}>
        : tensor<128x1x28x28xf32>, tensor<32x1x3x3xf32>, tensor<32xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$weight,
                       Optional<NN_FloatTensor>:$bias,
                       OptionalAttr<DenseI64ArrayAttr>:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding,
                       OptionalAttr<DenseI64ArrayAttr>:$dilation,
                       OptionalAttr<I64Attr>:$groups,
                       OptionalAttr<NN_ActivationAttr>:$activation);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? prop-dict attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class NN_BinaryOp<string mnemonic, string what>
    : NN_Op<mnemonic, [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "elementwise " # what # " with NumPy broadcasting";
  let description = [{
    Both operands share one dtype; their shapes broadcast as in NumPy (trailing dimensions match
    or are 1), giving the result shape.

    ```mlir
    %y = nn.}] # mnemonic # [{ %a, %b : tensor<32x128x128xf32>, tensor<128x128xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$lhs, NN_Tensor:$rhs);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

def NN_AddOp : NN_BinaryOp<"add", "addition">;
def NN_SubOp : NN_BinaryOp<"sub", "subtraction">;
def NN_MulOp : NN_BinaryOp<"mul", "multiplication">;
def NN_DivOp : NN_BinaryOp<"div", "division">;

class NN_UnaryOp<string mnemonic, string what, list<Trait> traits = [Pure]>
    : NN_Op<mnemonic, traits> {
  let summary = what;
  let description = [{
    Applies }] # what # [{ to every element; the result has the input's type.

    ```mlir
    %y = nn.}] # mnemonic # [{ %x : tensor<128x256xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def NN_ReluOp : NN_UnaryOp<"relu", "max(x, 0)", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;
def NN_TanhOp : NN_UnaryOp<"tanh", "the hyperbolic tangent", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;
def NN_SigmoidOp : NN_UnaryOp<"sigmoid", "the logistic function 1 / (1 + exp(-x))",
                              [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;

def NN_GeluOp : NN_UnaryOp<"gelu", "the Gaussian error linear unit", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let description = [{
    x * Phi(x), exactly (`approximate = #nn<approximation none>`, the default) or with
    PyTorch's tanh formula (`approximate = #nn<approximation tanh>`).

    ```mlir
    %y = nn.gelu %x <{approximate = #nn<approximation tanh>}> : tensor<32x128x512xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input,
                       OptionalAttr<NN_ApproximationAttr>:$approximate);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_SqrtOp : NN_UnaryOp<"sqrt", "the square root", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;
def NN_ExpOp : NN_UnaryOp<"exp", "the exponential", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;
def NN_LogOp : NN_UnaryOp<"log", "the natural logarithm", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;

def NN_ClampOp : NN_UnaryOp<"clamp", "clamping to [min, max]",
                            [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let description = [{
    min(max(x, `min`), `max`); a bound left out is no bound. NaN stays NaN, as in PyTorch's
    clamp. ONNX Clip and PyTorch's ReLU6 (min 0, max 6) and Hardtanh; hard-sigmoid and
    hard-swish are built on it. Its gradient (nn.clamp_grad) passes where min < x < max.

    ```mlir
    %y = nn.clamp %x <{max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}> : tensor<8x16xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, OptionalAttr<F64Attr>:$min,
                       OptionalAttr<F64Attr>:$max);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_DropoutOp : NN_UnaryOp<"dropout", "inverted dropout",
                              [DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let description = [{
    With `rng` = (step, key) — a train step's scalar step number (f32) and random key (i64),
    both per-step inputs — zeroes each element with probability `rate` and scales the rest by
    1 / (1 - rate); without them (evaluation) it is the identity. The mask comes from
    Philox4x32-10 keyed by `key`, with counter (element index, step, `stream`), so it is the same
    on every run, device and resume, and the backward pass (a dropout of the gradient with the
    same operands) applies the very same mask. The autodiff pass sets `stream` (one per dropout
    node). Not `Pure`: two dropouts of one value differ.

    ```mlir
    %y = nn.dropout %x[%step, %key] <{rate = 2.000000e-01 : f64, stream = 1 : i64}>
        : tensor<128x256xf32>, tensor<f32>, tensor<i64>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, Variadic<NN_Tensor>:$rng, F64Attr:$rate,
                       OptionalAttr<I64Attr>:$stream);
  let assemblyFormat = [{
    $input (`[` $rng^ `]`)? prop-dict attr-dict `:` type($input) (`,` type($rng)^)?
  }];
  let extraClassDeclaration = [{
    /// The step number and key when training (rng is empty for evaluation), else null.
    ::mlir::Value getStep() { return getRng().empty() ? ::mlir::Value() : getRng()[0]; }
    ::mlir::Value getKey() { return getRng().empty() ? ::mlir::Value() : getRng()[1]; }
  }];
}

def NN_CausalMaskOp : NN_UnaryOp<"causal_mask", "a causal (lower-triangular) mask",
                                 [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let description = [{
    `input` is (..., T, T) attention scores; entries above the diagonal (key after query) become
    `fill` (default -inf) so that a following softmax gives them zero weight. Its gradient is
    the same mask with fill 0.

    ```mlir
    %m = nn.causal_mask %scores : tensor<32x4x128x128xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, OptionalAttr<F64Attr>:$fill);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

class NN_SoftmaxLikeOp<string mnemonic, string what>
    : NN_Op<mnemonic, [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = what # " along one axis";
  let description = [{
    Computes }] # what # [{ along `axis` (negative counts from the end; default -1).

    ```mlir
    %p = nn.}] # mnemonic # [{ %x <{axis = -1 : i64}> : tensor<128x10xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, OptionalAttr<I64Attr>:$axis);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_SoftmaxOp : NN_SoftmaxLikeOp<"softmax", "softmax">;
def NN_LogSoftmaxOp : NN_SoftmaxLikeOp<"log_softmax", "log-softmax">;

def NN_LayerNormOp : NN_Op<"layer_norm", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "layer normalization over the trailing dimensions";
  let description = [{
    Normalizes `input` over its last `rank(weight)` dimensions to zero mean and unit variance
    (biased variance, `epsilon` added), then scales by `weight` and shifts by `bias`, whose shapes
    equal those trailing dimensions.

    ```mlir
    %y = nn.layer_norm %x, %g, %b : tensor<32x128x128xf32>, tensor<128xf32>, tensor<128xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$weight, NN_FloatTensor:$bias,
                       OptionalAttr<F64Attr>:$epsilon);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias prop-dict attr-dict `:` type($input) `,` type($weight) `,` type($bias)
  }];
}

//===----------------------------------------------------------------------===//
// Pooling and embedding
//===----------------------------------------------------------------------===//

class NN_Pool2dOp<string mnemonic, string what>
    : NN_Op<mnemonic, [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "2-D " # what # " pooling over NCHW images";
  let description = [{
    Pools (N, C, H, W) windows of `kernel_size` moved by `stride` (default: the kernel size) over
    the input padded by `padding` on each side. Output size (H + 2 ph - kh) / sh + 1, rounding
    down. Average pooling counts padded elements, as PyTorch does by default.

    ```mlir
    %y = nn.}] # mnemonic # [{ %x <{kernel_size = array<i64: 2, 2>}> : tensor<128x32x28x28xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, DenseI64ArrayAttr:$kernel_size,
                       OptionalAttr<DenseI64ArrayAttr>:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_MaxPool2dOp : NN_Pool2dOp<"max_pool2d", "max">;
def NN_AvgPool2dOp : NN_Pool2dOp<"avg_pool2d", "average">;

def NN_EmbeddingOp : NN_Op<"embedding", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "table lookup of rows by integer index";
  let description = [{
    `indices` (any shape, i32 or i64) select rows of `weight` (V, D); the result is
    (indices..., D). An index outside [0, V) gives a row of zeros (a vocabulary-parallel
    embedding's rank looks up only its own rows).

    ```mlir
    %e = nn.embedding %tokens, %table : tensor<32x128xi64>, tensor<128x128xf32>
    ```
  }];
  let arguments = (ins NN_IndexTensor:$indices, NN_FloatTensor:$weight);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$indices `,` $weight attr-dict `:` type($indices) `,` type($weight)";
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

def NN_ReshapeOp : NN_Op<"reshape", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "reshape to a static shape with the same element count";
  let description = [{
    ```mlir
    %flat = nn.reshape %x <{shape = array<i64: 128, 3136>}> : tensor<128x64x7x7xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_TransposeOp : NN_Op<"transpose", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "permute dimensions";
  let description = [{
    Result dimension i is input dimension `permutation[i]`.

    ```mlir
    %kt = nn.transpose %k <{permutation = array<i64: 0, 1, 3, 2>}> : tensor<32x4x128x32xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_ConcatOp : NN_Op<"concat", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "concatenate tensors along one axis";
  let description = [{
    All inputs share dtype and rank and agree on every dimension but `axis`.

    ```mlir
    %y = nn.concat %a, %b <{axis = 1 : i64}> : tensor<4x3xf32>, tensor<4x5xf32>
    ```
  }];
  let arguments = (ins Variadic<NN_Tensor>:$inputs, I64Attr:$axis);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$inputs prop-dict attr-dict `:` type($inputs)";
}

def NN_SliceOp : NN_Op<"slice", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "strided slice with static bounds";
  let description = [{
    Takes elements [start, limit) with `step` (default 1) in every dimension, like
    `x[start:limit:step]` per axis. One entry per dimension.

    ```mlir
    %q = nn.slice %qkv <{start = array<i64: 0, 0, 0>, limit = array<i64: 32, 128, 128>}>
        : tensor<32x128x384xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, DenseI64ArrayAttr:$start, DenseI64ArrayAttr:$limit,
                       OptionalAttr<DenseI64ArrayAttr>:$step);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// Reductions and losses
//===----------------------------------------------------------------------===//

class NN_ReduceOp<string mnemonic, string what, list<Trait> traits = [Pure]>
    : NN_Op<mnemonic, traits> {
  let summary = what # " over the given axes";
  let description = [{
    Reduces `axes` (distinct, negative counts from the end) with }] # what # [{. With `keepdim`
    the reduced dimensions stay as size 1.

    ```mlir
    %s = nn.}] # mnemonic # [{ %x <{axes = array<i64: 1>}> : tensor<128x10xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, DenseI64ArrayAttr:$axes,
                       OptionalAttr<BoolAttr>:$keepdim);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_ReduceSumOp : NN_ReduceOp<"reduce_sum", "the sum", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;
def NN_ReduceMeanOp : NN_ReduceOp<"reduce_mean", "the mean", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;
def NN_ReduceMaxOp : NN_ReduceOp<"reduce_max", "the maximum", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]>;

def NN_CrossEntropyOp : NN_Op<"cross_entropy", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "softmax cross-entropy loss with optional label smoothing";
  let description = [{
    `logits` is (..., C). `target` is either class indices (...) of i32/i64, or class
    probabilities (..., C) of the logits' dtype. With label smoothing s the target distribution is
    (1 - s) * target + s / C. The per-position losses are averaged
    (`reduction = #nn<reduction mean>`, the default) or summed (`sum`) into a scalar.

    ```mlir
    %loss = nn.cross_entropy %logits, %labels <{label_smoothing = 1.000000e-01 : f64}>
        : tensor<128x10xf32>, tensor<128xi64>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$logits, NN_Tensor:$target,
                       OptionalAttr<F64Attr>:$label_smoothing,
                       OptionalAttr<NN_ReductionAttr>:$reduction);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$logits `,` $target prop-dict attr-dict `:` type($logits) `,` type($target)";
}

def NN_MseLossOp : NN_Op<"mse_loss", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "mean squared error loss";
  let description = [{
    mean((prediction - target)^2) over all elements, as a scalar; both operands have one type.

    ```mlir
    %loss = nn.mse_loss %pred, %target : tensor<64x1xf32>, tensor<64x1xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$prediction, NN_FloatTensor:$target);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$prediction `,` $target attr-dict `:` type($prediction) `,` type($target)";
}

//===----------------------------------------------------------------------===//
// Ops of backward passes
//===----------------------------------------------------------------------===//

def NN_ReluGradOp : NN_Op<"relu_grad", [Pure]> {
  let summary = "gradient of relu, from its output";
  let description = [{
    `grad` where the relu's `output` is positive, else 0. Taking the output (not the input) lets
    the forward relu stay fused into the library call that produced it.

    ```mlir
    %dx = nn.relu_grad %y, %dy : tensor<128x256xf32>, tensor<128x256xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$output, NN_FloatTensor:$grad);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$output `,` $grad attr-dict `:` type($output) `,` type($grad)";
}

def NN_ClampGradOp : NN_Op<"clamp_grad", [Pure]> {
  let summary = "gradient of clamp, from its input";
  let description = [{
    `grad` where `min` < `input` < `max` (a bound left out is no bound), else 0: PyTorch's
    hardtanh backward, which ReLU6 uses. A NaN input passes the gradient, as it does there.

    ```mlir
    %dx = nn.clamp_grad %x, %dy <{max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}>
        : tensor<8x16xf32>, tensor<8x16xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$grad,
                       OptionalAttr<F64Attr>:$min, OptionalAttr<F64Attr>:$max);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad prop-dict attr-dict `:` type($input) `,` type($grad)";
}

def NN_OneHotOp : NN_Op<"one_hot", [Pure]> {
  let summary = "one-hot encoding of class indices";
  let description = [{
    `indices` (..., i32 or i64) become (..., classes) of `dtype` (1 at the index, else 0); indices
    outside [0, classes) give an all-zero row.

    ```mlir
    %t = nn.one_hot %labels <{classes = 10 : i64, dtype = f32}> : tensor<128xi64>
    ```
  }];
  let arguments = (ins NN_IndexTensor:$indices, I64Attr:$classes, TypeAttr:$dtype);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$indices prop-dict attr-dict `:` type($indices)";
}

def NN_BroadcastOp : NN_Op<"broadcast", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "NumPy broadcast to a shape";
  let description = [{
    Repeats `input` along the dimensions it lacks or has as 1, as NumPy broadcasting does, to
    `shape` (the gradient of a reduction).

    ```mlir
    %b = nn.broadcast %g <{shape = array<i64: 128, 10>}> : tensor<128x1xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_GeluGradOp : NN_Op<"gelu_grad", [Pure]> {
  let summary = "gradient of gelu, from its input";
  let description = [{
    `grad` times the derivative of gelu (exact, or PyTorch's tanh form) at `input`.

    ```mlir
    %dx = nn.gelu_grad %x, %dy : tensor<32x128x512xf32>, tensor<32x128x512xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$grad,
                       OptionalAttr<NN_ApproximationAttr>:$approximate);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad prop-dict attr-dict `:` type($input) `,` type($grad)";
}

def NN_EmbeddingGradOp : NN_Op<"embedding_grad", [Pure]> {
  let summary = "gradient of an embedding table: rows summed by index";
  let description = [{
    Row v of the (rows, D) result is the sum of the rows of `grad` (indices..., D) whose index
    is v (a scatter-add); indices outside [0, rows) contribute nothing.

    ```mlir
    %dt = nn.embedding_grad %tokens, %dy <{rows = 128 : i64}> : tensor<32x128xi64>, tensor<32x128x64xf32>
    ```
  }];
  let arguments = (ins NN_IndexTensor:$indices, NN_FloatTensor:$grad, I64Attr:$rows);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = [{
    $indices `,` $grad prop-dict attr-dict `:` type($indices) `,` type($grad)
  }];
}

def NN_PadOp : NN_Op<"pad", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "zero padding before, after and between the elements of each dimension";
  let description = [{
    Places `input` at offset `low` of a zero tensor in each dimension, with `interior` zeros
    (default 0) between neighbouring elements: a dimension of n elements becomes
    low + n + (n - 1) interior + high, as XLA's pad. The gradient of a (strided) slice.

    ```mlir
    %p = nn.pad %g <{low = array<i64: 0, 4>, high = array<i64: 0, 8>}> : tensor<2x4xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, DenseI64ArrayAttr:$low, DenseI64ArrayAttr:$high,
                       OptionalAttr<DenseI64ArrayAttr>:$interior);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
}

def NN_EqualOp : NN_Op<"equal", [Pure]> {
  let summary = "elementwise equality as 1 or 0";
  let description = [{
    1 where `lhs` equals `rhs`, else 0, in their float type, with NumPy broadcasting (the mask
    of reduce_max's gradient). Piecewise constant: it passes no gradient.

    ```mlir
    %m = nn.equal %x, %max : tensor<4x8xf32>, tensor<4x1xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$lhs, NN_FloatTensor:$rhs);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

/// The attributes a convolution's backward op shares with its forward nn.conv2d.
class NN_ConvGradOp<string mnemonic, string what, dag operands, dag extraAttrs = (ins)>
    : NN_Op<mnemonic, [Pure]> {
  let summary = "gradient of nn.conv2d's " # what;
  let arguments = !con(operands, (ins DenseI64ArrayAttr:$shape,
                                      OptionalAttr<DenseI64ArrayAttr>:$stride,
                                      OptionalAttr<DenseI64ArrayAttr>:$padding,
                                      OptionalAttr<DenseI64ArrayAttr>:$dilation,
                                      OptionalAttr<I64Attr>:$groups), extraAttrs);
  let results = (outs NN_FloatTensor:$result);
}

def NN_Conv2dGradInputOp : NN_ConvGradOp<"conv2d_grad_input", "input",
    (ins NN_FloatTensor:$grad, NN_FloatTensor:$weight)> {
  let description = [{
    dL/d`input` of an nn.conv2d with these `stride`, `padding`, `dilation` and `groups`, from
    `grad` (dL/doutput, (N, O, OH, OW)) and its `weight`; `shape` is the input's (N, C, H, W),
    which the output shape alone does not determine when the stride exceeds 1. A library call,
    like nn.conv2d (oneDNN's backward-data convolution on CPU).

    ```mlir
    %dx = nn.conv2d_grad_input %dy, %w <{padding = array<i64: 1, 1>, shape = array<i64: 128, 32, 14, 14>}>
        : tensor<128x64x14x14xf32>, tensor<64x32x3x3xf32>
    ```
  }];
  let assemblyFormat = [{
    $grad `,` $weight prop-dict attr-dict `:` type($grad) `,` type($weight)
  }];
}

def NN_Conv2dGradWeightOp : NN_ConvGradOp<"conv2d_grad_weight", "weight",
    (ins NN_FloatTensor:$input, NN_FloatTensor:$grad), (ins UnitAttr:$with_bias)> {
  let description = [{
    dL/d`weight` of an nn.conv2d with these `stride`, `padding`, `dilation` and `groups`, from
    its `input` and `grad` (dL/doutput); `shape` is the weight's (O, C / groups, KH, KW). A
    library call (oneDNN's backward-weights convolution on CPU). With `with_bias` it also
    returns dL/dbias (O), `grad` summed over (N, OH, OW), computed in the same pass over `grad`
    (nnc-fuse-epilogues folds the bias gradient's nn.reduce_sum in on CPU); f32 for bf16 and
    f16 grads, as the sum it replaces (mixed precision sums in f32).

    ```mlir
    %dw = nn.conv2d_grad_weight %x, %dy <{padding = array<i64: 1, 1>, shape = array<i64: 64, 32, 3, 3>}>
        : tensor<128x32x14x14xf32>, tensor<128x64x14x14xf32>
    %dw2, %db = nn.conv2d_grad_weight %x, %dy <{shape = array<i64: 64, 32, 3, 3>, with_bias}>
        : tensor<128x32x14x14xf32>, tensor<128x64x12x12xf32>
    ```
  }];
  let results = (outs NN_FloatTensor:$result, Optional<NN_FloatTensor>:$bias_grad);
  let assemblyFormat = [{
    $input `,` $grad prop-dict attr-dict `:` type($input) `,` type($grad)
  }];
}

def NN_MaxPool2dGradOp : NN_Op<"max_pool2d_grad", [Pure]> {
  let summary = "gradient of nn.max_pool2d";
  let description = [{
    dL/d`input` of an nn.max_pool2d with these `kernel_size`, `stride` and `padding`: each
    window's `grad` goes to the first (row-major) position holding the window's maximum, as
    PyTorch's; windows that overlap add up.

    ```mlir
    %dx = nn.max_pool2d_grad %x, %dy <{kernel_size = array<i64: 2, 2>}>
        : tensor<128x32x28x28xf32>, tensor<128x32x14x14xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$grad,
                       DenseI64ArrayAttr:$kernel_size,
                       OptionalAttr<DenseI64ArrayAttr>:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad prop-dict attr-dict `:` type($input) `,` type($grad)";
}

def NN_WhereOp : NN_Op<"where", [Pure]> {
  let summary = "elementwise choice by a 0/1 condition";
  let description = [{
    `lhs` where `condition` is nonzero, else `rhs` (NumPy broadcasting over all three; the
    condition is a float tensor of 1s and 0s, as nn.equal gives). A true select: the branch not
    taken may hold NaN or Inf (how a skipped fp16 step keeps its parameters).

    ```mlir
    %p = nn.where %finite, %updated, %old : tensor<f32>, tensor<10x784xf32>, tensor<10x784xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$condition, NN_FloatTensor:$lhs, NN_FloatTensor:$rhs);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = [{
    $condition `,` $lhs `,` $rhs attr-dict `:` type($condition) `,` type($lhs) `,` type($rhs)
  }];
}

def NN_CastOp : NN_Op<"cast", [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "conversion between float dtypes";
  let description = [{
    `input` converted to `dtype` (f32, f16 or bf16), rounding to nearest even when narrowing.
    The precision pass inserts casts at the boundaries between low-precision compute and the
    fp32 allow-list; a cast back to the wider type of a value just widened folds away.

    ```mlir
    %h = nn.cast %x <{dtype = bf16}> : tensor<128x784xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, TypeAttr:$dtype);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input prop-dict attr-dict `:` type($input)";
  let hasFolder = 1;
}

def NN_StopGradientOp : NN_Op<"stop_gradient", [Pure]> {
  let summary = "the identity, through which no gradient flows";
  let description = [{
    Returns `input` unchanged; the autodiff pass sends no gradient back through it (PyTorch's
    `detach`, JAX's `stop_gradient`). It also writes custom gradients: `x + stop_gradient(f(x) -
    x)` computes f(x) but differentiates as the identity (a straight-through estimator).

    ```mlir
    %y = nn.stop_gradient %x : tensor<128x10xf32>
    ```
  }];
  let arguments = (ins NN_Tensor:$input);
  let results = (outs NN_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def NN_BatchNormOp : NN_Op<"batch_norm", [Pure]> {
  let summary = "batch normalization over the channel dimension (dimension 1)";
  let description = [{
    `input` is (N, C) or (N, C, H, W); `weight`, `bias`, `running_mean` and `running_var` are
    (C). As written (evaluation, prediction) it normalizes with the running statistics:
    (x - running_mean) / sqrt(running_var + epsilon) * weight + bias. In a train step the
    autodiff pass replaces it by the same formula over the batch's statistics (mean and biased
    variance over every dimension but 1) and updates the running statistics, PyTorch's way:
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance.
    The running statistics are non-trainable parameters (no gradient, no weight decay).
    Defaults: epsilon 1e-5, momentum 0.1.

    ```mlir
    %y = nn.batch_norm %x, %g, %b, %m, %v <{momentum = 1.000000e-01 : f64}>
        : tensor<32x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$weight, NN_FloatTensor:$bias,
                       NN_FloatTensor:$running_mean, NN_FloatTensor:$running_var,
                       OptionalAttr<F64Attr>:$epsilon, OptionalAttr<F64Attr>:$momentum);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `,` $running_mean `,` $running_var prop-dict attr-dict `:`
    type($input) `,` type($weight) `,` type($bias) `,` type($running_mean) `,` type($running_var)
  }];
}

def NN_BatchNormTrainingOp : NN_Op<"batch_norm_training",
    [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "batch normalization by the batch's own statistics, differentiated as a whole";
  let description = [{
    (x - mean) / sqrt(var + epsilon) * weight + bias, where `mean` is `input`'s
    nn.reduce_mean over every dimension but 1 (kept: (1, C) or (1, C, 1, 1)) and `var` the
    nn.reduce_mean of the squared deviations from it, over the same dimensions. The autodiff
    pass builds it for each nn.batch_norm of a train step (the statistics also update the
    running ones) and expands it back into elementwise ops once the backward pass is built.

    Its vector-Jacobian product is the total derivative with respect to `input`, through the
    statistics, in the two-reduction form: with xhat = (x - mean) / sigma,
    dbias = sum(g), dweight = sum(g xhat) and
    dx = weight / sigma * (g - dbias / n - xhat * dweight / n). The statistics get no gradient
    of their own, so it requires them to be built from `input` as above.

    ```mlir
    %y = nn.batch_norm_training %x, %mean, %var, %g, %b
        : tensor<32x16x28x28xf32>, tensor<1x16x1x1xf32>, tensor<1x16x1x1xf32>,
          tensor<16xf32>, tensor<16xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, NN_FloatTensor:$mean, NN_FloatTensor:$var,
                       NN_FloatTensor:$weight, NN_FloatTensor:$bias,
                       OptionalAttr<F64Attr>:$epsilon);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $mean `,` $var `,` $weight `,` $bias prop-dict attr-dict `:`
    type($input) `,` type($mean) `,` type($var) `,` type($weight) `,` type($bias)
  }];
}

//===----------------------------------------------------------------------===//
// Fused causal attention (issue 23; formed by nnc-fuse-attention, lowered to a library call)
//===----------------------------------------------------------------------===//

def NN_CausalAttentionOp : NN_Op<"causal_attention",
    [Pure, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "causal scaled dot-product attention, fused";
  let description = [{
    `q`, `k` and `v` are (..., T, D) with the same leading (batch, heads) dimensions and dtype;
    `result` = softmax(causal_mask(q k^T * scale)) v over the last axis, (..., T, D). `lse` is
    each query row's log-sum-exp of its masked, scaled scores, (..., T), always f32: the
    backward pass (nn.causal_attention_grad) recomputes the probabilities from it tile by tile
    instead of storing them. Differentiated through `result` only.

    ```mlir
    %y, %lse = nn.causal_attention %q, %k, %v <{scale = 0.17677669529663687 : f64}>
        : tensor<32x4x128x32xf32>, tensor<32x4x128x32xf32>, tensor<32x4x128x32xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$q, NN_FloatTensor:$k, NN_FloatTensor:$v, F64Attr:$scale);
  let results = (outs NN_FloatTensor:$result, NN_FloatTensor:$lse);
  let assemblyFormat = [{
    $q `,` $k `,` $v prop-dict attr-dict `:` type($q) `,` type($k) `,` type($v)
  }];
}

def NN_CausalAttentionGradOp : NN_Op<"causal_attention_grad", [Pure]> {
  let summary = "gradient of nn.causal_attention with respect to q, k and v";
  let description = [{
    From the forward's operands, its `result` and `lse`, and `grad` (dL/dresult): dq, dk, dv,
    typed like q, k, v. The probabilities are recomputed from q, k and `lse` (FlashAttention-2's
    backward pass); `lse` is f32 whatever the other operands' dtype.

    ```mlir
    %dq, %dk, %dv = nn.causal_attention_grad %q, %k, %v, %y, %lse, %dy <{scale = 0.125 : f64}>
        : tensor<8x64x16xf32>, tensor<8x64x16xf32>, tensor<8x64x16xf32>, tensor<8x64x16xf32>,
          tensor<8x64xf32>, tensor<8x64x16xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$q, NN_FloatTensor:$k, NN_FloatTensor:$v,
                       NN_FloatTensor:$result, NN_FloatTensor:$lse, NN_FloatTensor:$grad,
                       F64Attr:$scale);
  let results = (outs NN_FloatTensor:$dq, NN_FloatTensor:$dk, NN_FloatTensor:$dv);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $result `,` $lse `,` $grad prop-dict attr-dict `:` type($q) `,`
    type($k) `,` type($v) `,` type($result) `,` type($lse) `,` type($grad)
  }];
}

#endif // NNC_DIALECT_NN_OPS_TD
