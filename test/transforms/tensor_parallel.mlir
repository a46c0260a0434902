// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-tensor-parallel=ranks=2 | FileCheck %s

// An MLP block: fc1 keeps half its output rows, fc2 half its input columns; fc1 reads its input
// through tensor_parallel_copy, fc2's partial product is summed over the ranks, then its bias
// is added once. The last layer stays whole.
// CHECK-LABEL: module @mlp_block
// CHECK: func.func @forward(
// CHECK-SAME: %[[W1:arg[0-9]+]]: tensor<4x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true, nnc.shard = array<i64: 0, 2, 1>}
// CHECK-SAME: %[[B1:arg[0-9]+]]: tensor<4xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.bias", nn.trainable = true, nnc.shard = array<i64: 0, 2, 1>}
// CHECK-SAME: %[[W2:arg[0-9]+]]: tensor<6x4xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.weight", nn.trainable = true, nnc.shard = array<i64: 1, 2, 1>}
// CHECK-SAME: %[[B2:arg[0-9]+]]: tensor<6xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.bias", nn.trainable = true}
// CHECK-SAME: %[[W3:arg[0-9]+]]: tensor<3x6xf32> {nn.init = {kind = "zeros"}, nn.param = "fc3.weight", nn.trainable = true}
// CHECK: %[[X1:.+]] = train.tensor_parallel_copy %{{.+}} : tensor<4x8xf32>
// CHECK: %[[H1:.+]] = nn.linear %[[X1]], %[[W1]], %[[B1]] : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4xf32>
// CHECK: %[[A1:.+]] = nn.gelu %[[H1]] : tensor<4x4xf32>
// CHECK: %[[P:.+]] = nn.linear %[[A1]], %[[W2]] : tensor<4x4xf32>, tensor<6x4xf32>
// CHECK: %[[S:.+]] = train.tensor_parallel_sum %[[P]] : tensor<4x6xf32>
// CHECK: %[[H2:.+]] = nn.add %[[S]], %[[B2]]
// CHECK: nn.linear %[[H2]], %[[W3]] : tensor<4x6xf32>, tensor<3x6xf32>
// CHECK-NOT: tensor_parallel
module @mlp_block attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %y: tensor<4xi64> {nn.index_limit = 3 : i64, nn.index_reader = "loss", nn.input = "y", nn.role = "labels"}, %w1: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %b1: tensor<8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.bias", nn.trainable = true}, %w2: tensor<6x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.weight", nn.trainable = true}, %b2: tensor<6xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.bias", nn.trainable = true}, %w3: tensor<3x6xf32> {nn.init = {kind = "zeros"}, nn.param = "fc3.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h1 = nn.linear %x, %w1, %b1 : tensor<4x8xf32>, tensor<8x8xf32>, tensor<8xf32> loc("fc1")
    %a1 = nn.gelu %h1 : tensor<4x8xf32> loc("gelu")
    %h2 = nn.linear %a1, %w2, %b2 : tensor<4x8xf32>, tensor<6x8xf32>, tensor<6xf32> loc("fc2")
    %h3 = nn.linear %h2, %w3 : tensor<4x6xf32>, tensor<3x6xf32> loc("fc3")
    %loss = nn.cross_entropy %h3, %y : tensor<4x3xf32>, tensor<4xi64> loc("loss")
    return %loss : tensor<f32>
  }
}

// -----

// A softmax over the split features would need them all: no pair, every layer stays whole.
// CHECK-LABEL: module @softmax_over_split_axis
// CHECK-NOT: tensor_parallel
// CHECK-NOT: nnc.shard
module @softmax_over_split_axis attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64>} {
  // expected-warning@+1 {{tensor parallelism: no pair of linear layers to split; every rank holds the whole model}}
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %y: tensor<4xi64> {nn.index_limit = 3 : i64, nn.index_reader = "loss", nn.input = "y", nn.role = "labels"}, %w1: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %w2: tensor<3x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h1 = nn.linear %x, %w1 : tensor<4x8xf32>, tensor<8x8xf32> loc("fc1")
    %a1 = nn.softmax %h1 : tensor<4x8xf32> loc("softmax")
    %h2 = nn.linear %a1, %w2 : tensor<4x8xf32>, tensor<3x8xf32> loc("fc2")
    %loss = nn.cross_entropy %h2, %y : tensor<4x3xf32>, tensor<4xi64> loc("loss")
    return %loss : tensor<f32>
  }
}

// -----

module @indivisible attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %y: tensor<4xi64> {nn.index_limit = 3 : i64, nn.index_reader = "loss", nn.input = "y", nn.role = "labels"}, %w1: tensor<5x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %w2: tensor<3x5xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    // The node's name is its whole location.
    // expected-error@unknown {{tensor parallelism: layer 'fc1' has 5 output features, which --tensor-parallel 2 does not divide}}
    %h1 = nn.linear %x, %w1 : tensor<4x8xf32>, tensor<5x8xf32> loc("fc1")
    %a1 = nn.relu %h1 : tensor<4x5xf32> loc("relu")
    %h2 = nn.linear %a1, %w2 : tensor<4x5xf32>, tensor<3x5xf32> loc("fc2")
    %loss = nn.cross_entropy %h2, %y : tensor<4x3xf32>, tensor<4xi64> loc("loss")
    return %loss : tensor<f32>
  }
}
