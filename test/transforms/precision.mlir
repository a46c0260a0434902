// RUN: %nnc-opt %s -split-input-file -nnc-precision | FileCheck %s

// bf16: the linear computes in bf16 on casts of the fp32 input and master weight; softmax (on
// the allow-list) in fp32; the result goes back to fp32 at the function boundary.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[X:[^:]+]]: tensor<4x8xf32>, %[[W:[^:]+]]: tensor<3x8xf32>
// CHECK-DAG: %[[WL:.+]] = nn.cast %[[W]] <{dtype = bf16}> : tensor<3x8xf32>
// CHECK-DAG: %[[XL:.+]] = nn.cast %[[X]] <{dtype = bf16}> : tensor<4x8xf32>
// CHECK: %[[H:.+]] = nn.linear %[[XL]], %[[WL]] : tensor<4x8xbf16>, tensor<3x8xbf16>
// CHECK: %[[R:.+]] = nn.relu %[[H]] : tensor<4x3xbf16>
// CHECK: %[[RW:.+]] = nn.cast %[[R]] <{dtype = f32}> : tensor<4x3xbf16>
// CHECK: %[[S:.+]] = nn.softmax %[[RW]] : tensor<4x3xf32>
// CHECK: %[[T:.+]] = nn.tanh %{{.+}} : tensor<4x3xbf16>
// CHECK: %[[TW:.+]] = nn.cast %[[T]] <{dtype = f32}> : tensor<4x3xbf16>
// CHECK: return %[[S]], %[[TW]] : tensor<4x3xf32>, tensor<4x3xf32>
module attributes {nn.training = #nn.training<loss = "loss", precision = bf16>} {
  func.func @forward(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
    %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>
    %r = nn.relu %h : tensor<4x3xf32>
    %s = nn.softmax %r : tensor<4x3xf32>
    %t = nn.tanh %s : tensor<4x3xf32>
    return %s, %t : tensor<4x3xf32>, tensor<4x3xf32>
  }
}

// -----

// fp16 with a configured allow-list (tanh only): softmax now runs in fp16, tanh in fp32; the
// optimizer (train ops) stays fp32 whatever the list says, on fp32 gradients.
// CHECK-LABEL: func.func @step
// CHECK: nn.softmax %{{.+}} : tensor<4x3xf16>
// CHECK: nn.tanh %{{.+}} : tensor<4x3xf32>
// CHECK: %[[G:.+]] = nn.mul %{{.+}}, %{{.+}} : tensor<4x3xf16>, tensor<4x3xf16>
// CHECK: %[[GW:.+]] = nn.cast %[[G]] <{dtype = f32}> : tensor<4x3xf16>
// CHECK: train.sgd %{{.+}}, %[[GW]], %{{.+}} <{weight_decay = 0.000000e+00 : f64}> : tensor<4x3xf32>
module attributes {nn.training = #nn.training<loss = "loss", precision = fp16, fp32_ops = ["tanh"]>} {
  func.func @step(%w: tensor<4x3xf32>, %lr: tensor<f32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
    %s = nn.softmax %w : tensor<4x3xf32>
    %t = nn.tanh %s : tensor<4x3xf32>
    %g = nn.mul %s, %s : tensor<4x3xf32>, tensor<4x3xf32>
    %p = train.sgd %w, %g, %lr <{weight_decay = 0.0 : f64}> : tensor<4x3xf32>
    return %t, %p : tensor<4x3xf32>, tensor<4x3xf32>
  }
}

// -----

// fp32 (or no policy): nothing changes, no casts.
// CHECK-LABEL: func.func @unchanged
// CHECK-NOT: nn.cast
// CHECK: nn.relu %{{.+}} : tensor<4xf32>
module attributes {nn.training = #nn.training<loss = "loss", precision = fp32>} {
  func.func @unchanged(%x: tensor<4xf32>) -> tensor<4xf32> {
    %r = nn.relu %x : tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

// Dropout's step number and key are not data: they keep their types.
// CHECK-LABEL: func.func @dropout
// CHECK: nn.dropout %{{.+}}[%{{.+}}, %{{.+}}] <{rate = 5.000000e-01 : f64, stream = 1 : i64}> : tensor<4xbf16>, tensor<f32>, tensor<i64>
module attributes {nn.training = #nn.training<loss = "loss", precision = bf16>} {
  func.func @dropout(%x: tensor<4xf32>, %step: tensor<f32>, %key: tensor<i64>) -> tensor<4xf32> {
    %d = nn.dropout %x[%step, %key] <{rate = 0.5 : f64, stream = 1 : i64}> : tensor<4xf32>, tensor<f32>, tensor<i64>
    return %d : tensor<4xf32>
  }
}

// -----

// fp16 loss scaling: the backward seed becomes the scale (state, 65536 to start); the gradient
// is unscaled in fp32 and checked; a non-finite step keeps w; the scale's bookkeeping and the
// outputs loss_scale, skipped_steps and nonfinite_gradient (which parameter's gradient, by
// position in nnc.checked_gradients) follow the updates.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:[^:]+]]: tensor<4xf32> {nn.param = "w"}
// CHECK-SAME: %[[S:[^:]+]]: tensor<f32> {nn.init = {kind = "constant", value = 6.553600e+04 : f64}, nn.param = "nnc.loss_scale", nn.trainable = false}
// CHECK-SAME: {nn.init = {kind = "zeros"}, nn.param = "nnc.loss_scale.good_steps", nn.trainable = false}
// CHECK-SAME: {nn.init = {kind = "zeros"}, nn.param = "nnc.skipped_steps", nn.trainable = false}
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<4xf32> {nn.updates = "w"}, tensor<f32> {nn.output = "loss_scale"}, tensor<f32> {nn.output = "skipped_steps"}, tensor<f32> {nn.output = "nonfinite_gradient"}, tensor<f32> {nn.updates = "nnc.loss_scale"}, tensor<f32> {nn.updates = "nnc.loss_scale.good_steps"}, tensor<f32> {nn.updates = "nnc.skipped_steps"})
// CHECK-SAME: nnc.checked_gradients = ["w"]
// CHECK-NOT: nnc.loss_seed
// CHECK: %[[SEED:.+]] = nn.cast %[[S]] <{dtype = f16}> : tensor<f32>
// CHECK: %[[G:.+]] = nn.mul %{{.+}}, %[[SEED]] : tensor<4xf16>, tensor<f16>
// CHECK: %[[GW:.+]] = nn.cast %[[G]] <{dtype = f32}>
// CHECK: %[[INV:.+]] = nn.div %{{.+}}, %[[S]] : tensor<f32>, tensor<f32>
// CHECK: %[[U:.+]] = nn.mul %[[GW]], %[[INV]] : tensor<4xf32>, tensor<f32>
// CHECK: %[[C:.+]] = train.all_finite %[[U]] : tensor<4xf32>
// CHECK: %[[FIRST:.+]] = nn.where %[[C]], %{{.+}}, %{{.+}} : tensor<f32>, tensor<f32>, tensor<f32>
// CHECK: %[[OK:.+]] = nn.equal %[[FIRST]], %{{.+}} : tensor<f32>, tensor<f32>
// CHECK: %[[NEW:.+]] = train.sgd %[[W]], %[[U]]
// CHECK: nn.where %[[OK]], %[[NEW]], %[[W]] : tensor<f32>, tensor<4xf32>, tensor<4xf32>
module attributes {nn.training = #nn.training<loss = "loss", precision = fp16>} {
  func.func @train_step(%x: tensor<4xf32> {nn.input = "x"}, %w: tensor<4xf32> {nn.param = "w"},
                        %lr: tensor<f32> {nn.input = "nnc.learning_rate"})
      -> (tensor<f32> {nn.output = "loss"}, tensor<4xf32> {nn.updates = "w"}) {
    %xw = nn.mul %x, %w : tensor<4xf32>, tensor<4xf32>
    %loss = nn.reduce_sum %xw <{axes = array<i64: 0>}> : tensor<4xf32>
    %seed = "nn.constant"() <{value = dense<1.0> : tensor<f32>}> {nnc.loss_seed} : () -> tensor<f32>
    %g = nn.mul %x, %seed : tensor<4xf32>, tensor<f32>
    %p = train.sgd %w, %g, %lr <{weight_decay = 0.0 : f64}> : tensor<4xf32>
    return %loss, %p : tensor<f32>, tensor<4xf32>
  }
}
