// RUN: %nnc-opt %s -split-input-file -nnc-accumulate | FileCheck %s

// k = 2: @train_step becomes @accumulate_step (forward and backward on one micro-batch, the
// gradient added into an accumulator, state nnc.accumulator.0) and @apply_step (the
// accumulator's mean, the optimizer, the accumulator zeroed).
// CHECK-LABEL: module @accumulate_two
// CHECK-NOT: func.func @train_step
// CHECK: func.func @accumulate_step(%[[X:.+]]: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %[[W:.+]]: tensor<6x8xf32> {{.*}}nn.param = "fc1.weight"{{.*}}, %[[ACC:.+]]: tensor<6x8xf32> {nn.init = {kind = "zeros"}, nn.param = "nnc.accumulator.0", nn.trainable = false}) -> (tensor<f32> {nn.output = "loss"}, tensor<6x8xf32> {nn.updates = "nnc.accumulator.0"})
// CHECK: %[[H:.+]] = nn.linear %[[X]], %[[W]]
// CHECK: %[[LOSS:.+]] = nn.reduce_sum %[[H]]
// CHECK: %[[G:.+]] = nn.matmul
// CHECK: %[[SUM:.+]] = nn.add %[[ACC]], %[[G]]
// CHECK-NOT: train.sgd
// CHECK: return %[[LOSS]], %[[SUM]]
// CHECK: func.func @apply_step(%[[W2:.+]]: tensor<6x8xf32> {{.*}}nn.param = "fc1.weight"{{.*}}, %[[LR:.+]]: tensor<f32> {nn.input = "nnc.learning_rate"}, %[[ACC2:.+]]: tensor<6x8xf32> {{.*}}nn.param = "nnc.accumulator.0"{{.*}}) -> (tensor<6x8xf32> {nn.updates = "fc1.weight"}, tensor<6x8xf32> {nn.updates = "nnc.accumulator.0"})
// CHECK: %[[K:.+]] = nn.constant dense<2.000000e+00> : tensor<f32>
// CHECK: %[[MEAN:.+]] = nn.div %[[ACC2]], %[[K]]
// CHECK: %[[ZEROS:.+]] = nn.constant dense<0.000000e+00> : tensor<6x8xf32>
// CHECK: %[[NEW:.+]] = train.sgd %[[W2]], %[[MEAN]], %[[LR]]
// CHECK: return %[[NEW]], %[[ZEROS]]
module @accumulate_two attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, accumulation_steps = 2>} {
  func.func @train_step(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %w: tensor<6x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %lr: tensor<f32> {nn.input = "nnc.learning_rate"}) -> (tensor<f32> {nn.output = "loss"}, tensor<6x8xf32> {nn.updates = "fc1.weight"}) {
    %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<6x8xf32>
    %loss = nn.reduce_sum %h <{axes = array<i64: 0, 1>}> : tensor<4x6xf32>
    %ht = nn.transpose %h <{permutation = array<i64: 1, 0>}> : tensor<4x6xf32>
    %g = nn.matmul %ht, %x : tensor<6x4xf32>, tensor<4x8xf32>
    %w2 = train.sgd %w, %g, %lr <{weight_decay = 0.000000e+00 : f64}> : tensor<6x8xf32>
    return %loss, %w2 : tensor<f32>, tensor<6x8xf32>
  }
}

// -----

// Without accumulation_steps > 1, @train_step stays.
// CHECK-LABEL: module @no_accumulation
// CHECK: func.func @train_step
// CHECK-NOT: @accumulate_step
module @no_accumulation attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64>} {
  func.func @train_step(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %w: tensor<6x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %lr: tensor<f32> {nn.input = "nnc.learning_rate"}) -> (tensor<f32> {nn.output = "loss"}, tensor<6x8xf32> {nn.updates = "fc1.weight"}) {
    %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<6x8xf32>
    %loss = nn.reduce_sum %h <{axes = array<i64: 0, 1>}> : tensor<4x6xf32>
    %ht = nn.transpose %h <{permutation = array<i64: 1, 0>}> : tensor<4x6xf32>
    %g = nn.matmul %ht, %x : tensor<6x4xf32>, tensor<4x8xf32>
    %w2 = train.sgd %w, %g, %lr <{weight_decay = 0.000000e+00 : f64}> : tensor<6x8xf32>
    return %loss, %w2 : tensor<f32>, tensor<6x8xf32>
  }
}
