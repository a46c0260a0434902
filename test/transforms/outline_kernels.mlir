// RUN: %nnc-opt %s -split-input-file -nnc-lower-nn-to-linalg -nnc-outline-kernels | FileCheck %s

// The entry point keeps host work: library calls, views and kernel calls with a tensor.empty
// standing in for each kernel's output. Each kernel writes into its trailing %out argument.
// CHECK-LABEL: func.func @predict
// CHECK: %[[H:.+]] = nn.linear
// CHECK: %[[E:.+]] = tensor.empty() : tensor<4x3xf32>
// CHECK: %[[R:.+]] = call @k0_act(%[[H]], %[[E]])
// CHECK: %[[F:.+]] = tensor.collapse_shape %[[R]]
// CHECK: return %[[F]]
// CHECK: func.func private @k0_act(%[[IN:.+]]: tensor<4x3xf32> {bufferization.writable = false}, %[[OUT:.+]]: tensor<4x3xf32> {bufferization.writable = true}) -> tensor<4x3xf32> attributes {nnc.kernel}
// CHECK: linalg.generic {{.*}} ins(%[[IN]] : tensor<4x3xf32>) outs(%[[OUT]] : tensor<4x3xf32>)
func.func @predict(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>) -> tensor<12xf32> {
  %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32> loc("fc")
  %r = nn.relu %h : tensor<4x3xf32> loc("act")
  %f = nn.reshape %r <{shape = array<i64: 12>}> : tensor<4x3xf32>
  return %f : tensor<12xf32>
}

// -----

// A reduction's filled init is rebuilt inside the kernel, on %out.
// CHECK-LABEL: func.func private @k0_sum
// CHECK-SAME: (%{{.+}}: tensor<4x3xf32> {bufferization.writable = false}, %[[OUT:.+]]: tensor<4xf32> {bufferization.writable = true})
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[OUT]] : tensor<4xf32>)
// CHECK: linalg.generic {{.*}} outs(%[[INIT]] : tensor<4xf32>)
func.func @predict(%x: tensor<4x3xf32>) -> tensor<4xf32> {
  %s = nn.reduce_sum %x <{axes = array<i64: 1>}> : tensor<4x3xf32> loc("sum")
  return %s : tensor<4xf32>
}
