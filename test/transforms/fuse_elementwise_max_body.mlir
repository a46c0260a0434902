// RUN: %nnc-opt %s -nnc-fuse-elementwise="max-body-ops=5" | FileCheck %s
// RUN: %nnc-opt %s -nnc-fuse-elementwise | FileCheck %s --check-prefix=DEFAULT

// A chain of four elementwise ops (two body ops each: the op and the yield) fuses only while the
// fused body stays within max-body-ops: with 5, the first three become one generic (2 + 2 <= 5,
// then 3 + 2 <= 5) and the fourth stays apart (4 + 2 > 5). By default (256) all four fuse.
// CHECK-LABEL: func.func @chain(
// CHECK: %[[A:.+]] = linalg.generic
// CHECK: math.tanh
// CHECK-NEXT: math.exp
// CHECK-NEXT: arith.negf
// CHECK-NEXT: linalg.yield
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[A]] : tensor<8xf32>)
// CHECK: math.sqrt
// CHECK-NEXT: linalg.yield
// CHECK-NOT: linalg.generic
// DEFAULT-LABEL: func.func @chain(
// DEFAULT-COUNT-1: linalg.generic
// DEFAULT-NOT: linalg.generic
#id = affine_map<(d0) -> (d0)>
func.func @chain(%x: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = math.tanh %a : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%0 : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = math.exp %a : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%1 : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.negf %a : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %3 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%2 : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = math.sqrt %a : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %3 : tensor<8xf32>
}
