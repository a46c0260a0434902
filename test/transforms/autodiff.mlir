// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-autodiff | FileCheck %s

// Linear + relu + cross-entropy with plain SGD: the backward ops and the update.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[X:[^:]+]]: tensor<4x8xf32> {nn.input = "x"}
// CHECK-SAME: %[[W:[^:]+]]: tensor<3x8xf32> {nn.param = "w"}
// CHECK-SAME: %[[LR:[^:]+]]: tensor<f32> {nn.input = "nnc.learning_rate"}
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<3x8xf32> {nn.updates = "w"})
// CHECK: %[[H:.+]] = nn.linear %[[X]], %[[W]]
// CHECK: %[[R:.+]] = nn.relu %[[H]]
// CHECK: %[[LOSS:.+]] = nn.cross_entropy %[[R]]
// CHECK: nn.one_hot
// CHECK: nn.softmax %[[R]]
// CHECK: %[[DH:.+]] = nn.relu_grad %[[R]], %{{.+}} : tensor<4x3xf32>, tensor<4x3xf32>
// CHECK: %[[DHT:.+]] = nn.transpose %[[DH]] <{permutation = array<i64: 1, 0>}>
// CHECK: %[[DW:.+]] = nn.matmul %[[DHT]], %[[X]] : tensor<3x4xf32>, tensor<4x8xf32>
// CHECK: %[[STEP:.+]] = nn.mul %[[DW]], %[[LR]]
// CHECK: %[[NEW:.+]] = nn.sub %[[W]], %[[STEP]]
// CHECK: return %[[LOSS]], %[[NEW]]
module attributes {nn.training = {loss = "loss", optimizer = {kind = "sgd", learning_rate = 1.0e-01 : f64}}} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x"}, %y: tensor<4xi64> {nn.input = "y"},
                     %w: tensor<3x8xf32> {nn.param = "w"})
      -> (tensor<f32> {nn.output = "loss"}) {
    %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>
    %r = nn.relu %h : tensor<4x3xf32>
    %loss = nn.cross_entropy %r, %y : tensor<4x3xf32>, tensor<4xi64>
    return %loss : tensor<f32>
  }
}

// -----

// A value used twice gets the sum of both gradients.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[A:.+]] = nn.mul %{{.+}}, %{{.+}} : tensor<2x2xf32>, tensor<2x2xf32>
// CHECK: nn.add %{{.+}}, %{{.+}} : tensor<2x2xf32>, tensor<2x2xf32>
module attributes {nn.training = {loss = "loss", optimizer = {kind = "sgd", learning_rate = 1.0e-01 : f64}}} {
  func.func @forward(%t: tensor<2x2xf32> {nn.input = "t"}, %w: tensor<2x2xf32> {nn.param = "w"})
      -> (tensor<f32> {nn.output = "loss"}) {
    %sq = nn.mul %w, %w : tensor<2x2xf32>, tensor<2x2xf32>
    %loss = nn.mse_loss %sq, %t : tensor<2x2xf32>, tensor<2x2xf32>
    return %loss : tensor<f32>
  }
}

// -----

// An op without a gradient on the gradient path is reported at the op, never a silent zero: the
// module gets no train step.
// CHECK-LABEL: module
// CHECK-NOT: @train_step
module attributes {nn.training = {loss = "loss", optimizer = {kind = "sgd", learning_rate = 1.0e-01 : f64}}} {
  func.func @forward(%x: tensor<1x1x4x4xf32> {nn.input = "x"}, %t: tensor<1x1x2x2xf32> {nn.input = "t"})
      -> (tensor<f32> {nn.output = "loss"}) {
    // expected-warning @+1 {{no train_step: has no gradient: cannot train through 'nn.max_pool2d'}}
    %p = nn.max_pool2d %x <{kernel_size = array<i64: 2, 2>}> : tensor<1x1x4x4xf32>
    %loss = nn.mse_loss %p, %t : tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>
    return %loss : tensor<f32>
  }
}

// -----

// AdamW keeps two state tensors per parameter and takes the step number for bias correction;
// clipping returns the pre-clip global norm.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: {nn.init = {kind = "zeros"}, nn.param = "w.exp_avg", nn.trainable = false}
// CHECK-SAME: {nn.init = {kind = "zeros"}, nn.param = "w.exp_avg_sq", nn.trainable = false}
// CHECK-SAME: {nn.input = "nnc.learning_rate"}
// CHECK-SAME: {nn.input = "nnc.step"}
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<f32> {nn.output = "grad_norm"}, tensor<2x2xf32> {nn.updates = "w"}, tensor<2x2xf32> {nn.updates = "w.exp_avg"}, tensor<2x2xf32> {nn.updates = "w.exp_avg_sq"})
// CHECK: nn.sqrt
// CHECK: nn.relu
// CHECK: nn.exp
module attributes {nn.training = {grad_clip_norm = 1.0 : f64, loss = "loss", optimizer = {kind = "adamw", learning_rate = 1.0e-03 : f64, weight_decay = 1.0e-02 : f64}}} {
  func.func @forward(%t: tensor<2x2xf32> {nn.input = "t"}, %w: tensor<2x2xf32> {nn.param = "w"})
      -> (tensor<f32> {nn.output = "loss"}) {
    %loss = nn.mse_loss %w, %t : tensor<2x2xf32>, tensor<2x2xf32>
    return %loss : tensor<f32>
  }
}
