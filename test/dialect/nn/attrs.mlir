// Round trip of the training spec: every field, in any order, prints in the attribute's order;
// fields at their default are not printed.
// RUN: %nnc-opt %s -split-input-file | %nnc-opt -split-input-file | FileCheck %s

// CHECK: module attributes {nn.training = #nn.training<loss = "l", optimizer = adamw, learning_rate = 1.000000e-03 : f64, momentum = 5.000000e-01 : f64, nesterov = true, beta1 = 8.000000e-01 : f64, beta2 = 0.98999999999999999 : f64, epsilon = 9.9999999999999995E-7 : f64, weight_decay = 1.000000e-02 : f64, decay_all_parameters = true, grad_clip_norm = 1.000000e+00 : f64, precision = fp16, initial_loss_scale = 1.024000e+03 : f64, growth_interval = 100, fp32_ops = ["softmax"], min_loss_scale = 2.000000e+00 : f64, accumulation_steps = 4, world_size = 2, bucket_bytes = 1024, pipeline_stages = 2, micro_batches = 4, stage_boundaries = ["fc1"]>}
module attributes {nn.training = #nn.training<stage_boundaries = ["fc1"], micro_batches = 4,
    pipeline_stages = 2, bucket_bytes = 1024, world_size = 2, accumulation_steps = 4,
    min_loss_scale = 2.0 : f64, fp32_ops = ["softmax"], growth_interval = 100,
    initial_loss_scale = 1024.0 : f64, precision = fp16, grad_clip_norm = 1.0 : f64,
    decay_all_parameters = true, weight_decay = 0.01 : f64, epsilon = 1.0e-6 : f64,
    beta2 = 0.99 : f64, beta1 = 0.8 : f64, nesterov = true, momentum = 0.5 : f64,
    learning_rate = 1.0e-3 : f64, optimizer = adamw, loss = "l">} {
}

// -----

// CHECK: module attributes {nn.training = #nn.training<loss = "loss">}
module attributes {nn.training = #nn.training<loss = "loss", optimizer = none, precision = fp32, accumulation_steps = 0>} {
}

// -----

// The function-boundary attributes of the dialect, each of its kind.
// CHECK-LABEL: func.func @boundary
// CHECK-SAME: nn.index_limit = 10 : i64, nn.index_reader = "loss", nn.input = "y", nn.role = "labels"
// CHECK-SAME: nn.init = {kind = "zeros"}, nn.param = "w", nn.trainable = false
// CHECK-SAME: nn.differentiable = "nnc.pipe.grad_out", nn.input = "nnc.pipe.in"
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<2xf32> {nn.updates = "w"}, tensor<2xf32> {nn.gradient = "w"})
func.func @boundary(%y: tensor<2xi64> {nn.input = "y", nn.role = "labels", nn.index_limit = 10 : i64, nn.index_reader = "loss"},
                    %w: tensor<2xf32> {nn.param = "w", nn.init = {kind = "zeros"}, nn.trainable = false},
                    %a: tensor<2xf32> {nn.input = "nnc.pipe.in", nn.differentiable = "nnc.pipe.grad_out"})
    -> (tensor<f32> {nn.output = "loss"}, tensor<2xf32> {nn.updates = "w"}, tensor<2xf32> {nn.gradient = "w"}) {
  %0 = nn.reduce_sum %w <{axes = array<i64: 0>}> : tensor<2xf32>
  return %0, %w, %w : tensor<f32>, tensor<2xf32>, tensor<2xf32>
}
