// RUN: %nnc-opt %s -split-input-file -nnc-pipeline-forward | FileCheck %s

// Stage 0 of two: @forward_step is @accumulate_step cut down to what computes the activation
// sent on (nnc.pipe_out): the backward pass, the accumulation and the inputs only they read
// (grad_in, the accumulator) go; its FLOPs are recorded.
// CHECK-LABEL: module @stage0
// CHECK: func.func @accumulate_step(
// CHECK: func.func @forward_step(%[[X:.+]]: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %[[W:.+]]: tensor<6x8xf32> {{.*}}nn.param = "fc1.weight"{{.*}}) -> (tensor<4x6xf32> {nn.output = "nnc.pipe.out"}) attributes {nnc.flops = {{[0-9]+}} : i64}
// CHECK-NEXT: %[[H:.+]] = nn.linear %[[X]], %[[W]]
// CHECK-NEXT: %[[A:.+]] = nn.relu %[[H]] {nnc.pipe_out}
// CHECK-NEXT: return %[[A]] : tensor<4x6xf32>
module @stage0 attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, accumulation_steps = 2, pipeline_stages = 2, micro_batches = 2, stage_boundaries = ["relu1"]>, nnc.pipeline_first_node = "fc1", nnc.pipeline_last_node = "relu1", nnc.pipeline_stage = 0 : i64, nnc.pipeline_stages = 2 : i64} {
  func.func @accumulate_step(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %w: tensor<6x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %grad_in: tensor<4x6xf32> {nn.input = "nnc.pipe.grad_in"}, %acc: tensor<6x8xf32> {nn.init = {kind = "zeros"}, nn.param = "nnc.accumulator.stage0.0", nn.trainable = false}) -> (tensor<f32> {nn.output = "loss"}, tensor<6x8xf32> {nn.updates = "nnc.accumulator.stage0.0"}) {
    %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<6x8xf32>
    %a = nn.relu %h {nnc.pipe_out} : tensor<4x6xf32>
    %p = nn.mul %a, %grad_in : tensor<4x6xf32>, tensor<4x6xf32>
    %loss = nn.reduce_sum %p <{axes = array<i64: 0, 1>}> : tensor<4x6xf32>
    %da = nn.relu_grad %a, %grad_in : tensor<4x6xf32>, tensor<4x6xf32>
    %dat = nn.transpose %da <{permutation = array<i64: 1, 0>}> : tensor<4x6xf32>
    %dw = nn.matmul %dat, %x : tensor<6x4xf32>, tensor<4x8xf32>
    %sum = nn.add %acc, %dw : tensor<6x8xf32>, tensor<6x8xf32>
    return %loss, %sum : tensor<f32>, tensor<6x8xf32>
  }
}

// -----

// The last stage sends nothing on (no nnc.pipe_out): no @forward_step.
// CHECK-LABEL: module @stage1
// CHECK: func.func @accumulate_step(
// CHECK-NOT: @forward_step
module @stage1 attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, accumulation_steps = 2>, nnc.pipeline_stage = 1 : i64, nnc.pipeline_stages = 2 : i64} {
  func.func @accumulate_step(%in: tensor<4x6xf32> {nn.differentiable = "nnc.pipe.grad_out", nn.input = "nnc.pipe.in"}, %w: tensor<3x6xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h = nn.linear %in, %w : tensor<4x6xf32>, tensor<3x6xf32>
    %loss = nn.reduce_sum %h <{axes = array<i64: 0, 1>}> : tensor<4x3xf32>
    return %loss : tensor<f32>
  }
}

// -----

// Not a pipeline stage (no nnc.pipeline_stage): nothing to do.
// CHECK-LABEL: module @not_a_stage
// CHECK-NOT: @forward_step
module @not_a_stage {
  func.func @accumulate_step(%x: tensor<4x8xf32>, %w: tensor<6x8xf32>) -> tensor<4x6xf32> {
    %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<6x8xf32>
    %a = nn.relu %h {nnc.pipe_out} : tensor<4x6xf32>
    return %a : tensor<4x6xf32>
  }
}
