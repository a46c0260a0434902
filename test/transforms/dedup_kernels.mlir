// RUN: %nnc-opt %s -split-input-file -nnc-dedup-kernels | FileCheck %s

// @k1_b is @k0_a under another name and location: both entry points call @k0_a and @k1_b goes.
// @k2_c differs (exp, not tanh) and stays.
// CHECK-LABEL: func.func @predict
// CHECK: call @k0_a
// CHECK-LABEL: func.func @train_step
// CHECK: call @k0_a
// CHECK: call @k2_c
// CHECK: func.func private @k0_a
// CHECK-NOT: @k1_b
// CHECK: func.func private @k2_c
module {
  func.func @predict(%x: tensor<4xf32>) -> tensor<4xf32> {
    %e = tensor.empty() : tensor<4xf32>
    %y = call @k0_a(%x, %e) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %e = tensor.empty() : tensor<4xf32>
    %y = call @k1_b(%x, %e) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %e2 = tensor.empty() : tensor<4xf32>
    %z = call @k2_c(%y, %e2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %z : tensor<4xf32>
  }
  func.func private @k0_a(%in: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%in : tensor<4xf32>) outs(%out : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32):
      %t = math.tanh %a : f32
      linalg.yield %t : f32
    } -> tensor<4xf32> loc("a")
    return %r : tensor<4xf32>
  }
  func.func private @k1_b(%in: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%in : tensor<4xf32>) outs(%out : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32):
      %t = math.tanh %a : f32
      linalg.yield %t : f32
    } -> tensor<4xf32> loc("b")
    return %r : tensor<4xf32>
  }
  func.func private @k2_c(%in: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%in : tensor<4xf32>) outs(%out : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32):
      %t = math.exp %a : f32
      linalg.yield %t : f32
    } -> tensor<4xf32> loc("c")
    return %r : tensor<4xf32>
  }
}
