// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-pipeline-split | FileCheck %s

// Two stages cut after "relu1": stage 0 computes fc1 and relu1 and returns the activation with
// the loss sum(activation * grad_in) (its gradients are the model's, given the next stage's);
// stage 1 takes the activation (differentiable, its gradient returned as grad_out) and computes
// the rest. Each stage accumulates over the micro-batches.
// CHECK-LABEL: module @split_at_boundary
// CHECK-NOT: func.func @forward
// CHECK: module @stage0 attributes {nn.training = #nn.training<{{.*}}accumulation_steps = 2, pipeline_stages = 2, micro_batches = 2
// CHECK-SAME: nnc.pipeline_first_node = "fc1", nnc.pipeline_last_node = "relu1", nnc.pipeline_stage = 0 : i64, nnc.pipeline_stages = 2 : i64
// CHECK: func.func @forward(%[[X:.+]]: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %[[W1:.+]]: tensor<6x8xf32> {{.*}}nn.param = "fc1.weight"{{.*}}, %[[GIN:.+]]: tensor<4x6xf32> {nn.input = "nnc.pipe.grad_in"}) -> (tensor<f32> {nn.output = "loss"}, tensor<4x6xf32> {nn.output = "nnc.pipe.out"})
// CHECK: %[[H:.+]] = nn.linear %[[X]], %[[W1]]
// CHECK: %[[A:.+]] = nn.relu %[[H]] {nnc.pipe_out}
// CHECK: %[[P:.+]] = nn.mul %[[A]], %[[GIN]]
// CHECK: %[[S:.+]] = nn.reduce_sum %[[P]] <{axes = array<i64: 0, 1>}>
// CHECK: return %[[S]], %[[A]]
// CHECK: module @stage1 attributes {{.*}}nnc.pipeline_first_node = "fc2", nnc.pipeline_last_node = "loss", nnc.pipeline_stage = 1 : i64
// CHECK: func.func @forward(%[[IN:.+]]: tensor<4x6xf32> {nn.differentiable = "nnc.pipe.grad_out", nn.input = "nnc.pipe.in"}, %[[Y:.+]]: tensor<4xi64> {{.*}}, %[[W2:.+]]: tensor<3x6xf32> {{.*}}nn.param = "fc2.weight"
// CHECK: %[[H2:.+]] = nn.linear %[[IN]], %[[W2]]
// CHECK: %[[L:.+]] = nn.cross_entropy %[[H2]], %[[Y]]
// CHECK: return %[[L]], %[[H2]]
module @split_at_boundary attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, pipeline_stages = 2, micro_batches = 2, stage_boundaries = ["relu1"]>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %y: tensor<4xi64> {nn.index_limit = 3 : i64, nn.index_reader = "loss", nn.input = "y", nn.role = "labels"}, %w1: tensor<6x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %w2: tensor<3x6xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}, tensor<4x3xf32> {nn.output = "h2"}) {
    %h1 = nn.linear %x, %w1 : tensor<4x8xf32>, tensor<6x8xf32> loc("fc1")
    %a1 = nn.relu %h1 : tensor<4x6xf32> loc("relu1")
    %h2 = nn.linear %a1, %w2 : tensor<4x6xf32>, tensor<3x6xf32> loc("fc2")
    %loss = nn.cross_entropy %h2, %y : tensor<4x3xf32>, tensor<4xi64> loc("loss")
    return %loss, %h2 : tensor<f32>, tensor<4x3xf32>
  }
}

// -----

// Without boundaries the cut goes where the FLOPs split most evenly and one tensor crosses.
// CHECK-LABEL: module @split_by_flops
// CHECK: module @stage0 attributes {{.*}}nnc.pipeline_last_node = "relu1"
// CHECK: module @stage1 attributes {{.*}}nnc.pipeline_first_node = "fc2"
module @split_by_flops attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, pipeline_stages = 2, micro_batches = 2>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %y: tensor<4xi64> {nn.index_limit = 8 : i64, nn.index_reader = "loss", nn.input = "y", nn.role = "labels"}, %w1: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}, %w2: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc2.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h1 = nn.linear %x, %w1 : tensor<4x8xf32>, tensor<8x8xf32> loc("fc1")
    %a1 = nn.relu %h1 : tensor<4x8xf32> loc("relu1")
    %h2 = nn.linear %a1, %w2 : tensor<4x8xf32>, tensor<8x8xf32> loc("fc2")
    %loss = nn.cross_entropy %h2, %y : tensor<4x8xf32>, tensor<4xi64> loc("loss")
    return %loss : tensor<f32>
  }
}

// -----

// One stage (or none asked for): the module stays as it is.
// CHECK-LABEL: module @one_stage
// CHECK-NOT: module @stage
// CHECK: func.func @forward
module @one_stage attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, pipeline_stages = 1, micro_batches = 2>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %w1: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h1 = nn.linear %x, %w1 : tensor<4x8xf32>, tensor<8x8xf32> loc("fc1")
    %s = nn.reduce_sum %h1 <{axes = array<i64: 0, 1>}> : tensor<4x8xf32> loc("loss")
    return %s : tensor<f32>
  }
}

// -----

// The 1F1B schedule overlaps stages across micro-batches: fewer than 2 is an error.
// expected-error @+1 {{pipeline: micro_batches must be at least 2 (the schedule overlaps stages across micro-batches), got 1}}
module @one_micro_batch attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, pipeline_stages = 2, micro_batches = 1>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %w1: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h1 = nn.linear %x, %w1 : tensor<4x8xf32>, tensor<8x8xf32> loc("fc1")
    %s = nn.reduce_sum %h1 <{axes = array<i64: 0, 1>}> : tensor<4x8xf32> loc("loss")
    return %s : tensor<f32>
  }
}

// -----

// A boundary names a node of the model.
// expected-error @+1 {{pipeline: stage boundary 'fc9' is not a node of the model}}
module @unknown_boundary attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, pipeline_stages = 2, micro_batches = 2, stage_boundaries = ["fc9"]>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %w1: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h1 = nn.linear %x, %w1 : tensor<4x8xf32>, tensor<8x8xf32> loc("fc1")
    %s = nn.reduce_sum %h1 <{axes = array<i64: 0, 1>}> : tensor<4x8xf32> loc("loss")
    return %s : tensor<f32>
  }
}

// -----

// A cut passes exactly one tensor: after "fc1" both its result and the input %x (read by "add")
// would cross.
module @two_tensors_cross attributes {nn.training = #nn.training<loss = "loss", optimizer = sgd, learning_rate = 1.000000e-01 : f64, pipeline_stages = 2, micro_batches = 2, stage_boundaries = ["fc1"]>} {
  func.func @forward(%x: tensor<4x8xf32> {nn.input = "x", nn.role = "features"}, %w1: tensor<8x8xf32> {nn.init = {kind = "zeros"}, nn.param = "fc1.weight", nn.trainable = true}) -> (tensor<f32> {nn.output = "loss"}) {
    %h0 = nn.relu %x : tensor<4x8xf32> loc("relu0")
    // The op's location is its node name alone, which has no line to match: @unknown.
    // expected-error @unknown {{pipeline: stage boundary 'fc1' does not cut the model at one tensor: 2 values cross it, from 'relu0' 'fc1'}}
    %h1 = nn.linear %h0, %w1 : tensor<4x8xf32>, tensor<8x8xf32> loc("fc1")
    %a = nn.add %h1, %h0 : tensor<4x8xf32>, tensor<4x8xf32> loc("add")
    %s = nn.reduce_sum %a <{axes = array<i64: 0, 1>}> : tensor<4x8xf32> loc("loss")
    return %s : tensor<f32>
  }
}
