// RUN: %nnc-opt %s -split-input-file -nnc-extract-kernels | FileCheck %s

// The kernel functions are copied, in order, into a module marked nnc.kernels at the end; the
// entry point and the originals it calls stay.
// CHECK-LABEL: func.func @predict(
// CHECK: call @k0_a
// CHECK: call @k1_b
// CHECK: func.func private @k0_a
// CHECK: func.func private @k1_b
// CHECK: module attributes {nnc.kernels} {
// CHECK-NEXT: func.func private @k0_a(%{{.+}}: tensor<4xf32>, %{{.+}}: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel}
// CHECK: math.tanh
// CHECK: func.func private @k1_b(
// CHECK: math.exp
// CHECK-NOT: func.func @predict
module {
  func.func @predict(%x: tensor<4xf32>) -> tensor<4xf32> {
    %e = tensor.empty() : tensor<4xf32>
    %y = call @k0_a(%x, %e) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %e2 = tensor.empty() : tensor<4xf32>
    %z = call @k1_b(%y, %e2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %z : tensor<4xf32>
  }
  func.func private @k0_a(%in: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%in : tensor<4xf32>) outs(%out : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32):
      %t = math.tanh %a : f32
      linalg.yield %t : f32
    } -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
  func.func private @k1_b(%in: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%in : tensor<4xf32>) outs(%out : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32):
      %t = math.exp %a : f32
      linalg.yield %t : f32
    } -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

// Without kernels (a model of library calls only) the module is still there, empty: the plan
// builds its (nearly empty) library from it.
// CHECK-LABEL: func.func @no_kernels(
// CHECK: module attributes {nnc.kernels} {
// CHECK-NEXT: }
module {
  func.func @no_kernels(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
