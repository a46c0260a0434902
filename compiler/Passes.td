// The passes of nnc's pipeline (assembled per phase in pipeline/Pipeline.cpp).
#ifndef NNC_COMPILER_PASSES_TD
#define NNC_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def PipelineSplit : Pass<"nnc-pipeline-split", "mlir::ModuleOp"> {
  let summary = "Pipeline parallelism: cut @forward into stages, one nested module each";
  let description = [{
    With `nn.training.pipeline.stages` S > 1, @forward is cut into S stages after the
    `stage_boundaries` nodes, or where the FLOPs split most evenly; a cut must pass exactly one
    tensor. Stage s becomes `module @stage<s>`, whose @forward takes the activation before it
    (`nnc.pipe.in`, differentiable: autodiff returns its gradient as `nnc.pipe.grad_out`) and,
    unless it is the last, returns its activation (`nnc.pipe.out`) with the loss
    sum(out * `nnc.pipe.grad_in`), whose gradients are the model's backward pass given the next
    stage's gradient. Each stage accumulates over `micro_batches`. The rest of the pipeline then
    compiles every stage module like a model; each becomes one rank's plan.

    Before: `@forward(x, y, w1, w2) -> loss` with a boundary at node "fc1"
    After:  `module @stage0 { @forward(x, w1, grad_in) -> (sum(h * grad_in), h) }`,
            `module @stage1 { @forward(h {nn.differentiable}, y, w2) -> loss }`
  }];
  let dependentDialects = ["nnc::nn::NNDialect", "mlir::func::FuncDialect"];
}

def PipelineForward : Pass<"nnc-pipeline-forward", "mlir::ModuleOp"> {
  let summary = "A pipeline stage's forward pass alone, @forward_step";
  let description = [{
    For a stage module that sends an activation on: @forward_step is @accumulate_step cut down
    to what computes `nnc.pipe.out`, for the 1F1B schedule's forward slots (the backward slot,
    @accumulate_step, recomputes the forward from the stage's input).
  }];
}

def FuseAttention : Pass<"nnc-fuse-attention", "mlir::func::FuncOp"> {
  let summary = "Fuse causal attention (scores, scale, causal mask, softmax, product) into one op";
  let description = [{
    Before autodiff, so that the backward pass is the fused op's own: `nn.matmul(q, kT)`, an
    optional scale (`nn.mul` or `nn.div` by a scalar constant), `nn.causal_mask` with a fill of
    -inf, `nn.softmax` over the last axis and `nn.matmul(probs, v)` become one
    `nn.causal_attention(q, k, v) {scale}` (a library call that never stores the T x T
    probabilities). Only where every intermediate has that one use and q, k, v share a shape;
    any other attention (no causal mask, another softmax axis, a finite fill, the probabilities
    read elsewhere) is left alone. CPU plans only (the CUDA driver has no fused attention); bf16
    and fp16 models only with `low-precision` (the driver sets it where the CPU has no AMX: AMX
    runs the unfused graph's bf16 GEMMs faster than the fused kernel's f32 arithmetic).

    Before: `%s = nn.matmul %q, %kt`, `%c = nn.mul %s, %scale`, `%m = nn.causal_mask %c`,
            `%p = nn.softmax %m`, `%y = nn.matmul %p, %v`
    After:  `%k = nn.transpose %kt`, `%y, %lse = nn.causal_attention %q, %k, %v <{scale = ...}>`
  }];
  let options = [
    Option<"lowPrecision", "low-precision", "bool", /*default=*/"false",
           "Also fuse the attention of bf16 and fp16 models">,
  ];
}

def Autodiff : Pass<"nnc-autodiff", "mlir::ModuleOp"> {
  let summary = "Build @train_step: forward and backward (per-op VJPs), returning gradients";
  let description = [{
    Clones `@forward` into `@train_step` when the module's `nn.training` spec names an
    optimizer, seeds the loss gradient with 1 and visits the ops in reverse calling each op's
    `DifferentiableOpInterface::buildVjp` (fan-out gradients summed). `@train_step` returns the
    loss, then each trainable parameter's gradient (`nn.gradient = "<name>"`); a model with
    dropout also takes the scalar inputs `nnc.step` and `nnc.rng_key`. `nnc-optimizer` turns the
    gradients into updates.

    Before: `func.func @forward(%x, %y, %w) -> (loss, logits)`
    After:  also `func.func @train_step(%x, %y, %w) -> (loss {nn.output}, dw {nn.gradient = "w"})`
  }];
  let dependentDialects = ["mlir::func::FuncDialect"];
}

def Optimizer : Pass<"nnc-optimizer", "mlir::ModuleOp"> {
  let summary = "Turn @train_step's gradients into optimizer updates (train ops), with clipping";
  let description = [{
    Applies the optimizer of the module's `nn.training` spec to the gradients `nnc-autodiff`
    returns: global-norm clipping (the pre-clip norm becomes the output `grad_norm`), then one
    `train` op per trainable parameter (SGD, momentum, Nesterov, Adam, AdamW). The optimizer
    state becomes parameters of its own (`<name>.momentum`, `<name>.exp_avg`, ..., zeros), and
    the step takes a scalar `nnc.learning_rate` (and `nnc.step` for Adam). The gradient results
    are replaced by the new parameters and state (`nn.updates = "<name>"`).

    Before: `func.func @train_step(%x, %w) -> (loss, dw {nn.gradient = "w"})`
    After:  `func.func @train_step(%x, %w, %w.momentum, %lr) -> (loss, w', w.momentum')`
  }];
  let dependentDialects = ["nnc::train::TrainDialect"];
}

def Precision : Pass<"nnc-precision", "mlir::ModuleOp"> {
  let summary = "Mixed precision: low-precision compute, fp32 allow-list and master weights";
  let description = [{
    Under the module's `nn.training.precision` policy (bf16 or fp16; fp32 does nothing), every
    float `nn` op of every function computes in the low type except the fp32 allow-list
    (softmax, log_softmax, layer_norm, losses, reductions by default, or
    `precision.fp32_ops`); `train` ops (the optimizer) always compute in fp32, so parameters
    and optimizer state stay fp32 master copies. Casts go where an operand's type differs from
    its op's (one cast per value and type); function results are cast back to fp32, so a plan's
    inputs, outputs and parameters keep their types. Under fp16, `@train_step` also gets
    dynamic loss scaling: the backward pass is seeded with the scale (state
    `nnc.loss_scale`), gradients are unscaled in fp32 and checked by one `train.all_finite`,
    an overflowing step keeps every parameter and halves the scale, `growth_interval` clean
    steps double it; outputs `loss_scale` and `skipped_steps`.

    Before: `%h = nn.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>`
    After:  `%xl = nn.cast %x <{dtype = bf16}>`, `%wl = nn.cast %w <{dtype = bf16}>`,
            `%h = nn.linear %xl, %wl : tensor<4x8xbf16>, tensor<3x8xbf16>`
  }];
  let dependentDialects = ["nnc::nn::NNDialect"];
}

def Accumulate : Pass<"nnc-accumulate", "mlir::ModuleOp"> {
  let summary = "Gradient accumulation: split @train_step into micro-batch and update steps";
  let description = [{
    With `nn.training.accumulation_steps` k > 1, `@train_step` becomes `@accumulate_step`
    (forward and backward on one micro-batch; adds each gradient into an accumulator, state
    `nnc.accumulator.<i>` in the parameter table, and returns the micro-batch loss) and
    `@apply_step` (the gradients as the accumulators' mean over the k micro-batches, then
    clipping and the optimizer, as `@train_step` did; zeroes the accumulators). The runtime runs
    accumulate_step k times, then apply_step once. The accumulated values are whatever the
    backward pass hands to the `train` ops: under fp16 the unscaled gradients, so the
    all-finite check and the scale update happen once per update.

    Before: `@train_step(x, y, w, lr) -> (loss, w')`
    After:  `@accumulate_step(x, y, w, acc) -> (loss, acc + dw)`,
            `@apply_step(w, acc, lr) -> (w', zeros)`
  }];
  let dependentDialects = ["nnc::nn::NNDialect"];
}

def Distribute : Pass<"nnc-distribute", "mlir::ModuleOp"> {
  let summary = "Data parallelism: all-reduce every gradient over the ranks, bucketed";
  let description = [{
    With `nn.training.data_parallel.world_size` N > 1, the function that applies the update
    (`@apply_step` under accumulation, so gradients are reduced once per update, else
    `@train_step`) replaces each gradient the `train` ops read by its mean over the ranks. The
    gradients are grouped, in the order the backward pass finishes them, into buckets of at
    most `data_parallel.bucket_bytes` (25 MiB when unset); each bucket is one `train.all_reduce`
    placed right after its last gradient, so its communication overlaps the rest of the
    backward pass. Under fp16 the reduced values are the unscaled fp32 gradients, so the
    all-finite check sees every rank's overflow and all ranks skip the same steps.

    In a pipeline stage's module (which holds only some of the parameters), the global norm that
    clipping compares with becomes sqrt of the stage's squared norm summed over the pipeline
    (`train.all_reduce {sum}`).

    Before: `%p2 = train.sgd %p, %g, %lr ...`
    After:  `%r = train.all_reduce %g : tensor<3x8xf32>` then `%p2 = train.sgd %p, %r, %lr ...`

    ZeRO-1 (module attribute `nnc.zero_stage` = 1, from `data_parallel.zero_stage`): each
    gradient becomes `train.reduce_scatter` (this rank's shard of the mean), the optimizer
    updates `train.take_shard` of the parameter with state arguments of the shard's type, and
    `train.all_gather` returns the whole new parameter; the global norm and fp16's overflow
    verdict are summed over the ranks. `nnc.zero_logical_types` keeps each sharded state's whole
    type for the plan's parameter table.

    After:  `%s = train.reduce_scatter %g {shards = 2} : tensor<3x8xf32> -> tensor<12xf32>`,
            `%ps = train.take_shard %p ...`, `%n = train.sgd %ps, %s, %lr ...`,
            `%p2 = train.all_gather %n {shards = 2} : tensor<12xf32> -> tensor<3x8xf32>`
  }];
  let dependentDialects = ["nnc::nn::NNDialect", "nnc::train::TrainDialect"];
}

def GuardNonfinite : Pass<"nnc-guard-nonfinite", "mlir::ModuleOp"> {
  let summary = "Skip updates on non-finite values; @find_nonfinite names the node";
  let description = [{
    The function that updates the parameters (`@train_step`, or `@apply_step` under
    accumulation) gets one `train.all_finite` over the loss and the gradient norm (or the
    gradients when nothing clips them); when it is 0 every parameter and optimizer state keeps
    its value (`nn.where` per update) and the new output `update_skipped` is 1. A copy of the
    step without the update, `@find_nonfinite` (same inputs but the learning rate), returns
    `nonfinite_checks`: one element per checked value in program order (parameters, graph
    inputs, then each op's results), 0 when finite, NaN otherwise; `nnc.checked_nodes` names
    each (node, and pass "parameter", "input", "forward" or "backward"). The runtime runs it
    only after a skipped update. fp16 plans keep their own loss-scaling check instead.

    Before: `@train_step(x, y, w, lr) -> (loss, w')`
    After:  `@train_step(x, y, w, lr) -> (loss, where(ok, w', w), 1 - ok)`,
            `@find_nonfinite(x, y, w) -> tensor<Nxf32>`
  }];
  let dependentDialects = ["nnc::nn::NNDialect", "nnc::train::TrainDialect"];
}

def ExpandTrainOps : Pass<"nnc-expand-train-ops", "mlir::func::FuncOp"> {
  let summary = "Expand `train` ops (optimizer updates, clipping) into `nn` ops";
  let description = [{
    The optimize phase's first step: once no pass needs to see an update whole, each `train` op
    becomes its formula in `nn` ops, which lowering fuses into one loop per parameter.

    Before: `%p2 = train.sgd %p, %g, %lr <{weight_decay = 0.0 : f64}> : tensor<3x8xf32>`
    After:  `%s = nn.mul %g, %lr ...` then `%p2 = nn.sub %p, %s ...`
  }];
  let dependentDialects = ["nnc::nn::NNDialect"];
}

def ExtractPredict : Pass<"nnc-extract-predict", "mlir::ModuleOp"> {
  let summary = "Derive the inference function @predict from @forward";
  let description = [{
    Clones `@forward` into `@predict`, which returns the model's outputs without the loss, runs
    dropout as the identity (evaluation mode) and drops the graph inputs that only the loss read
    (the labels), and into `@eval_step`, which returns the loss and the outputs, dropout off. Records its FLOPs per call as `nnc.flops` and erases `@forward` (the train
    step, if any, was built from it before). A model whose only result is its loss gets no
    `@predict`.

    Before: `func.func @forward(%x, %y, %w) -> (loss, logits)`
    After:  `func.func @predict(%x, %w) -> logits attributes {nnc.flops = ...}`
  }];
  let dependentDialects = ["mlir::func::FuncDialect"];
}

def FuseEpilogues : Pass<"nnc-fuse-epilogues", "mlir::func::FuncOp"> {
  let summary = "Fold a relu into the linear or conv2d that feeds only it; sums of pads that "
                "tile an axis into a concat";
  let description = [{
    A library call applies the activation while the result is still in registers, saving a
    pass over memory.

    Before: `%h = nn.linear %x, %w, %b ...` then `%r = nn.relu %h`
    After:  `%r = nn.linear %x, %w, %b <{activation = "relu"}> ...`

    The gradient of slices that split a tensor along one axis (attention's q, k, v taken from
    one projection) arrives as zero-padded full-size tensors added up; it is their
    concatenation, one copy instead of a full-size write and add per slice.

    Before: `%s = nn.add (nn.pad %dq low [0, 0, 0] high [0, 0, 256]), (nn.pad %dk ...)`, ...
    After:  `%s = nn.concat %dq, %dk, %dv <{axis = 2}>`

    With `conv-bias-gradients` (CPU plans: oneDNN's backward-weights convolution computes
    diff_bias while it reads dL/doutput), a convolution's bias gradient joins its weight
    gradient, saving a separate reduction over dL/doutput.

    Before: `%dw = nn.conv2d_grad_weight %x, %g ...`, `%db = nn.reduce_sum %g <{axes = [0, 2, 3]}>`
    After:  `%dw, %db = nn.conv2d_grad_weight %x, %g <{..., with_bias}>`
  }];
  let options = [
    Option<"convBiasGradients", "conv-bias-gradients", "bool", /*default=*/"false",
           "Fold a convolution's bias gradient into its weight gradient">,
  ];
}

def FoldMatmulLayouts : Pass<"nnc-fold-matmul-layouts", "mlir::func::FuncOp"> {
  let summary = "Fold the transposes around a matmul into its operand and result layouts";
  let description = [{
    oneDNN's matmul reads and writes strided matrices, so a transpose that only re-lays out a
    product's operand (a weight gradient's `g^T`, attention's head transposes) or its result
    costs a copy the library call does not need. The transposes compose into the matmul's
    `lhs_permutation`, `rhs_permutation` and `result_permutation`, as long as each matrix
    keeps a unit-stride row or column. CPU plans only (the CUDA driver has no strided Gemm).

    Before: `%t = nn.transpose %g <{permutation = array<i64: 1, 0>}>`, `nn.matmul %t, %x`
    After:  `nn.matmul %g, %x <{lhs_permutation = array<i64: 1, 0>}>`
  }];
}

def SplitColumnReductions : Pass<"nnc-split-column-reductions", "mlir::func::FuncOp"> {
  let summary = "Merge contiguous reduction loops; split sums over rows into per-share partial sums (CPU thread shares)";
  let description = [{
    The CPU codegen splits a kernel across threads by the first loop of its nests when that
    loop is parallel over the rows of what it writes. A column sum (a bias or layer-norm
    parameter gradient: sums over all rows into a tensor of rank 1 or more) starts with the
    reduction instead and ran on one thread. Its first loop is cut into 8 shares of rows, each summing into its own row of
    partial sums (a parallel first loop), and a small second op adds the 8 partials up. Each
    share still reads whole rows in order, the columns the vectorized inner loop.

    Before: `linalg.generic {iterator_types = ["reduction", "parallel"]} ins(%g : tensor<4096x512xf32>) outs(%zeros : tensor<512xf32>)`
    After:  the same over `(8, 512, 512)`, `["parallel", "reduction", "parallel"]`, on the
            `tensor<8x512x512xf32>` view of `%g` into `tensor<8x512xf32>` partials, then a
            sum of the partials' 8 rows

    First, adjacent reduction loops that every operand indexes as adjacent whole dimensions
    (or not at all) merge into one: their elements are contiguous, so a batch norm's sum over
    a 28 x 28 image runs one vectorized loop of 784 instead of 28 loops of 28, each ending in a
    remainder and a horizontal sum. Accumulators may keep reduced dimensions of size 1
    (`(0, d1, 0, 0)`, nn.reduce_sum with keepdim).
  }];
  let dependentDialects = ["mlir::tensor::TensorDialect", "mlir::arith::ArithDialect"];
}

def LowerNNToLinalg : Pass<"nnc-lower-nn-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Lower nn ops to linalg on tensors, except contractions and constants";
  let description = [{
    Elementwise ops, normalizations, pooling, embedding, reductions and losses become
    `linalg.generic` ops (a few per multi-pass op such as softmax); reshape becomes
    collapse/expand views. `nn.linear`, `nn.matmul` and `nn.conv2d` stay: they cross the
    library-call boundary. `nn.constant` stays: the plan writes its data once.

    Before: `%y = nn.relu %x : tensor<4x8xf32>`
    After:  `%y = linalg.generic {...} ins(%x) outs(%empty) { arith.maximumf ... }`
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::scf::SCFDialect"];
  let options = [
    Option<"scatterLoops", "scatter-loops", "bool", /*default=*/"false",
           "An embedding gradient is a loop that adds each looked-up row's gradient to its "
           "table row (CPU kernels), instead of one linalg op over every (table row, looked-up "
           "row) pair">,
    Option<"softmaxExpsOnce", "softmax-exps-once", "bool", /*default=*/"false",
           "A softmax keeps its exponentials for the quotient (CPU kernels, which pass them "
           "through a row buffer in cache), instead of computing them again in the quotient's "
           "pass (cheaper than a pass over memory on a GPU)">
  ];
}

def OutlineKernels : Pass<"nnc-outline-kernels", "mlir::ModuleOp"> {
  let summary = "Outline each linalg computation of the entry points into a kernel function";
  let description = [{
    After this pass an entry point (`@predict`) holds only host-level work: library-call ops
    (nn.linear, nn.matmul, nn.conv2d), views (collapse/expand_shape), constants and
    `func.call`s of kernels. Each kernel is a destination-passing function
    `@k<i>_<node>(inputs..., %outs...) -> tensors` marked `nnc.kernel`, holding one linalg (or
    tensor.pad / tensor.concat) op and the init ops (empty, fill, constants) it needs, with each
    result written into its `%out` so that bufferization makes it a plain out-parameter.

    With `row-groups` (the CPU), consecutive linalg ops over the same rows, each reading what the
    earlier ones wrote only at its own row, share one kernel (a layer norm, a softmax): codegen
    runs them row by row, and results only the group reads stay inside it.
  }];
  let options = [
    Option<"rowGroups", "row-groups", "bool", /*default=*/"true",
           "Outline row groups of ops into one kernel">,
  ];
  let dependentDialects = ["mlir::func::FuncDialect"];
}

def FuseGuards : Pass<"nnc-fuse-guards", "mlir::func::FuncOp"> {
  let summary = "Let guarded updates read the guarded optimizer state";
  let description = [{
    After `nnc-expand-train-ops`: a value that a guard of `nnc-guard-nonfinite` selects
    (`nn.where {nnc.guard}`) and that other ops also read (Adam's new moments, read by the
    parameter's update) is read through the guard instead, so the select is its only user and
    fuses into the loop that computes it. Results are unchanged: on a finite step the guard
    passes the value through, on a skipped one its readers' results are discarded too.

    Before: `%m2 = ...`, `%p2 = ... %m2 ...`, `%g = nn.where %ok, %m2, %m {nnc.guard}`
    After:  `%m2 = ...`, `%g = nn.where %ok, %m2, %m {nnc.guard}`, `%p2 = ... %g ...`
  }];
}

def FuseElementwise : Pass<"nnc-fuse-elementwise", "mlir::func::FuncOp"> {
  let summary = "Fuse elementwise linalg.generic ops, including producers with several users";
  let description = [{
    MLIR's elementwise fusion, which fuses a producer only into its single user, extended to a
    producer with several users in one block: it fuses into the first of them, and the fused op
    also yields the producer's result to the others. An optimizer step becomes one loop per
    parameter that reads the gradient, the moments and the parameter once and writes the new
    moments and parameter (which the plan then computes in place).

    A fused body stops growing at `max-body-ops` ops: each fusion clones both bodies into a new
    op, so fusing a chain of n ops into one took time growing as n^2.

    Before: `%gc = linalg.generic(%g)`, `%m1 = linalg.generic(%gc, %m)`,
            `%v1 = linalg.generic(%gc, %v)`, `%p1 = linalg.generic(%p, %m1, %v1)`
    After:  `%m1, %v1, %p1 = linalg.generic(%g, %m, %v, %p)`
  }];
  let options = [
    Option<"maxBodyOps", "max-body-ops", "unsigned", "256",
           "Fuse two generics only when their bodies have at most this many ops together">,
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::affine::AffineDialect"];
}

def DedupKernels : Pass<"nnc-dedup-kernels", "mlir::ModuleOp"> {
  let summary = "Compile identical kernel functions once";
  let description = [{
    After outlining, kernels that differ only in name and locations (the forward pass shared by
    `@predict`, `@eval_step`, `@train_step` and `@find_nonfinite`; layers of equal shapes)
    become one: calls of a duplicate call the first kernel of its kind, and the duplicate is
    erased, so codegen compiles each body once.

    Before: `@k0_fc1` and `@k7_fc1` with equal bodies, called from `@predict` and `@train_step`
    After:  only `@k0_fc1`, called from both
  }];
}

//===----------------------------------------------------------------------===//
// The codegen phase (CPU): the kernels' copies, bufferized and lowered to the LLVM dialect.
// pipeline/Pipeline.cpp's buildCodegenPipeline runs these with the upstream passes between them.
//===----------------------------------------------------------------------===//

def ExtractKernels : Pass<"nnc-extract-kernels", "mlir::ModuleOp"> {
  let summary = "Copy the kernel functions into a nested module for codegen";
  let description = [{
    Codegen changes the kernels' signatures (row shares, view results, out-parameters) and
    lowers them to the LLVM dialect, while the plan builder still reads the entry points'
    calls of them as they are. So the `nnc.kernel` functions are copied, in order, into a new
    `module attributes {nnc.kernels}` at the end of the module (one, even when there are no
    kernels); the codegen passes run nested on it and the library is built from it.

    Before: `func.func @predict(...) { call @k0_fc1 ... }`,
            `func.func private @k0_fc1 ... {nnc.kernel}`
    After:  the same, then `module attributes {nnc.kernels} { func.func private @k0_fc1 ... }`
  }];
}

def WriteViewResultsDirectly : Pass<"nnc-write-view-results-directly", "mlir::ModuleOp"> {
  let summary = "A kernel whose result is a slice, concat or pad writes it into an out-argument";
  let description = [{
    Such a kernel has no destination of its own and would bufferize into a temporary buffer
    that is then copied to the result buffer. It gets the result buffer as a trailing
    `bufferization.writable` argument instead (where the plan's calling convention already
    passes it) and builds the result in it: a copy for a slice, a fill and an insert for a
    constant pad, one insert per part for a concatenation of at most 16 parts.

    Before: `func.func @k(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {`
            `  %s = tensor.extract_slice %x[0, 0] [4, 4] [1, 1] ...; return %s }`
    After:  `func.func @k(%x: tensor<4x8xf32>,`
            `             %out: tensor<4x4xf32> {bufferization.writable = true})`
            `  { %s = tensor.extract_slice ...; %c = linalg.copy ins(%s) outs(%out); return %c }`
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

def MarkOuterLoopsScalar : Pass<"nnc-mark-outer-loops-scalar", "mlir::ModuleOp"> {
  let summary = "Mark loops that hold inner loops of 8 or more iterations 'do not vectorize'";
  let description = [{
    LLVM's loop vectorizer runs after full unrolling: a kernel whose inner loops are short (a
    pooling window's rows) is left with an outer loop innermost, which it would vectorize with
    gathers and scatters. The mark (a `llvm.loop_annotation` that convert-scf-to-cf copies to
    the back edge) leaves those unrolled bodies to the SLP vectorizer.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

def MoveLoopAnnotations : Pass<"nnc-move-loop-annotations", "mlir::ModuleOp"> {
  let summary = "Make the loop annotations that convert-scf-to-cf copied the llvm.br's own";
}

def FoldLoopResults : Pass<"nnc-fold-loop-results", "mlir::ModuleOp"> {
  let summary = "Fold loop results that are their buffer operands (scf.for canonicalization)";
  let description = [{
    After bufferization, a loop that updates its result buffer in place (the embedding
    gradient's scatter) yields that buffer unchanged. scf.for's canonicalization patterns (with
    the greedy driver's folding, not the whole canonicalizer) fold the result to the buffer
    itself, so that drop-equivalent-buffer-results sees the kernel's result is its `%out`.

    Before: `%r = scf.for ... iter_args(%b = %out) -> memref<...> { ...; scf.yield %b }`,
            `return %r`
    After:  `scf.for ... { ... }`, `return %out`
  }];
  let dependentDialects = ["mlir::scf::SCFDialect"];
}

def CopiesToLinalg : Pass<"nnc-copies-to-linalg", "mlir::func::FuncOp"> {
  let summary = "memref.copy becomes linalg.copy (loops, not a runtime-library call)";
  let description = [{
    A strided memref.copy (a slice, a part of a concatenation) lowers to a call into MLIR's C
    runner library, which a plan cannot carry; linalg.copy lowers to loops.

    Before: `memref.copy %a, %b : memref<4xf32, strided<[2]>> to memref<4xf32>`
    After:  `linalg.copy ins(%a : memref<4xf32, strided<[2]>>) outs(%b : memref<4xf32>)`
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def MarkRows : Pass<"nnc-mark-rows", "mlir::ModuleOp"> {
  let summary = "Mark the bufferized kernels whose loop nests run row by row or in row shares";
  let description = [{
    A kernel's rows are the extent of the first loop of every linalg op of its body when each
    such loop is parallel, indexes the first dimension of every buffer the op writes and of
    every buffer an earlier op wrote that it reads, and the body holds nothing else but views,
    constants and allocations. The same may hold of the first `depth` loops together.

    A kernel of several such nests gets `nnc.fuse_rows = depth` (nnc-fuse-row-loops runs them
    row by row). A kernel with at least 2 rows and 32768 iterations gets two trailing `index`
    arguments, `part` and `parts`, and `nnc.rows = rows` (nnc-cut-row-loops restricts it to
    its share of the rows; the library exports an entry per share). A kernel with a transpose
    among other nests gets neither (its tiled loops step by 16 rows).

    Before: `func.func @k(%x: memref<256x128xf32>, %out: memref<256x128xf32>) {`
            `  linalg.generic {iterator_types = ["parallel", "parallel"]} ... }`
    After:  `func.func @k(%x: memref<256x128xf32>, %out: memref<256x128xf32>,`
            `             %part: index, %parts: index) attributes {nnc.rows = 256 : i64}`
  }];
}

def VectorizeTransposes : Pass<"nnc-vectorize-transposes", "mlir::func::FuncOp"> {
  let summary = "Transposes that move the innermost dimension become 16x16 register tiles";
  let description = [{
    A linalg.transpose on f32 buffers of identity layout whose output's innermost dimension and
    the dimension it exchanges with are multiples of 16 becomes loops over 16 x 16 tiles, each
    read as 16 rows, transposed in registers (vector.transpose, lowered to AVX-512 shuffles)
    and written as 16 rows. Element by element, every read of a column touches a new cache line
    and LLVM vectorizes with scatters. The loops follow the output's dimensions in order, so
    row shares still apply.

    Before: `linalg.transpose ins(%a : memref<32x64xf32>) outs(%b : memref<64x32xf32>)`
            `    permutation = [1, 0]`
    After:  `scf.for %i = 0 to 64 step 16 { scf.for %j = 0 to 32 step 16 {`
            `  %t = vector.transfer_read %a[%j, %i] : vector<16x16xf32>`
            `  vector.transfer_write (vector.transpose %t, [1, 0]), %b[%i, %j] } }`
  }];
  let dependentDialects = ["mlir::vector::VectorDialect", "mlir::scf::SCFDialect",
                           "mlir::arith::ArithDialect"];
}

def ExpandExpPolynomial : Pass<"nnc-expand-exp-polynomial", "mlir::func::FuncOp"> {
  let summary = "f32 exp becomes Cephes' polynomial inline";
  let description = [{
    A loop calling glibc's vector expf spills and reloads its live vectors around every call
    (all vector registers are caller-saved): half of GELU's backward kernel. Instead:
    n = round(x / ln 2), r = x - n ln 2 (two parts), exp(x) = 2^n (1 + r + r^2 P(r)) with P of
    degree 5 and 2^n built in the exponent bits (as two halves, normal at n = -126 and 128).
    Below ln(FLT_MIN) the result is 0 (a subnormal, which the runtime flushes anyway), above
    ln(FLT_MAX) +inf; NaN stays NaN. Only arith ops, so nothing becomes a libm call.

    Before: `%e = math.exp %x : f32`
    After:  `%c = arith.minnumf (arith.maxnumf %x, -87.33654), 88.72283`,
            `%n = arith.fptosi (%c * log2(e) +- 0.5)`, `%r = %c - %n ln 2`, the polynomial,
            `%y * bitcast((%n / 2 + 127) << 23) * bitcast((%n - %n / 2 + 127) << 23)`, then
            selects: 0 below, +inf above, %x where it is NaN
  }];
  let dependentDialects = ["mlir::arith::ArithDialect"];
}

def ComputeInF32 : Pass<"nnc-compute-in-f32", "mlir::func::FuncOp"> {
  let summary = "bf16/f16 arith and math ops compute in f32; the low precision stays at loads "
                "and stores";
  let description = [{
    LLVM lowers each bf16 op as extend, f32 op, truncate: a chain of them rounds after every op
    and converts back and forth, and math ops on bf16 miss the f32 rewrites (erf stayed a call
    of glibc's erff). Each arith/math op whose float operands and results share one
    low-precision type is recomputed in f32 from the f32 versions of its operands (an
    arith.extf made once per value); its low-precision result becomes an arith.truncf of the
    f32 one, kept only where something still needs that type (a store, a yield). An arith.extf
    of such a result to f32 is the f32 value itself. Results are at least as accurate as before
    (one rounding at the store instead of one per op).

    Before: `%a = arith.mulf %x, %c : bf16`, `%e = math.erf %a : bf16`, `linalg.yield %e : bf16`
    After:  `%xw = arith.extf %x`, `%cw = arith.extf %c`, `%a = arith.mulf %xw, %cw : f32`,
            `%e = math.erf %a : f32`, `%t = arith.truncf %e : f32 to bf16`, `linalg.yield %t`
  }];
  let dependentDialects = ["mlir::arith::ArithDialect"];
}

def ExpandErfRational : Pass<"nnc-expand-erf-rational", "mlir::func::FuncOp"> {
  let summary = "f32 erf becomes a rational approximation inline (Eigen's and XLA's)";
  let description = [{
    glibc's vector erff costs about 0.8 ns a value, which made GELU's kernels 10% of the
    char-GPT's step. x is clamped to [-4, 4] (erf is +-1 in f32 beyond), then an odd polynomial
    over an even one in x^2: FMAs and one division that vectorize in the loop. At most 3.7e-7
    absolute error against double erf over [-6, 6]. erf(NaN) stays NaN.

    Before: `%e = math.erf %x : f32`
    After:  `%c = arith.minnumf (arith.maxnumf %x, -4.0), 4.0`, `%p = x * P(x^2)`, `%q = Q(x^2)`,
            `%e = arith.select (arith.cmpf uno, %x, %x), %x, (arith.divf %p, %q)`
  }];
  let dependentDialects = ["mlir::arith::ArithDialect"];
}

def FuseRowLoops : Pass<"nnc-fuse-row-loops", "mlir::func::FuncOp"> {
  let summary = "After convert-linalg-to-loops: a `nnc.fuse_rows` kernel's row loops become one";
  let description = [{
    In a kernel marked `nnc.fuse_rows = n`, the loop nests' first loops (all over the same
    constant bounds, step 1) become one, each iteration running every nest's body for that row
    in order; then the loops directly inside it the same way, down to n levels. Allocations and
    views move before the loop, deallocations after it. A buffer of the kernel's own that is
    only read and written at the current row (what one op passes to the next) shrinks to one
    row, reused by every iteration, so it stays in cache. The attribute goes.

    Before: `scf.for %i = 0 to 4 { store ... %tmp[%i, %j] }`,
            `scf.for %i = 0 to 4 { load %tmp[%i, %j] ... }`
    After:  `scf.for %i = 0 to 4 { store ... %row[0, %j]; load %row[0, %j] ... }`,
            `%row : memref<1x8xf32>`
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::memref::MemRefDialect"];
}

def CutRowLoops : Pass<"nnc-cut-row-loops", "mlir::func::FuncOp"> {
  let summary = "After convert-linalg-to-loops: a `nnc.rows` kernel runs only its share of rows";
  let description = [{
    Each top-level loop of a kernel marked `nnc.rows = rows` (one per loop nest, its first loop
    over the rows, from 0 to rows) runs only iterations [part * chunk, (part + 1) * chunk),
    chunk = ceil(iterations / parts), clamped to the rows; `part` and `parts` are the kernel's
    last two arguments. A loop that steps by a tile gets whole tiles. A top-level loop over other
    bounds is an error.

    Before: `scf.for %i = %c0 to %c256 step %c1 { ... }`
    After:  `%chunk = arith.ceildivui %c256, %parts`,
            `%first = arith.minui (%part * %chunk), %c256`, ...,
            `scf.for %i = %begin to %end step %c1 { ... }`
  }];
  let dependentDialects = ["mlir::arith::ArithDialect"];
}

// The plan phase: the post-codegen module -> `plan` IR, buffer placement, pipeline schedule.

def Recompute : Pass<"nnc-recompute", "mlir::ModuleOp"> {
  let summary = "Recompute idle activations until the arena fits a memory budget";
  let description = [{
    `nnc compile --memory-budget BYTES`. Runs on the host-op sequence that nnc-lower-to-plan
    lowers, with its liveness rules. While the estimated arena (parameters, optimizer state and
    constants, plus the temporaries placed as nnc-assign-buffers places them) exceeds the
    budget, the tensor with the most bytes freed per FLOP among those idle across the peak is
    computed again just before its next reader, from operands live there anyway (kernel calls
    and the forward library calls: nn.linear, nn.matmul, nn.conv2d). Records what it recomputed
    in the module's `nnc.recomputed` (per function: the nodes and the FLOPs added); fails,
    naming the function and the bytes it got to, when the budget cannot be met.

    Before: `%a = call @k_relu(%x, %e)` ... (peak) ... `%g = call @k_relu_grad(%a, %dy, %e2)`
    After:  the same, and `%a2 = call @k_relu(%x, %e3)` just before `@k_relu_grad(%a2, ...)`
            where %x is live anyway (read by a later gradient)
  }];
  let options = [
    Option<"memoryBudget", "memory-budget", "int64_t", "0",
           "The arena's limit in bytes (0: no limit, the pass does nothing)">,
  ];
}

def LowerToPlan : Pass<"nnc-lower-to-plan", "mlir::ModuleOp"> {
  let summary = "Lower the entry points (host ops and kernel calls) to a `plan.plan`";
  let description = [{
    Runs after kernel outlining (and CPU codegen). Every tensor of the entry functions
    (`@predict`, `@train_step`...) gets a `plan.buffer` with its live range (views share their
    source's; parameters, shared by name, and constants live throughout); an updated parameter
    whose old value is dead may be computed in place (the kernel gets `nnc.in_place`). Each host
    op becomes a command: nn.linear / nn.matmul -> plan.gemm, nn.conv2d and its gradients ->
    plan.conv2d, func.call -> plan.kernel_call, train.all_reduce -> plan.all_reduce_start with
    its plan.all_reduce_wait before the first reader (ZeRO-1's train.reduce_scatter, all_gather
    and take_shard -> the plan ops of their names); updates are copied back
    (plan.copy). A `plan.func @init` fills the parameters and writes the constants. The entry
    functions are erased; the kernels stay for the serializer to compile.

    Before: `func.func @predict(%x {nn.input = "x"}, %w {nn.param = "w"}) { %y = nn.linear ... }`
    After:  `plan.plan { plan.buffer @t0 ...  plan.func @init { plan.init_parameter "w" ... }
             plan.func @predict { plan.input "x" ...  plan.gemm "fc" ...  plan.output ... } }`
  }];
  let options = [
    ListOption<"modelParameters", "model-parameters", "std::string",
               "The model's parameters (initialized from the model); other parameters are "
               "optimizer or loss-scale state, initialized as their nn.init says">,
  ];
  let dependentDialects = ["nnc::plan::PlanDialect"];
}

def AssignBuffers : Pass<"nnc-assign-buffers", "mlir::ModuleOp"> {
  let summary = "Place every plan.buffer in one arena (liveness-based reuse)";
  let description = [{
    Greedy by decreasing size (BufferAssignment.h): each buffer takes the lowest 64-byte aligned
    offset that no buffer live at the same time overlaps. Sets each buffer's `offset` and the
    plan's `arena_bytes`.

    Before: `plan.buffer @t0 size(64) live(1, 2)`  `plan.buffer @t1 size(64) live(3, 4)`
    After:  `plan.plan attributes {arena_bytes = 64}`, both `offset(0)`
  }];
}

def SchedulePipeline : Pass<"nnc-schedule-pipeline", "mlir::ModuleOp"> {
  let summary = "Give each pipeline stage's plan its 1F1B schedule (plan.pipeline_action)";
  let description = [{
    On a pipelined module (one nested module per stage, each lowered to a plan.plan): stage s of
    S over M micro-batches runs forwards while the pipeline fills (S - 1 - s of them), then one
    forward and one backward in turn, then the remaining backwards, then apply. Sends never wait
    for their receiver, so no two neighbours can block each other.

    After (the last of 2 stages, 1 micro-batch): `plan.pipeline_action "recv_activation"
    micro_batch 0 peer 0`, then "backward" 0 peer 1, "send_gradient" 0 peer 0, "apply" 0 peer 1
  }];
  let options = [
    Option<"microBatches", "micro-batches", "int64_t", /*default=*/"1",
           "Micro-batches per update">,
  ];
  let dependentDialects = ["nnc::plan::PlanDialect"];
}

def TensorParallel : Pass<"nnc-tensor-parallel", "mlir::ModuleOp"> {
  let summary = "Tensor parallelism (Megatron): split column/row-parallel linear pairs";
  let description = [{
    Before autodiff, with `ranks` T > 1: each linear whose output reaches exactly one other
    linear through ops that keep one axis split (an MLP block, or attention by heads) becomes a
    column-parallel linear (1/T of its output features, reading its input through
    `train.tensor_parallel_copy`) and a row-parallel one (1/T of its input features, its partial
    result summed by `train.tensor_parallel_sum`, then its bias added). The split parameters get
    `nnc.shard = [axis, T, groups]`. A T that does not divide a split layer's features or heads
    is an error naming the layer. Other layers stay whole (replicated).

    Before: `%h = nn.linear %x, %w1, %b1`, `%a = nn.gelu %h`, `%y = nn.linear %a, %w2, %b2`
    After:  `%x1 = train.tensor_parallel_copy %x`, `%h = nn.linear %x1, %w1, %b1` (1/T of the
            rows of w1 and b1), `%a = nn.gelu %h`, `%p = nn.linear %a, %w2` (1/T of w2's
            columns), `%s = train.tensor_parallel_sum %p`, `%y = nn.add %s, %b2`
  }];
  let options = [
    Option<"ranks", "ranks", "int64_t", /*default=*/"1",
           "the number of tensor-parallel ranks T">,
  ];
  let dependentDialects = ["nnc::nn::NNDialect", "nnc::train::TrainDialect"];
}

def TensorParallelUpdate : Pass<"nnc-tensor-parallel-update", "mlir::ModuleOp"> {
  let summary = "Tensor parallelism after autodiff: state split, global norm over all parts";
  let description = [{
    `train.tensor_parallel_copy` (used by autodiff) becomes the identity; the optimizer state of
    a parameter marked `nnc.shard` is marked alike; a global norm over split and replicated
    gradients becomes sqrt(|replicated|^2 + tensor_parallel_sum(|split|^2)).

    Before: `%n = train.global_norm %gw1, %gb3`  (gw1 split)
    After:  `%s = train.global_norm %gw1`, `%t = train.tensor_parallel_sum (%s * %s)`,
            `%r = train.global_norm %gb3`, `%n = nn.sqrt (%r * %r + %t)`
  }];
  let dependentDialects = ["nnc::nn::NNDialect", "nnc::train::TrainDialect"];
}

#endif // NNC_COMPILER_PASSES_TD
