// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-extract-predict | FileCheck %s

// The loss and the labels go; dropout is the identity; parameters stay.
// CHECK-LABEL: func.func @predict
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32> {nn.input = "x"}, %[[W:.+]]: tensor<3x8xf32> {nn.param = "w"})
// CHECK-SAME: -> (tensor<4x3xf32> {nn.output = "logits"})
// CHECK-SAME: nnc.flops = 204
// CHECK-NEXT: %[[H:.+]] = nn.linear %[[X]], %[[W]]
// CHECK-NEXT: %[[R:.+]] = nn.relu %[[H]]
// CHECK-NEXT: return %[[R]] : tensor<4x3xf32>
// CHECK-NOT: nn.dropout
// CHECK-NOT: nn.cross_entropy
// The evaluation step: the labels, the loss and the outputs, dropout off.
// CHECK-LABEL: func.func @eval_step
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<4x3xf32> {nn.output = "logits"})
// CHECK-NOT: nn.dropout
// CHECK: %[[ER:.+]] = nn.relu
// CHECK: %[[EL:.+]] = nn.cross_entropy %[[ER]]
// CHECK: return %[[EL]], %[[ER]]
// CHECK-NOT: func.func @forward
func.func @forward(%x: tensor<4x8xf32> {nn.input = "x"}, %y: tensor<4xi64> {nn.input = "y"},
                   %w: tensor<3x8xf32> {nn.param = "w"})
    -> (tensor<f32> {nn.output = "loss"}, tensor<4x3xf32> {nn.output = "logits"}) {
  %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>
  %d = nn.dropout %h <{rate = 5.000000e-01 : f64}> : tensor<4x3xf32>
  %r = nn.relu %d : tensor<4x3xf32>
  %loss = nn.cross_entropy %r, %y : tensor<4x3xf32>, tensor<4xi64>
  return %loss, %r : tensor<f32>, tensor<4x3xf32>
}

// -----

// A model that only computes its loss has nothing to predict, but can be evaluated.
// CHECK-LABEL: module
// CHECK-NOT: func.func @predict
// CHECK: func.func @eval_step
// CHECK-NOT: func.func @predict
func.func @forward(%x: tensor<4x3xf32> {nn.input = "x"}, %t: tensor<4x3xf32> {nn.input = "t"})
    -> (tensor<f32> {nn.output = "loss"}) {
  %loss = nn.mse_loss %x, %t : tensor<4x3xf32>, tensor<4x3xf32>
  return %loss : tensor<f32>
}
