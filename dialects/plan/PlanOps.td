// The `plan` dialect's ops: the plan and its buffers and functions, and one op per command of
// proto/plan.proto. Commands carry the user's node they compute (`node`), for errors and
// profiles, and refer to tensors by slices (#plan.slice<@buffer : type>).
#ifndef NNC_DIALECT_PLAN_OPS_TD
#define NNC_DIALECT_PLAN_OPS_TD

include "dialects/plan/PlanDialect.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/SymbolInterfaces.td"

class Plan_Op<string mnemonic, list<Trait> traits = []> : Op<Plan_Dialect, mnemonic, traits>;

def Plan_PlanOp : Plan_Op<"plan", [SymbolTable, NoTerminator, SingleBlock, IsolatedFromAbove]> {
  let summary = "a plan: the arena's buffers, the functions, a pipeline stage's schedule";
  let description = [{
    `arena_bytes` is set by buffer assignment (nnc-assign-buffers), the arena every buffer's
    offset lies in.

    ```mlir
    plan.plan attributes {arena_bytes = 4224 : i64} {
      plan.buffer @p.w param "w" size(4096) live(0, 9223372036854775807) offset(0)
      plan.func @predict { ... }
    }
    ```
  }];
  let arguments = (ins OptionalAttr<I64Attr>:$arena_bytes);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
}

def Plan_BufferOp : Plan_Op<"buffer", [Symbol, HasParent<"PlanOp">]> {
  let summary = "a buffer of the arena, live over [start, end] of the plan's op order";
  let description = [{
    The unit buffer assignment places: a tensor and its views, a parameter (`param`, shared by
    every function) or a constant. Live ranges count the entry functions' ops one after the
    other; parameters and constants live throughout (end = int64 max). `offset` is set by
    nnc-assign-buffers.

    ```mlir
    plan.buffer @t3 size(512) live(4, 6) offset(128)
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, OptionalAttr<StrAttr>:$param, I64Attr:$size,
                       I64Attr:$start, I64Attr:$end, OptionalAttr<I64Attr>:$offset);
  let assemblyFormat = [{
    $sym_name (`param` $param^)? `size` `(` $size `)` `live` `(` $start `,` $end `)`
    (`offset` `(` $offset^ `)`)? attr-dict
  }];
}

def Plan_FuncOp : Plan_Op<"func", [Symbol, HasParent<"PlanOp">, NoTerminator, SingleBlock]> {
  let summary = "a function of the plan: its inputs, outputs and commands, in order";
  let description = [{
    `flops` (per call), `checked_gradients` and `checked_nodes` (dictionaries {node, pass}) are
    carried over from the entry function for monitoring.

    ```mlir
    plan.func @predict attributes {flops = 25088 : i64} {
      plan.input "x" #plan.slice<@t0 : tensor<4x784xf32>>
      plan.gemm "fc" ...
      plan.output "y" #plan.slice<@t2 : tensor<4x10xf32>>
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, OptionalAttr<I64Attr>:$flops,
                       OptionalAttr<StrArrayAttr>:$checked_gradients,
                       OptionalAttr<DictArrayAttr>:$checked_nodes);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
}

def Plan_InputOp : Plan_Op<"input", [HasParent<"FuncOp">]> {
  let summary = "a graph input the caller writes before the function runs";
  let description = [{
    ```mlir
    plan.input "tokens" #plan.slice<@t0 : tensor<4x8xi32>> {index_limit = 65 : i64}
    ```
  }];
  let arguments = (ins StrAttr:$name, Plan_SliceAttr:$slice, OptionalAttr<I64Attr>:$index_limit,
                       OptionalAttr<StrAttr>:$index_reader);
  let assemblyFormat = "$name $slice attr-dict";
}

def Plan_OutputOp : Plan_Op<"output", [HasParent<"FuncOp">]> {
  let summary = "a named result the caller reads after the function ran";
  let description = [{
    ```mlir
    plan.output "loss" #plan.slice<@t9 : tensor<f32>>
    ```
  }];
  let arguments = (ins StrAttr:$name, Plan_SliceAttr:$slice);
  let assemblyFormat = "$name $slice attr-dict";
}

def Plan_KernelCallOp : Plan_Op<"kernel_call", [HasParent<"FuncOp">]> {
  let summary = "a call of a compiled kernel on slices (operands, then results)";
  let description = [{
    ```mlir
    plan.kernel_call "relu" @kernel_3 [#plan.slice<@t1 : tensor<4x16xf32>>,
                                       #plan.slice<@t2 : tensor<4x16xf32>>]
    ```
  }];
  let arguments = (ins StrAttr:$node, FlatSymbolRefAttr:$callee, Plan_SliceArrayAttr:$args);
  let assemblyFormat = "$node $callee $args attr-dict";
}

def Plan_GemmOp : Plan_Op<"gemm", [HasParent<"FuncOp">]> {
  let summary = "a library GEMM: c = a * b (+ bias), batched, optionally strided, then relu";
  let description = [{
    (batch, m, k) x (batch, k, n) -> (batch, m, n); `transpose_b`: b is stored (n, k) (a linear
    layer's weight). Strided GEMMs (folded transposes) give each operand's (batch..., rows,
    cols) strides and the result's batch dimensions. `dtype` is every operand's element type.

    ```mlir
    plan.gemm "fc" #plan.slice<@t0 : tensor<4x784xf32>>, #plan.slice<@p.w : tensor<10x784xf32>>
        -> #plan.slice<@t1 : tensor<4x10xf32>> bias #plan.slice<@p.b : tensor<10xf32>>
        {batch = 1 : i64, dtype = f32, k = 784 : i64, m = 4 : i64, n = 10 : i64, transpose_b}
    ```
  }];
  let arguments = (ins StrAttr:$node, Plan_SliceAttr:$a, Plan_SliceAttr:$b, Plan_SliceAttr:$c,
                       OptionalAttr<Plan_SliceAttr>:$bias, I64Attr:$batch, I64Attr:$m,
                       I64Attr:$n, I64Attr:$k, UnitAttr:$transpose_b, UnitAttr:$relu,
                       TypeAttr:$dtype, OptionalAttr<DenseI64ArrayAttr>:$batch_dims,
                       OptionalAttr<DenseI64ArrayAttr>:$a_strides,
                       OptionalAttr<DenseI64ArrayAttr>:$b_strides,
                       OptionalAttr<DenseI64ArrayAttr>:$c_strides);
  let assemblyFormat = "$node $a `,` $b `->` $c (`bias` $bias^)? attr-dict";
}

def Plan_Conv2dOp : Plan_Op<"conv2d", [HasParent<"FuncOp">]> {
  let summary = "a library 2-D convolution pass: forward, backward_data or backward_weights";
  let description = [{
    The slices sit at the forward convolution's positions (input, weight, output); a backward
    pass's result takes its tensor's place: backward_data writes `input` (dL/dinput) from
    `output` (dL/doutput) and `weight`, backward_weights writes `weight`, and with a `bias`
    slice also dL/dbias there (in f32, whatever `dtype`). `input_key` / `output_key`: conv
    commands of one function whose read `input` (or `output`) has the same key read the same,
    unchanged bytes there, so the runtime may convert them to the library's layout once, at
    the first of them.

    ```mlir
    plan.conv2d "conv1" forward #plan.slice<@t0 : tensor<2x1x8x8xf32>>,
        #plan.slice<@p.k : tensor<4x1x3x3xf32>> -> #plan.slice<@t1 : tensor<2x4x6x6xf32>>
        {dilation = array<i64: 1, 1>, dtype = f32, groups = 1 : i64,
         padding = array<i64: 0, 0>, stride = array<i64: 1, 1>}
    ```
  }];
  let arguments = (ins StrAttr:$node, StrAttr:$pass, Plan_SliceAttr:$input,
                       Plan_SliceAttr:$weight, Plan_SliceAttr:$output,
                       OptionalAttr<Plan_SliceAttr>:$bias, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding, DenseI64ArrayAttr:$dilation,
                       I64Attr:$groups, UnitAttr:$relu, TypeAttr:$dtype,
                       OptionalAttr<I64Attr>:$input_key, OptionalAttr<I64Attr>:$output_key);
  let assemblyFormat = "$node $pass $input `,` $weight `->` $output (`bias` $bias^)? attr-dict";
  let hasVerifier = 1;
}

def Plan_CopyOp : Plan_Op<"copy", [HasParent<"FuncOp">]> {
  let summary = "copies a slice's bytes to another (a new parameter value to its own slice)";
  let description = [{
    ```mlir
    plan.copy "w" #plan.slice<@t7 : tensor<10xf32>> -> #plan.slice<@p.w : tensor<10xf32>>
    ```
  }];
  let arguments = (ins StrAttr:$node, Plan_SliceAttr:$src, Plan_SliceAttr:$dst);
  let assemblyFormat = "$node $src `->` $dst attr-dict";
}

def Plan_InitParameterOp : Plan_Op<"init_parameter", [HasParent<"FuncOp">]> {
  let summary = "fills a parameter's slice; one entry of the plan's parameter table";
  let description = [{
    A model parameter (`from_model`) takes the model's stored values or its initializer, drawn
    from random stream `stream` (its index in the table). Other parameters are optimizer or
    loss-scale state: zeros, or `constant` when it is set.

    ```mlir
    plan.init_parameter "w" #plan.slice<@p.w : tensor<10x784xf32>> stream 0 from_model
    plan.init_parameter "w.m" #plan.slice<@p.w.m : tensor<10x784xf32>> stream 2
    ```

    Under tensor parallelism `shard = [axis, shards]`: the slice holds one rank's part of the
    parameter along `axis`, whose whole tensor is `shards` times as long there. A fourth entry
    is the whole extent when it is shorter (a vocabulary split with padded parts).
    ZeRO-1: `zero_logical` is the whole tensor's type when the slice holds only this rank's
    shard of optimizer state (checkpoints hold the whole tensor).
  }];
  let arguments = (ins StrAttr:$name, Plan_SliceAttr:$slice, I64Attr:$stream,
                       UnitAttr:$from_model, OptionalAttr<F64Attr>:$constant,
                       OptionalAttr<DenseI64ArrayAttr>:$shard,
                       OptionalAttr<TypeAttr>:$zero_logical);
  let assemblyFormat = "$name $slice `stream` $stream (`from_model` $from_model^)? attr-dict";
}

def Plan_WriteBytesOp : Plan_Op<"write_bytes", [HasParent<"FuncOp">]> {
  let summary = "writes a constant's bytes to its slice (a splat fills the slice)";
  let description = [{
    ```mlir
    plan.write_bytes "one" #plan.slice<@t4 : tensor<f32>> = dense<1.0> : tensor<f32>
    ```
  }];
  let arguments = (ins StrAttr:$node, Plan_SliceAttr:$slice, ElementsAttr:$value);
  let assemblyFormat = "$node $slice `=` $value attr-dict";
}

def Plan_AllReduceStartOp : Plan_Op<"all_reduce_start", [HasParent<"FuncOp">]> {
  let summary = "starts an all-reduce (mean, or `sum`) of f32 sources over the ranks";
  let description = [{
    `sequence` is the collective's position among the function's; its results are written by
    the matching plan.all_reduce_wait.

    ```mlir
    plan.all_reduce_start "grads" seq 0 [#plan.slice<@t5 : tensor<10xf32>>]
        -> [#plan.slice<@t6 : tensor<10xf32>>]
    ```
  }];
  let arguments = (ins StrAttr:$node, I64Attr:$sequence, Plan_SliceArrayAttr:$sources,
                       Plan_SliceArrayAttr:$results, UnitAttr:$sum);
  let assemblyFormat = "$node `seq` $sequence $sources `->` $results attr-dict";
}

def Plan_AllReduceWaitOp : Plan_Op<"all_reduce_wait", [HasParent<"FuncOp">]> {
  let summary = "waits for the all-reduce `sequence`, which writes its results";
  let description = [{
    ```mlir
    plan.all_reduce_wait "grads" seq 0
    ```
  }];
  let arguments = (ins StrAttr:$node, I64Attr:$sequence);
  let assemblyFormat = "$node `seq` $sequence attr-dict";
}

def Plan_PipelineActionOp : Plan_Op<"pipeline_action", [HasParent<"PlanOp">]> {
  let summary = "one step of a pipeline stage's schedule (per update, in order)";
  let description = [{
    Kinds as proto/plan.proto's PipelineAction: forward, backward, send_activation,
    recv_activation, send_gradient, recv_gradient, apply; `peer` is the rank sent to or
    received from (the stage itself for forward, backward, apply).

    ```mlir
    plan.pipeline_action "recv_activation" micro_batch 0 peer 0
    ```
  }];
  let arguments = (ins StrAttr:$kind, I64Attr:$micro_batch, I64Attr:$peer);
  let assemblyFormat = "$kind `micro_batch` $micro_batch `peer` $peer attr-dict";
  let hasVerifier = 1;
}

def Plan_TensorAllReduceOp : Plan_Op<"tensor_all_reduce", [HasParent<"FuncOp">]> {
  let summary = "sums an f32 slice over the ranks of a tensor-parallel group, blocking";
  let description = [{
    Tensor parallelism: `source` summed over the ranks of `group` ("tensor": today every rank)
    into `result` before the next command runs.

    ```mlir
    plan.tensor_all_reduce "fc2" group "tensor" #plan.slice<@t5 : tensor<16x32xf32>>
        -> #plan.slice<@t6 : tensor<16x32xf32>>
    ```
  }];
  let arguments = (ins StrAttr:$node, StrAttr:$group, Plan_SliceAttr:$source,
                       Plan_SliceAttr:$result);
  let assemblyFormat = "$node `group` $group $source `->` $result attr-dict";
}

// Issue 20: a vocabulary-parallel layer's rank (train.tensor_parallel_rank).
def Plan_TensorRankOp : Plan_Op<"tensor_rank", [HasParent<"FuncOp">]> {
  let summary = "writes this rank's index in a tensor-parallel group into an integer scalar";
  let description = [{
    ```mlir
    plan.tensor_rank "lm_head" group "tensor" -> #plan.slice<@t3 : tensor<i64>>
    ```
  }];
  let arguments = (ins StrAttr:$node, StrAttr:$group, Plan_SliceAttr:$result);
  let assemblyFormat = "$node `group` $group `->` $result attr-dict";
}

// Issue 23: fused causal attention (nn.causal_attention and its gradient) as one library call.
def Plan_CausalAttentionOp : Plan_Op<"causal_attention", [HasParent<"FuncOp">]> {
  let summary = "fused causal attention, forward or backward, over (batch, T, D) slices";
  let description = [{
    forward: `args` are q, k, v, result, lse; backward: q, k, v, result, lse, grad, dq, dk,
    dv. q's leading dimensions multiply into the batch; `dtype` is every operand's but lse's
    (f32).

    ```mlir
    plan.causal_attention "attn.probs" "forward" [#plan.slice<@t0 : tensor<2x64x16xf32>>, ...]
        {dtype = f32, scale = 2.500000e-01 : f64}
    ```
  }];
  let arguments = (ins StrAttr:$node, StrAttr:$pass, Plan_SliceArrayAttr:$args, F64Attr:$scale,
                       TypeAttr:$dtype);
  let assemblyFormat = "$node $pass $args attr-dict";
}

// --- ZeRO-1 (issue 20): shards of a flattened tensor over the ranks (proto/plan.proto) ------

class Plan_ShardOp<string mnemonic, string what> : Plan_Op<mnemonic, [HasParent<"FuncOp">]> {
  let summary = what;
  let arguments = (ins StrAttr:$node, Plan_SliceAttr:$src, Plan_SliceAttr:$dst);
  let assemblyFormat = "$node $src `->` $dst attr-dict";
  let hasVerifier = 1;
}

def Plan_ReduceScatterOp : Plan_ShardOp<"reduce_scatter",
    "this rank's shard of the source's mean over the ranks (blocking)"> {
  let description = [{
    ```mlir
    plan.reduce_scatter "fc.weight" #plan.slice<@t5 : tensor<10x3xf32>>
        -> #plan.slice<@t6 : tensor<15xf32>>
    ```
  }];
}

def Plan_AllGatherOp : Plan_ShardOp<"all_gather",
    "every rank's shard gathered into the whole tensor (blocking)"> {
  let description = [{
    ```mlir
    plan.all_gather "fc.weight" #plan.slice<@t7 : tensor<15xf32>>
        -> #plan.slice<@t8 : tensor<10x3xf32>>
    ```
  }];
}

def Plan_TakeShardOp : Plan_ShardOp<"take_shard", "this rank's shard of a tensor, copied"> {
  let description = [{
    ```mlir
    plan.take_shard "fc.weight" #plan.slice<@p.fc.weight : tensor<10x3xf32>>
        -> #plan.slice<@t4 : tensor<15xf32>>
    ```
  }];
}

#endif // NNC_DIALECT_PLAN_OPS_TD
