// RUN: %nnc-opt %s -split-input-file -nnc-guard-nonfinite | FileCheck %s

// The update keeps w unless the loss and the gradient are finite (one all_finite, right after
// the gradient), and says so in update_skipped. find_nonfinite is the step without the update
// (and without the learning rate): one flag sum(v * 0) per checked value in program order,
// the input and parameter first, then each op's result, backward after the loss seed.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:[^:]+]]: tensor<3xf32> {nn.param = "w"}
// CHECK-SAME: -> (tensor<f32> {nn.output = "loss"}, tensor<3xf32> {nn.updates = "w"}, tensor<f32> {nn.output = "update_skipped"})
// CHECK: %[[L:.+]] = nn.reduce_sum %{{.+}} <{axes = array<i64: 0, 1>}>
// CHECK: %[[G:.+]] = nn.reduce_sum %{{.+}} <{axes = array<i64: 0>}>
// CHECK-NEXT: %[[OK:.+]] = train.all_finite %[[L]], %[[G]] : tensor<f32>, tensor<3xf32>
// CHECK-NEXT: %[[P:.+]] = train.sgd %[[W]], %[[G]]
// CHECK-NEXT: %[[KEEP:.+]] = nn.where %[[OK]], %[[P]], %[[W]]
// CHECK: %[[SKIP:.+]] = nn.sub %{{.+}}, %[[OK]]
// CHECK: return %[[L]], %[[KEEP]], %[[SKIP]]

// CHECK-LABEL: func.func @find_nonfinite
// CHECK-SAME: (%[[FX:[^:]+]]: tensor<4x3xf32> {nn.input = "x"}, %[[FW:[^:]+]]: tensor<3xf32> {nn.param = "w"}) -> (tensor<7xf32> {nn.output = "nonfinite_checks"})
// CHECK-SAME: nnc.checked_nodes = [{node = "x", pass = "input"}, {node = "w", pass = "parameter"}, {node = "scale", pass = "forward"}, {node = "bad_sqrt", pass = "forward"}, {node = "loss", pass = "forward"}, {node = "bad_sqrt", pass = "backward"}, {node = "scale", pass = "backward"}]
// CHECK: %[[Z:.+]] = nn.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[XZ:.+]] = nn.mul %[[FX]], %[[Z]]
// CHECK-NEXT: %[[XS:.+]] = nn.reduce_sum %[[XZ]] <{axes = array<i64: 0, 1>}>
// CHECK-NEXT: %[[XF:.+]] = nn.reshape %[[XS]] <{shape = array<i64: 1>}>
// CHECK: %[[R:.+]] = nn.sqrt
// CHECK-NEXT: nn.constant dense<0.000000e+00>
// CHECK-NEXT: nn.mul %[[R]]
// CHECK: nn.concat %[[XF]], {{.+}} <{axis = 0 : i64}>
// CHECK-NOT: train.
// CHECK: return
module attributes {nn.training = #nn.training<loss = "loss">} {
  func.func @train_step(%x: tensor<4x3xf32> {nn.input = "x"}, %w: tensor<3xf32> {nn.param = "w"}, %lr: tensor<f32> {nn.input = "nnc.learning_rate"}) -> (tensor<f32> {nn.output = "loss"}, tensor<3xf32> {nn.updates = "w"}) {
    %h = nn.mul %x, %w : tensor<4x3xf32>, tensor<3xf32> loc("scale")
    %r = nn.sqrt %h : tensor<4x3xf32> loc("bad_sqrt")
    %l = nn.reduce_sum %r <{axes = array<i64: 0, 1>}> : tensor<4x3xf32> loc("loss")
    %seed = nn.constant dense<1.000000e+00> : tensor<f32> {nnc.loss_seed} loc("loss")
    %gr = nn.div %seed, %r : tensor<f32>, tensor<4x3xf32> loc("bad_sqrt")
    %gw = nn.reduce_sum %gr <{axes = array<i64: 0>}> : tensor<4x3xf32> loc("scale")
    %p = train.sgd %w, %gw, %lr <{weight_decay = 0.0 : f64}> : tensor<3xf32> loc("w")
    return %l, %p : tensor<f32>, tensor<3xf32>
  }
}

// -----

// With clipping the pre-clip norm stands for every gradient: the check reads the loss and the
// norm only. Optimizer state is guarded like the parameter.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[N:.+]] = train.global_norm
// CHECK-NEXT: %[[OK:.+]] = train.all_finite %{{.+}}, %[[N]] : tensor<f32>, tensor<f32>
// CHECK: %[[P:.+]], %[[B:.+]] = train.sgd_momentum
// CHECK: nn.where %[[OK]], %[[P]], %{{.+}}
// CHECK: nn.where %[[OK]], %[[B]], %{{.+}}
module attributes {nn.training = #nn.training<loss = "loss">} {
  func.func @train_step(%x: tensor<3xf32> {nn.input = "x"}, %w: tensor<3xf32> {nn.param = "w"}, %buf: tensor<3xf32> {nn.param = "w.momentum"}, %lr: tensor<f32> {nn.input = "nnc.learning_rate"}) -> (tensor<f32> {nn.output = "loss"}, tensor<f32> {nn.output = "grad_norm"}, tensor<3xf32> {nn.updates = "w"}, tensor<3xf32> {nn.updates = "w.momentum"}) {
    %h = nn.mul %x, %w : tensor<3xf32>, tensor<3xf32> loc("scale")
    %l = nn.reduce_sum %h <{axes = array<i64: 0>}> : tensor<3xf32> loc("loss")
    %seed = nn.constant dense<1.000000e+00> : tensor<f32> {nnc.loss_seed} loc("loss")
    %g = nn.mul %seed, %x : tensor<f32>, tensor<3xf32> loc("scale")
    %n = train.global_norm %g : tensor<3xf32>
    %c = train.clip %g, %n <{max_norm = 1.0 : f64}> : tensor<3xf32>
    %p, %b = train.sgd_momentum %w, %c, %buf, %lr <{momentum = 0.9 : f64, nesterov = false, weight_decay = 0.0 : f64}> : tensor<3xf32> loc("w")
    return %l, %n, %p, %b : tensor<f32>, tensor<f32>, tensor<3xf32>, tensor<3xf32>
  }
}

// -----

// Accumulation: apply_step (no loss) checks the mean gradients and guards the parameter, but
// its accumulators restart from zero either way; find_nonfinite copies accumulate_step without
// the accumulators' sums.
// CHECK-LABEL: func.func @accumulate_step
// CHECK-NOT: nn.where
// CHECK: return
// CHECK-LABEL: func.func @find_nonfinite
// CHECK-SAME: -> (tensor<5xf32> {nn.output = "nonfinite_checks"})
// CHECK-SAME: nnc.checked_nodes = [{node = "x", pass = "input"}, {node = "w", pass = "parameter"}, {node = "scale", pass = "forward"}, {node = "loss", pass = "forward"}, {node = "scale", pass = "backward"}]
// CHECK-NOT: nn.add
// CHECK-LABEL: func.func @apply_step
// CHECK: %[[OK:.+]] = train.all_finite %[[G:.+]] : tensor<3xf32>
// CHECK: %[[P:.+]] = train.sgd %{{.+}}, %[[G]]
// CHECK: %[[KEEP:.+]] = nn.where %[[OK]], %[[P]], %{{.+}}
// CHECK: return %[[KEEP]], %[[ZERO:[^,]+]], %{{.+}} :
module attributes {nn.training = #nn.training<loss = "loss", accumulation_steps = 2>} {
  func.func @accumulate_step(%x: tensor<3xf32> {nn.input = "x"}, %w: tensor<3xf32> {nn.param = "w"}, %acc: tensor<3xf32> {nn.param = "nnc.accumulator.0"}) -> (tensor<f32> {nn.output = "loss"}, tensor<3xf32> {nn.updates = "nnc.accumulator.0"}) {
    %h = nn.mul %x, %w : tensor<3xf32>, tensor<3xf32> loc("scale")
    %l = nn.reduce_sum %h <{axes = array<i64: 0>}> : tensor<3xf32> loc("loss")
    %seed = nn.constant dense<1.000000e+00> : tensor<f32> {nnc.loss_seed} loc("loss")
    %g = nn.mul %seed, %x : tensor<f32>, tensor<3xf32> loc("scale")
    %a = nn.add %acc, %g : tensor<3xf32>, tensor<3xf32> loc("scale")
    return %l, %a : tensor<f32>, tensor<3xf32>
  }
  func.func @apply_step(%w: tensor<3xf32> {nn.param = "w"}, %acc: tensor<3xf32> {nn.param = "nnc.accumulator.0"}, %lr: tensor<f32> {nn.input = "nnc.learning_rate"}) -> (tensor<3xf32> {nn.updates = "w"}, tensor<3xf32> {nn.updates = "nnc.accumulator.0"}) {
    %k = nn.constant dense<2.000000e+00> : tensor<f32>
    %g = nn.div %acc, %k : tensor<3xf32>, tensor<f32>
    %z = nn.constant dense<0.000000e+00> : tensor<3xf32>
    %p = train.sgd %w, %g, %lr <{weight_decay = 0.0 : f64}> : tensor<3xf32> loc("w")
    return %p, %z : tensor<3xf32>, tensor<3xf32>
  }
}

// -----

// fp16 plans have their own check (nnc.checked_gradients): nothing is added.
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: all_finite
// CHECK-NOT: nn.where
// CHECK-NOT: find_nonfinite
module attributes {nn.training = #nn.training<loss = "loss">} {
  func.func @train_step(%x: tensor<3xf32> {nn.input = "x"}, %w: tensor<3xf32> {nn.param = "w"}, %lr: tensor<f32> {nn.input = "nnc.learning_rate"}) -> (tensor<f32> {nn.output = "loss"}, tensor<3xf32> {nn.updates = "w"}) attributes {nnc.checked_gradients = ["w"]} {
    %h = nn.mul %x, %w : tensor<3xf32>, tensor<3xf32> loc("scale")
    %l = nn.reduce_sum %h <{axes = array<i64: 0>}> : tensor<3xf32> loc("loss")
    %p = train.sgd %w, %x, %lr <{weight_decay = 0.0 : f64}> : tensor<3xf32> loc("w")
    return %l, %p : tensor<f32>, tensor<3xf32>
  }
}

// -----

// Data parallelism: the update reads the mean over the ranks; the rank's own loss is left out of
// the check, so every rank skips the same steps. find_nonfinite keeps the local gradient.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[R:.+]] = train.all_reduce %{{.+}} : tensor<3xf32>
// CHECK-NEXT: %[[OK:.+]] = train.all_finite %[[R]] : tensor<3xf32>
// CHECK-LABEL: func.func @find_nonfinite
// CHECK-NOT: train.
// CHECK: return
module attributes {nn.training = #nn.training<loss = "loss">} {
  func.func @train_step(%x: tensor<3xf32> {nn.input = "x"}, %w: tensor<3xf32> {nn.param = "w"}, %lr: tensor<f32> {nn.input = "nnc.learning_rate"}) -> (tensor<f32> {nn.output = "loss"}, tensor<3xf32> {nn.updates = "w"}) {
    %h = nn.mul %x, %w : tensor<3xf32>, tensor<3xf32> loc("scale")
    %l = nn.reduce_sum %h <{axes = array<i64: 0>}> : tensor<3xf32> loc("loss")
    %seed = nn.constant dense<1.000000e+00> : tensor<f32> {nnc.loss_seed} loc("loss")
    %g = nn.mul %seed, %x : tensor<f32>, tensor<3xf32> loc("scale")
    %r = train.all_reduce %g : tensor<3xf32>
    %p = train.sgd %w, %r, %lr <{weight_decay = 0.0 : f64}> : tensor<3xf32> loc("w")
    return %l, %p : tensor<f32>, tensor<3xf32>
  }
}
