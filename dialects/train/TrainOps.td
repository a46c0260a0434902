// The `train` dialect: the ops of a training step that are not model math — optimizer updates
// and gradient clipping. The autodiff pass emits them; the optimize phase expands each into `nn`
// ops, which lowering fuses into one loop per parameter. Keeping them whole until then lets the
// passes in between (precision, accumulation, distribution) see "the update of parameter p".
#ifndef NNC_DIALECT_TRAIN_OPS_TD
#define NNC_DIALECT_TRAIN_OPS_TD

include "dialects/nn/NNDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "dialects/nn/NNInterfaces.td"

def Train_Dialect : Dialect {
  let name = "train";
  let cppNamespace = "::nnc::train";
  let summary = "Training-step ops: optimizer updates, gradient clipping, gradient all-reduce";
  let dependentDialects = ["::nnc::nn::NNDialect"];
}

def Train_Scalar : 0DTensorOf<[F32]> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getF32Type())";
}

class Train_Op<string mnemonic, list<Trait> traits = []>
    : Op<Train_Dialect, mnemonic, !listconcat(traits, [Pure, InferTypeOpAdaptor])>;

// Its one result type is fixed (a scalar f32), so ODS infers it without InferTypeOpAdaptor.
def Train_GlobalNormOp : Op<Train_Dialect, "global_norm", [Pure]> {
  let summary = "the 2-norm of all gradients together";
  let description = [{
    sqrt(sum over every operand of sum(g^2)): the norm global-norm clipping compares with its
    bound, and the pre-clip value reported to monitoring.

    ```mlir
    %norm = train.global_norm %gw, %gb : tensor<10x784xf32>, tensor<10xf32>
    ```
  }];
  let arguments = (ins Variadic<NN_FloatTensor>:$grads);
  let results = (outs Train_Scalar:$norm);
  let assemblyFormat = "$grads attr-dict `:` type($grads)";
  let hasVerifier = 1;
}

def Train_AllFiniteOp : Op<Train_Dialect, "all_finite", [Pure]> {
  let summary = "1 when every element of every gradient is finite, else 0";
  let description = [{
    The fp16 overflow check, one pass over all gradients: a step whose gradients hold an Inf or
    a NaN is skipped.

    ```mlir
    %ok = train.all_finite %gw, %gb : tensor<10x784xf32>, tensor<10xf32>
    ```
  }];
  let arguments = (ins Variadic<NN_FloatTensor>:$grads);
  let results = (outs Train_Scalar:$finite);
  let assemblyFormat = "$grads attr-dict `:` type($grads)";
  let hasVerifier = 1;
}

def Train_ClipOp : Train_Op<"clip"> {
  let summary = "a gradient scaled to a global-norm bound";
  let description = [{
    `grad` * min(1, `max_norm` / (`norm` + 1e-6)), as PyTorch's clip_grad_norm_.

    ```mlir
    %c = train.clip %g, %norm <{max_norm = 1.000000e+00 : f64}> : tensor<10x784xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$grad, Train_Scalar:$norm, F64Attr:$max_norm);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $norm prop-dict attr-dict `:` type($grad)";
}

def Train_SgdOp : Train_Op<"sgd", [AllTypesMatch<["param", "grad"]>]> {
  let summary = "a plain SGD step";
  let description = [{
    `param` - `lr` (`grad` + `weight_decay` `param`), as PyTorch's SGD without momentum (L2
    weight decay folded into the gradient).

    ```mlir
    %p2 = train.sgd %p, %g, %lr <{weight_decay = 0.0 : f64}> : tensor<10x784xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$param, NN_FloatTensor:$grad, Train_Scalar:$lr,
                       F64Attr:$weight_decay);
  let results = (outs NN_FloatTensor:$new_param);
  let assemblyFormat = "$param `,` $grad `,` $lr prop-dict attr-dict `:` type($param)";
}

def Train_SgdMomentumOp
    : Train_Op<"sgd_momentum", [AllTypesMatch<["param", "grad", "buffer"]>]> {
  let summary = "an SGD step with momentum (optionally Nesterov)";
  let description = [{
    As PyTorch's SGD: g' = `grad` + `weight_decay` `param`; buf' = `momentum` `buffer` + g';
    `param` - `lr` (`nesterov` ? g' + `momentum` buf' : buf'). Returns the new parameter and
    the new buffer.

    ```mlir
    %p2, %b2 = train.sgd_momentum %p, %g, %buf, %lr <{momentum = 0.9 : f64, nesterov = false, weight_decay = 0.0 : f64}> : tensor<10xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$param, NN_FloatTensor:$grad, NN_FloatTensor:$buffer,
                       Train_Scalar:$lr, F64Attr:$momentum, BoolAttr:$nesterov,
                       F64Attr:$weight_decay);
  let results = (outs NN_FloatTensor:$new_param, NN_FloatTensor:$new_buffer);
  let assemblyFormat = "$param `,` $grad `,` $buffer `,` $lr prop-dict attr-dict `:` type($param)";
}

def Train_AdamOp
    : Train_Op<"adam", [AllTypesMatch<["param", "grad", "exp_avg", "exp_avg_sq"]>]> {
  let summary = "an Adam or AdamW step with bias correction";
  let description = [{
    As PyTorch's Adam (`decoupled` = false: L2 decay folded into the gradient) and AdamW
    (`decoupled` = true: `param` scaled by 1 - `lr` `weight_decay` first):
    m' = b1 m + (1 - b1) g; v' = b2 v + (1 - b2) g^2;
    param' = param - lr / (1 - b1^t) * m' / (sqrt(v') / sqrt(1 - b2^t) + eps), t = `step`.
    Returns the new parameter and moments.

    ```mlir
    %p2, %m2, %v2 = train.adam %p, %g, %m, %v, %lr, %t <{beta1 = 0.9 : f64, beta2 = 0.999 : f64, decoupled = true, epsilon = 1.0e-08 : f64, weight_decay = 0.01 : f64}> : tensor<10xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$param, NN_FloatTensor:$grad, NN_FloatTensor:$exp_avg,
                       NN_FloatTensor:$exp_avg_sq, Train_Scalar:$lr, Train_Scalar:$step,
                       F64Attr:$beta1, F64Attr:$beta2, F64Attr:$epsilon, F64Attr:$weight_decay,
                       BoolAttr:$decoupled);
  let results = (outs NN_FloatTensor:$new_param, NN_FloatTensor:$new_exp_avg,
                      NN_FloatTensor:$new_exp_avg_sq);
  let assemblyFormat = [{
    $param `,` $grad `,` $exp_avg `,` $exp_avg_sq `,` $lr `,` $step prop-dict attr-dict `:` type($param)
  }];
}

def Train_AllReduceOp : Op<Train_Dialect, "all_reduce",
                            [InferTypeOpAdaptor, MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "gradients replaced by their mean (or `sum`) over every rank";
  let description = [{
    One bucket of the distribute phase: each result is its operand's mean over the ranks of the
    data-parallel group (the identity on one rank); with `sum`, the sum over the ranks (a
    pipelined model's squared gradient norm, whose stages hold different parameters). The op communicates, so it has effects:
    passes keep it where distribute put it (right after its last gradient is final), never
    merge two and never drop one, since every rank must run the same collectives in the same
    order. The plan starts it there and waits for it before the first use of a result.
  }];
  let arguments = (ins Variadic<NN_FloatTensor>:$grads, UnitAttr:$sum);
  let results = (outs Variadic<NN_FloatTensor>:$results);
  let assemblyFormat = "$grads attr-dict `:` type($grads)";
}

// Tensor parallelism (Megatron's f and g), inserted by nnc-tensor-parallel before autodiff.
def Train_TensorParallelCopyOp : Op<Train_Dialect, "tensor_parallel_copy",
    [Pure, SameOperandsAndResultType, DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "a replicated value entering column-parallel layers: identity, gradient summed";
  let description = [{
    The identity in the forward pass. Its gradient is the sum over the ranks of `group` of each
    rank's partial gradient (a `train.tensor_parallel_sum`): each rank's shard of the layers it
    feeds contributes only its part. nnc-tensor-parallel-update removes it after autodiff.

    ```mlir
    %x1 = train.tensor_parallel_copy %x {group = "tensor"} : tensor<16x64xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, DefaultValuedStrAttr<StrAttr, "tensor">:$group);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Train_TensorParallelSumOp : Op<Train_Dialect, "tensor_parallel_sum",
    [SameOperandsAndResultType, MemoryEffects<[MemRead, MemWrite]>,
     DeclareOpInterfaceMethods<NN_DifferentiableOpInterface>]> {
  let summary = "partial values summed over the ranks of a tensor-parallel group";
  let description = [{
    The sum over the ranks of `group` (today "tensor": every rank) of each rank's `input`: a
    row-parallel layer's partial output, or a column-parallel layer's partial input gradient.
    Its gradient is the identity (the result is the same on every rank). It communicates, so it
    has effects: every rank runs the same ones in the same order. The plan runs it as a
    blocking `plan.tensor_all_reduce`.

    ```mlir
    %y = train.tensor_parallel_sum %partial {group = "tensor"} : tensor<16x32xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, DefaultValuedStrAttr<StrAttr, "tensor">:$group);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

// --- Vocabulary-parallel layers (issue 20): which part of the vocabulary a rank holds ------

def Train_TensorParallelRankOp : Op<Train_Dialect, "tensor_parallel_rank",
                                    [MemoryEffects<[MemRead]>]> {
  let summary = "this rank's index in a tensor-parallel group, as an integer scalar";
  let description = [{
    The rank of this process among the ranks of `group` (0 to T - 1), known only at run time.
    nnc-tensor-parallel's vocabulary split offsets token ids and class labels by it to find the
    rows and columns this rank holds. The plan writes it with a `plan.tensor_rank` command.

    ```mlir
    %r = train.tensor_parallel_rank {group = "tensor"} : tensor<i64>
    ```
  }];
  let arguments = (ins DefaultValuedStrAttr<StrAttr, "tensor">:$group);
  let results = (outs 0DTensorOf<[I32, I64]>:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
}

// --- ZeRO-1 (issue 20): the shards of a flattened tensor over the ranks --------------------
// A tensor of n elements is flattened and zero-padded to `shards` * S elements, S =
// ceil(n / shards); rank r's shard is elements [r * S, (r + 1) * S). Which shard is this rank's
// is known only at run time, so these ops reach the plan as commands, like all_reduce.

def Train_ReduceScatterOp : Op<Train_Dialect, "reduce_scatter",
                                [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "this rank's shard of a gradient's mean over every rank";
  let description = [{
    ZeRO-1: the gradient, flattened and padded, summed over the ranks and divided by their
    number; the result is this rank's shard (1-D, ceil(n / shards) elements).

    ```mlir
    %s = train.reduce_scatter %g {shards = 2 : i64} : tensor<10x3xf32> -> tensor<15xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$grad, I64Attr:$shards);
  let results = (outs NN_FloatTensor:$shard);
  let assemblyFormat = "$grad attr-dict `:` type($grad) `->` type($shard)";
  let hasVerifier = 1;
}

def Train_TakeShardOp : Op<Train_Dialect, "take_shard", [MemoryEffects<[MemRead]>]> {
  let summary = "this rank's shard of a tensor (no communication)";
  let description = [{
    ZeRO-1: the parameter shard a rank's optimizer updates; zeros past the tensor's end.

    ```mlir
    %s = train.take_shard %p {shards = 2 : i64} : tensor<10x3xf32> -> tensor<15xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$input, I64Attr:$shards);
  let results = (outs NN_FloatTensor:$shard);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($shard)";
  let hasVerifier = 1;
}

def Train_AllGatherOp : Op<Train_Dialect, "all_gather", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "every rank's shard gathered into the whole tensor";
  let description = [{
    ZeRO-1: the updated parameter, whole on every rank: the shards in rank order, the padding
    dropped, reshaped to the result type.

    ```mlir
    %p2 = train.all_gather %s {shards = 2 : i64} : tensor<15xf32> -> tensor<10x3xf32>
    ```
  }];
  let arguments = (ins NN_FloatTensor:$shard, I64Attr:$shards);
  let results = (outs NN_FloatTensor:$result);
  let assemblyFormat = "$shard attr-dict `:` type($shard) `->` type($result)";
  let hasVerifier = 1;
}

#endif // NNC_DIALECT_TRAIN_OPS_TD
