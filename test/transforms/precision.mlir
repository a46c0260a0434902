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
module attributes {nn.training = {loss = "loss", precision = {kind = "bf16"}}} {
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
module attributes {nn.training = {loss = "loss", precision = {kind = "fp16", fp32_ops = ["tanh"]}}} {
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
module attributes {nn.training = {loss = "loss", precision = {kind = "fp32"}}} {
  func.func @unchanged(%x: tensor<4xf32>) -> tensor<4xf32> {
    %r = nn.relu %x : tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

// Dropout's step number and key are not data: they keep their types.
// CHECK-LABEL: func.func @dropout
// CHECK: nn.dropout %{{.+}}[%{{.+}}, %{{.+}}] <{rate = 5.000000e-01 : f64, stream = 1 : i64}> : tensor<4xbf16>, tensor<f32>, tensor<i64>
module attributes {nn.training = {loss = "loss", precision = {kind = "bf16"}}} {
  func.func @dropout(%x: tensor<4xf32>, %step: tensor<f32>, %key: tensor<i64>) -> tensor<4xf32> {
    %d = nn.dropout %x[%step, %key] <{rate = 0.5 : f64, stream = 1 : i64}> : tensor<4xf32>, tensor<f32>, tensor<i64>
    return %d : tensor<4xf32>
  }
}
