// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-autodiff | FileCheck %s

// Linear + relu + cross-entropy: the backward ops, and the weight's gradient returned for the
// optimizer pass (no update, no learning rate yet).
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[X:[^:]+]]: tensor<4x8xf32> {nn.input = "x"}
// CHECK-SAME: %[[W:[^:]+]]: tensor<3x8xf32> {nn.param = "w"})
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<3x8xf32> {nn.gradient = "w"})
// CHECK: %[[H:.+]] = nn.linear %[[X]], %[[W]]
// CHECK: %[[R:.+]] = nn.relu %[[H]]
// CHECK: %[[LOSS:.+]] = nn.cross_entropy %[[R]]
// CHECK: nn.one_hot
// CHECK: nn.softmax %[[R]]
// CHECK: %[[DH:.+]] = nn.relu_grad %[[R]], %{{.+}} : tensor<4x3xf32>, tensor<4x3xf32>
// CHECK: %[[DHT:.+]] = nn.transpose %[[DH]] <{permutation = array<i64: 1, 0>}>
// CHECK: %[[DW:.+]] = nn.matmul %[[DHT]], %[[X]] : tensor<3x4xf32>, tensor<4x8xf32>
// CHECK-NOT: train.
// CHECK: return %[[LOSS]], %[[DW]]
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.0e-01 : f64>} {
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
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.0e-01 : f64>} {
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
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.0e-01 : f64>} {
  func.func @forward(%x: tensor<4x4xf32> {nn.input = "x"}, %t: tensor<4xf32> {nn.input = "t"},
                     %w: tensor<4x4xf32> {nn.param = "w"}) -> (tensor<f32> {nn.output = "loss"}) {
    %xw = nn.mul %x, %w : tensor<4x4xf32>, tensor<4x4xf32>
    %m = nn.reduce_max %xw <{axes = array<i64: 1>}> : tensor<4x4xf32>
    // expected-warning @+1 {{no train_step: has no gradient: cannot train through 'nn.equal'}}
    %e = nn.equal %m, %t : tensor<4xf32>, tensor<4xf32>
    %loss = nn.mse_loss %e, %t : tensor<4xf32>, tensor<4xf32>
    return %loss : tensor<f32>
  }
}

// -----

// Without an optimizer the plan only predicts: no train step.
// CHECK-LABEL: module
// CHECK-NOT: @train_step
module attributes {nn.training = #nn.training<loss = "loss">} {
  func.func @forward(%t: tensor<2x2xf32> {nn.input = "t"}, %w: tensor<2x2xf32> {nn.param = "w"})
      -> (tensor<f32> {nn.output = "loss"}) {
    %loss = nn.mse_loss %w, %t : tensor<2x2xf32>, tensor<2x2xf32>
    return %loss : tensor<f32>
  }
}

// -----

// Convolution and pooling: the backward convolutions (library calls like the forward), the bias
// gradient as a sum over (N, OH, OW), and the pooling gradients. The image needs no gradient.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[C:.+]] = nn.conv2d %[[X:[^,]+]], %[[W:[^,]+]], %{{.+}} <{padding = array<i64: 1, 1>}>
// CHECK: %[[P:.+]] = nn.max_pool2d %[[C]]
// CHECK: %[[A:.+]] = nn.avg_pool2d %[[P]]
// CHECK: %[[ONES:.+]] = nn.constant dense<2.500000e-01> : tensor<4x1x2x2xf32>
// CHECK: %[[DP:.+]] = nn.conv2d_grad_input %{{.+}}, %[[ONES]] <{groups = 4 : i64, shape = array<i64: 2, 4, 4, 4>, stride = array<i64: 2, 2>}>
// CHECK: %[[DC:.+]] = nn.max_pool2d_grad %[[C]], %[[DP]] <{kernel_size = array<i64: 2, 2>}>
// CHECK: nn.conv2d_grad_input %[[DC]], %[[W]] <{padding = array<i64: 1, 1>, shape = array<i64: 2, 3, 8, 8>}>
// CHECK: nn.conv2d_grad_weight %[[X]], %[[DC]] <{padding = array<i64: 1, 1>, shape = array<i64: 4, 3, 3, 3>}>
// CHECK: nn.reduce_sum %[[DC]] <{axes = array<i64: 0, 2, 3>}>
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.0e-01 : f64>} {
  func.func @forward(%x: tensor<2x3x8x8xf32> {nn.input = "x"}, %w: tensor<4x3x3x3xf32> {nn.param = "w"},
                     %b: tensor<4xf32> {nn.param = "b"}) -> (tensor<f32> {nn.output = "loss"}) {
    %c = nn.conv2d %x, %w, %b <{padding = array<i64: 1, 1>}> : tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>
    %p = nn.max_pool2d %c <{kernel_size = array<i64: 2, 2>}> : tensor<2x4x8x8xf32>
    %a = nn.avg_pool2d %p <{kernel_size = array<i64: 2, 2>}> : tensor<2x4x4x4xf32>
    %loss = nn.reduce_sum %a <{axes = array<i64: 0, 1, 2, 3>}> : tensor<2x4x2x2xf32>
    return %loss : tensor<f32>
  }
}

// -----

// nn.stop_gradient cuts the path: only the direct use of w gets a gradient (w * 2 from w * w
// would add a second term), so the gradient is stop(w).
// CHECK-LABEL: func.func @train_step
// CHECK: %[[S:.+]] = nn.stop_gradient %[[W:[^ ]+]] : tensor<2x2xf32>
// CHECK: nn.mul %[[W]], %[[S]]
// CHECK: %[[G:.+]] = nn.mul %{{.+}}, %[[S]] : tensor<2x2xf32>, tensor<2x2xf32>
// CHECK-NOT: nn.add
// CHECK: return %{{.+}}, %[[G]]
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.0e-01 : f64>} {
  func.func @forward(%w: tensor<2x2xf32> {nn.param = "w"}) -> (tensor<f32> {nn.output = "loss"}) {
    %s = nn.stop_gradient %w : tensor<2x2xf32>
    %sq = nn.mul %w, %s : tensor<2x2xf32>, tensor<2x2xf32>
    %loss = nn.reduce_sum %sq <{axes = array<i64: 0, 1>}> : tensor<2x2xf32>
    return %loss : tensor<f32>
  }
}

// -----

// A parameter that does not reach the loss is named in a warning and left untrained: no
// gradient.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<2x2xf32> {nn.gradient = "w"})
// expected-warning @+1 {{parameter 'unused' does not reach the loss: it is not trained}}
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.0e-01 : f64>} {
  func.func @forward(%t: tensor<2x2xf32> {nn.input = "t"}, %w: tensor<2x2xf32> {nn.param = "w"},
                     %u: tensor<3xf32> {nn.param = "unused"}) -> (tensor<f32> {nn.output = "loss"}) {
    %loss = nn.mse_loss %w, %t : tensor<2x2xf32>, tensor<2x2xf32>
    return %loss : tensor<f32>
  }
}

// -----

// Dropout takes the step number and random key as new inputs, and a stream of its own.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:[^:]+]]: tensor<2x2xf32> {nn.param = "w"}
// CHECK-SAME: %[[T:[^:]+]]: tensor<f32> {nn.input = "nnc.step"}
// CHECK-SAME: %[[K:[^:]+]]: tensor<i64> {nn.input = "nnc.rng_key"})
// CHECK: nn.dropout %[[W]][%[[T]], %[[K]]] <{rate = 5.000000e-01 : f64, stream = 1 : i64}>
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd>} {
  func.func @forward(%w: tensor<2x2xf32> {nn.param = "w"}) -> (tensor<f32> {nn.output = "loss"}) {
    %d = nn.dropout %w <{rate = 5.000000e-01 : f64}> : tensor<2x2xf32>
    %loss = nn.reduce_sum %d <{axes = array<i64: 0, 1>}> : tensor<2x2xf32>
    return %loss : tensor<f32>
  }
}

// -----

// Batch norm in a train step: batch statistics (mean, biased variance over N, H, W) normalize;
// the running statistics (frozen parameters) come back updated with momentum 0.1 and the
// unbiased variance (n = 2 * 3 * 3 = 18: x 18/17), marked for data parallelism. They get no
// optimizer update.
// CHECK-LABEL: func.func @forward
// CHECK: nn.batch_norm
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[X:[^:]+]]: tensor<2x4x3x3xf32> {nn.input = "x"}
// CHECK-SAME: %[[M:[^:]+]]: tensor<4xf32> {nn.param = "bn.running_mean", nn.trainable = false}
// CHECK-SAME: tensor<4xf32> {nn.running_stat, nn.updates = "bn.running_mean"}
// CHECK-SAME: tensor<4xf32> {nn.running_stat, nn.updates = "bn.running_var"}
// CHECK-NOT: nn.batch_norm
// CHECK: %[[MEAN:.+]] = nn.reduce_mean %[[X]] <{axes = array<i64: 0, 2, 3>, keepdim = true}>
// CHECK: nn.sub %[[X]], %[[MEAN]]
// CHECK: nn.constant dense<1.0588{{[0-9]+}}>
// The backward pass is the whole normalization's: dbias = sum(g) and dweight = sum(g * xhat)
// over N, H, W, and no other reduction (the parts' VJPs made five); dx is elementwise.
// CHECK: %[[DB:.+]] = nn.reduce_sum %{{.+}} <{axes = array<i64: 0, 2, 3>, keepdim = true}>
// CHECK: %[[DW:.+]] = nn.reduce_sum %{{.+}} <{axes = array<i64: 0, 2, 3>, keepdim = true}>
// CHECK-NOT: nn.reduce_
// CHECK-NOT: nn.batch_norm_training
// CHECK: %[[DWC:.+]] = nn.reshape %[[DW]] <{shape = array<i64: 4>}>
// CHECK: %[[DBC:.+]] = nn.reshape %[[DB]] <{shape = array<i64: 4>}>
// CHECK: return %{{.+}}, %[[DWC]], %[[DBC]],
// CHECK-NOT: train.sgd %[[M]]
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd>} {
  func.func @forward(%x: tensor<2x4x3x3xf32> {nn.input = "x"},
                     %g: tensor<4xf32> {nn.param = "bn.weight"},
                     %b: tensor<4xf32> {nn.param = "bn.bias"},
                     %m: tensor<4xf32> {nn.param = "bn.running_mean", nn.trainable = false},
                     %v: tensor<4xf32> {nn.param = "bn.running_var", nn.trainable = false})
      -> (tensor<f32> {nn.output = "loss"}) {
    %y = nn.batch_norm %x, %g, %b, %m, %v
        : tensor<2x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    %loss = nn.reduce_sum %y <{axes = array<i64: 0, 1, 2, 3>}> : tensor<2x4x3x3xf32>
    return %loss : tensor<f32>
  }
}

// -----

// nn.batch_norm_training's VJP is the derivative through the batch statistics it assumes:
// statistics of another origin are refused.
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd>} {
  func.func @forward(%x: tensor<2x4xf32> {nn.input = "x"},
                     %m: tensor<1x4xf32> {nn.param = "m"},
                     %g: tensor<4xf32> {nn.param = "g"})
      -> (tensor<f32> {nn.output = "loss"}) {
    // expected-warning @+1 {{no train_step: 'nn.batch_norm_training' op expects mean and var to be its input's batch statistics}}
    %y = nn.batch_norm_training %x, %m, %m, %g, %g
        : tensor<2x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<4xf32>
    %loss = nn.reduce_sum %y <{axes = array<i64: 0, 1>}> : tensor<2x4xf32>
    return %loss : tensor<f32>
  }
}

// -----

// Running statistics that are trainable: no train step, a warning at the node.
module attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd>} {
  func.func @forward(%x: tensor<2x4xf32> {nn.input = "x"},
                     %g: tensor<4xf32> {nn.param = "g"})
      -> (tensor<f32> {nn.output = "loss"}) {
    // expected-warning @+1 {{no train_step: 'nn.batch_norm' op expects its running statistics to be frozen parameters}}
    %y = nn.batch_norm %x, %g, %g, %g, %g
        : tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    %loss = nn.reduce_sum %y <{axes = array<i64: 0, 1>}> : tensor<2x4xf32>
    return %loss : tensor<f32>
  }
}
