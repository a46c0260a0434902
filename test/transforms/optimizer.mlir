// RUN: %nnc-opt %s -split-input-file -nnc-optimizer | FileCheck %s

// Plain SGD: the learning rate becomes an input and the gradient result becomes the update.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:[^:]+]]: tensor<3x8xf32> {nn.param = "w"}
// CHECK-SAME: %[[LR:[^:]+]]: tensor<f32> {nn.input = "nnc.learning_rate"})
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<3x8xf32> {nn.updates = "w"})
// CHECK: %[[NEW:.+]] = train.sgd %[[W]], %[[G:[^,]+]], %[[LR]] <{weight_decay = 0.000000e+00 : f64}> : tensor<3x8xf32>
// CHECK: return %{{.+}}, %[[NEW]]
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.0e-01 : f64>} {
  func.func @train_step(%x: tensor<3x8xf32> {nn.input = "x"}, %w: tensor<3x8xf32> {nn.param = "w"})
      -> (tensor<f32> {nn.output = "loss"}, tensor<3x8xf32> {nn.gradient = "w"}) {
    %d = nn.sub %w, %x : tensor<3x8xf32>, tensor<3x8xf32>
    %loss = nn.reduce_sum %d <{axes = array<i64: 0, 1>}> : tensor<3x8xf32>
    return %loss, %d : tensor<f32>, tensor<3x8xf32>
  }
}

// -----

// AdamW keeps two state tensors per parameter and takes the step number for bias correction;
// clipping returns the pre-clip global norm before the updates.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:[^:]+]]: tensor<2x2xf32> {nn.param = "w"}
// CHECK-SAME: %[[M:[^:]+]]: tensor<2x2xf32> {nn.init = {kind = "zeros"}, nn.param = "w.exp_avg", nn.trainable = false}
// CHECK-SAME: %[[V:[^:]+]]: tensor<2x2xf32> {nn.init = {kind = "zeros"}, nn.param = "w.exp_avg_sq", nn.trainable = false}
// CHECK-SAME: %[[LR:[^:]+]]: tensor<f32> {nn.input = "nnc.learning_rate"}
// CHECK-SAME: %[[T:[^:]+]]: tensor<f32> {nn.input = "nnc.step"}
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<f32> {nn.output = "grad_norm"}, tensor<2x2xf32> {nn.updates = "w"}, tensor<2x2xf32> {nn.updates = "w.exp_avg"}, tensor<2x2xf32> {nn.updates = "w.exp_avg_sq"})
// CHECK: %[[NORM:.+]] = train.global_norm %[[G:.+]] : tensor<2x2xf32>
// CHECK: %[[C:.+]] = train.clip %[[G]], %[[NORM]] <{max_norm = 1.000000e+00 : f64}> : tensor<2x2xf32>
// CHECK: %[[P:[^,]+]], %[[M2:[^,]+]], %[[V2:[^ ]+]] = train.adam %[[W]], %[[C]], %[[M]], %[[V]], %[[LR]], %[[T]] <{beta1 = 9.000000e-01 : f64, beta2 = 0.99899999999999999 : f64, decoupled = true, epsilon = 1.000000e-08 : f64, weight_decay = 1.000000e-02 : f64}> : tensor<2x2xf32>
// CHECK: return %{{.+}}, %[[NORM]], %[[P]], %[[M2]], %[[V2]]
module attributes {nn.training = #nn.training<loss = "loss", optimizer = adamw, learning_rate = 1.0e-03 : f64, weight_decay = 1.0e-02 : f64, grad_clip_norm = 1.0 : f64>} {
  func.func @train_step(%t: tensor<2x2xf32> {nn.input = "t"}, %w: tensor<2x2xf32> {nn.param = "w"})
      -> (tensor<f32> {nn.output = "loss"}, tensor<2x2xf32> {nn.gradient = "w"}) {
    %loss = nn.mse_loss %w, %t : tensor<2x2xf32>, tensor<2x2xf32>
    %g = nn.sub %w, %t : tensor<2x2xf32>, tensor<2x2xf32>
    return %loss, %g : tensor<f32>, tensor<2x2xf32>
  }
}

// -----

// Nesterov momentum on a step with dropout: the state and learning rate go before the step
// number and key autodiff added (the plan's input order), and the dropout's step number is
// shared. Weight decay reaches the matrix only; the bias (rank 1) is not decayed. A frozen
// parameter keeps no state; one without a gradient keeps its state but gets no update.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:[^:]+]]: tensor<2x2xf32> {nn.param = "w"}
// CHECK-SAME: %[[B:[^:]+]]: tensor<2xf32> {nn.param = "b"}
// CHECK-SAME: %{{[^:]+}}: tensor<2xf32> {nn.param = "frozen", nn.trainable = false}
// CHECK-SAME: %{{[^:]+}}: tensor<3xf32> {nn.param = "unused"}
// CHECK-SAME: %[[WM:[^:]+]]: tensor<2x2xf32> {nn.init = {kind = "zeros"}, nn.param = "w.momentum", nn.trainable = false}
// CHECK-SAME: %[[BM:[^:]+]]: tensor<2xf32> {nn.init = {kind = "zeros"}, nn.param = "b.momentum", nn.trainable = false}
// CHECK-SAME: %{{[^:]+}}: tensor<3xf32> {nn.init = {kind = "zeros"}, nn.param = "unused.momentum", nn.trainable = false}
// CHECK-SAME: %[[LR:[^:]+]]: tensor<f32> {nn.input = "nnc.learning_rate"}
// CHECK-SAME: %{{[^:]+}}: tensor<f32> {nn.input = "nnc.step"}
// CHECK-SAME: %{{[^:]+}}: tensor<i64> {nn.input = "nnc.rng_key"})
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<2x2xf32> {nn.updates = "w"}, tensor<2xf32> {nn.updates = "b"}, tensor<2x2xf32> {nn.updates = "w.momentum"}, tensor<2xf32> {nn.updates = "b.momentum"})
// CHECK: train.sgd_momentum %[[W]], %{{.+}}, %[[WM]], %[[LR]] <{momentum = 9.000000e-01 : f64, nesterov = true, weight_decay = 1.000000e-02 : f64}>
// CHECK: train.sgd_momentum %[[B]], %{{.+}}, %[[BM]], %[[LR]] <{momentum = 9.000000e-01 : f64, nesterov = true, weight_decay = 0.000000e+00 : f64}>
// CHECK-NOT: train.
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, momentum = 9.0e-01 : f64, nesterov = true, weight_decay = 1.0e-02 : f64>} {
  func.func @train_step(%w: tensor<2x2xf32> {nn.param = "w"}, %b: tensor<2xf32> {nn.param = "b"},
                        %f: tensor<2xf32> {nn.param = "frozen", nn.trainable = false},
                        %u: tensor<3xf32> {nn.param = "unused"},
                        %step: tensor<f32> {nn.input = "nnc.step"}, %key: tensor<i64> {nn.input = "nnc.rng_key"})
      -> (tensor<f32> {nn.output = "loss"}, tensor<2x2xf32> {nn.gradient = "w"}, tensor<2xf32> {nn.gradient = "b"}) {
    %d = nn.dropout %w[%step, %key] <{rate = 5.000000e-01 : f64, stream = 1 : i64}> : tensor<2x2xf32>, tensor<f32>, tensor<i64>
    %loss = nn.reduce_sum %d <{axes = array<i64: 0, 1>}> : tensor<2x2xf32>
    return %loss, %d, %b : tensor<f32>, tensor<2x2xf32>, tensor<2xf32>
  }
}
