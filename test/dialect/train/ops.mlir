// The train dialect's ops parse, print and round-trip; their type checks reject mismatches.
// RUN: %nnc-opt %s -split-input-file | %nnc-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @updates
// CHECK: %[[N:.+]] = train.global_norm %{{.+}}, %{{.+}} : tensor<4x3xf32>, tensor<4xf32>
// CHECK: train.clip %{{.+}}, %[[N]] <{max_norm = 1.000000e+00 : f64}> : tensor<4x3xf32>
// CHECK: train.sgd %{{.+}}, %{{.+}}, %{{.+}} <{weight_decay = 0.000000e+00 : f64}> : tensor<4x3xf32>
// CHECK: train.sgd_momentum %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} <{momentum = 9.000000e-01 : f64, nesterov = true, weight_decay = 1.000000e-02 : f64}> : tensor<4x3xf32>
// CHECK: train.adam %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} <{beta1 = 9.000000e-01 : f64, beta2 = 0.99899999999999999 : f64, decoupled = false, epsilon = 1.000000e-08 : f64, weight_decay = 0.000000e+00 : f64}> : tensor<4xf32>
func.func @updates(%w: tensor<4x3xf32>, %gw: tensor<4x3xf32>, %b: tensor<4xf32>, %gb: tensor<4xf32>,
                   %buf: tensor<4x3xf32>, %m: tensor<4xf32>, %v: tensor<4xf32>,
                   %lr: tensor<f32>, %t: tensor<f32>)
    -> (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) {
  %n = train.global_norm %gw, %gb : tensor<4x3xf32>, tensor<4xf32>
  %c = train.clip %gw, %n <{max_norm = 1.0 : f64}> : tensor<4x3xf32>
  %p = train.sgd %w, %c, %lr <{weight_decay = 0.0 : f64}> : tensor<4x3xf32>
  %q, %buf2 = train.sgd_momentum %w, %c, %buf, %lr <{momentum = 0.9 : f64, nesterov = true, weight_decay = 0.01 : f64}> : tensor<4x3xf32>
  %b2, %m2, %v2 = train.adam %b, %gb, %m, %v, %lr, %t <{beta1 = 0.9 : f64, beta2 = 0.999 : f64, decoupled = false, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64}> : tensor<4xf32>
  return %p, %q, %buf2, %b2 : tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>
}

// -----

// ZeRO-1's shards: 15 elements over 2 ranks are 8 per rank (the last one padding).
// CHECK-LABEL: func.func @shards
// CHECK: %[[S:.+]] = train.reduce_scatter %{{.+}} {shards = 2 : i64} : tensor<3x5xf32> -> tensor<8xf32>
// CHECK: %[[P:.+]] = train.take_shard %{{.+}} {shards = 2 : i64} : tensor<3x5xf32> -> tensor<8xf32>
// CHECK: train.all_gather %{{.+}} {shards = 2 : i64} : tensor<8xf32> -> tensor<3x5xf32>
func.func @shards(%g: tensor<3x5xf32>, %p: tensor<3x5xf32>, %lr: tensor<f32>) -> tensor<3x5xf32> {
  %s = train.reduce_scatter %g {shards = 2 : i64} : tensor<3x5xf32> -> tensor<8xf32>
  %ps = train.take_shard %p {shards = 2 : i64} : tensor<3x5xf32> -> tensor<8xf32>
  %new = train.sgd %ps, %s, %lr <{weight_decay = 0.0 : f64}> : tensor<8xf32>
  %whole = train.all_gather %new {shards = 2 : i64} : tensor<8xf32> -> tensor<3x5xf32>
  return %whole : tensor<3x5xf32>
}

// -----

// The vocabulary split's rank in the tensor group, as an i64 or i32 scalar.
// CHECK-LABEL: func.func @tensor_parallel_rank
// CHECK: %[[R:.+]] = train.tensor_parallel_rank : tensor<i64>
// CHECK: train.tensor_parallel_rank {group = "stage"} : tensor<i32>
func.func @tensor_parallel_rank() -> (tensor<i64>, tensor<i32>) {
  %r = train.tensor_parallel_rank : tensor<i64>
  %s = train.tensor_parallel_rank {group = "stage"} : tensor<i32>
  return %r, %s : tensor<i64>, tensor<i32>
}
