// RUN: %nnc-opt %s -split-input-file -nnc-fuse-elementwise | FileCheck %s

// A producer (the clipped gradient, `mulf`) read by two elementwise users: it moves into the
// first, which yields it to the second, and that one fuses in turn. One generic is left, and the
// producer's payload is computed once. (MLIR's fusion alone leaves all three: %gc has two users.)
// CHECK-LABEL: func.func @fuse_into_first_user
// CHECK-SAME: (%[[G:[^:]+]]: tensor<8xf32>, %[[M:[^:]+]]: tensor<8xf32>, %[[V:[^:]+]]: tensor<8xf32>)
// CHECK-NOT: arith.mulf
// CHECK: %[[R:.+]]:2 = linalg.generic
// CHECK-SAME: ins(%[[G]], %[[M]], %[[V]] :
// CHECK: %[[GC:.+]] = arith.mulf
// CHECK-NOT: arith.mulf
// CHECK-DAG: %[[M1:.+]] = arith.addf %[[GC]]
// CHECK-DAG: %[[V1:.+]] = arith.subf %[[GC]]
// CHECK: linalg.yield %[[V1]], %[[M1]]
// CHECK-NOT: linalg.generic
// CHECK-NOT: arith.mulf
// CHECK: return %[[R]]#1, %[[R]]#0
#id = affine_map<(d0) -> (d0)>
func.func @fuse_into_first_user(%g: tensor<8xf32>, %m: tensor<8xf32>, %v: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %c = arith.constant 5.0e-01 : f32
  %gc = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%g : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %m1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%gc, %m : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %v1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%gc, %v : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.subf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %m1, %v1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// The same, but the second user is a reduction (the global norm's sum), which cannot absorb
// anything: the fused generic yields the producer's result as an extra output, the reduction
// reads that output, and the producer's payload still appears once.
// CHECK-LABEL: func.func @yield_producer_to_later_user
// CHECK: %[[F:.+]]:2 = linalg.generic
// CHECK-SAME: iterator_types = ["parallel"]
// CHECK: %[[GC:.+]] = arith.mulf
// CHECK: %[[M1:.+]] = arith.addf %[[GC]]
// CHECK: linalg.yield %[[M1]], %[[GC]]
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["reduction"]
// CHECK-SAME: ins(%[[F]]#1 :
// CHECK-NOT: arith.mulf
// CHECK: return %[[F]]#0
#id = affine_map<(d0) -> (d0)>
func.func @yield_producer_to_later_user(%g: tensor<8xf32>, %m: tensor<8xf32>) -> (tensor<8xf32>, tensor<f32>) {
  %e = tensor.empty() : tensor<8xf32>
  %c = arith.constant 5.0e-01 : f32
  %z = arith.constant 0.0 : f32
  %gc = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%g : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %m1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%gc, %m : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%z : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [#id, affine_map<(d0) -> ()>], iterator_types = ["reduction"]} ins(%gc : tensor<8xf32>) outs(%f : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %m1, %sum : tensor<8xf32>, tensor<f32>
}

// -----

// The AdamW shape: one generic computes both moments, which are results of the step and are read
// by the parameter's update. The update absorbs it: one generic yields the new parameter and
// both moments, and the moments' payload is not repeated.
// CHECK-LABEL: func.func @fuse_multi_result_producer
// CHECK-SAME: (%[[G:[^:]+]]: tensor<8xf32>, %[[M:[^:]+]]: tensor<8xf32>, %[[V:[^:]+]]: tensor<8xf32>, %[[P:[^:]+]]: tensor<8xf32>)
// CHECK: %[[R:.+]]:3 = linalg.generic
// CHECK-SAME: ins(%[[G]], %[[M]], %[[V]], %[[P]] :
// CHECK: %[[M1:.+]] = arith.addf
// CHECK: %[[SQ:.+]] = arith.mulf
// CHECK: %[[V1:.+]] = arith.addf %[[SQ]]
// CHECK: math.sqrt %[[V1]]
// CHECK: %[[P1:.+]] = arith.subf
// CHECK: linalg.yield %[[P1]], %[[M1]], %[[V1]]
// CHECK-NOT: linalg.generic
// CHECK-NOT: arith.mulf
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2
#id = affine_map<(d0) -> (d0)>
func.func @fuse_multi_result_producer(%g: tensor<8xf32>, %m: tensor<8xf32>, %v: tensor<8xf32>, %p: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %mv:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id], iterator_types = ["parallel"]} ins(%g, %m, %v : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) outs(%e, %e : tensor<8xf32>, tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o1: f32, %o2: f32):
    %s = arith.addf %a, %b : f32
    %sq = arith.mulf %a, %a : f32
    %t = arith.addf %sq, %c : f32
    linalg.yield %s, %t : f32, f32
  } -> (tensor<8xf32>, tensor<8xf32>)
  %p1 = linalg.generic {indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel"]} ins(%p, %mv#0, %mv#1 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %r = math.sqrt %c : f32
    %d = arith.divf %b, %r : f32
    %s = arith.subf %a, %d : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %p1, %mv#0, %mv#1 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// The producer's first user is not a generic and comes before the elementwise one: the fused op,
// in the later user's place, could not give it the value, so nothing fuses.
// CHECK-LABEL: func.func @no_fuse_earlier_user
// CHECK: %[[GC:.+]] = linalg.generic
// CHECK-SAME: ins(%{{[^ ]+}} : tensor<8xf32>)
// CHECK: arith.mulf
// CHECK: call @use(%[[GC]])
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[GC]], %{{[^ ]+}} :
// CHECK-NOT: arith.mulf
// CHECK: return
#id = affine_map<(d0) -> (d0)>
func.func private @use(tensor<8xf32>)
func.func @no_fuse_earlier_user(%g: tensor<8xf32>, %m: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %c = arith.constant 5.0e-01 : f32
  %gc = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%g : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  func.call @use(%gc) : (tensor<8xf32>) -> ()
  %m1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%gc, %m : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %m1 : tensor<8xf32>
}

// -----

// The first user reads the producer transposed (same loop count, not its own indices): the rule
// does not apply to it, and the later identity user is not the first user, so all three stay.
// CHECK-LABEL: func.func @no_fuse_transposed_read
// CHECK: %[[GC:.+]] = linalg.generic
// CHECK: arith.mulf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[GC]], %{{[^ ]+}} :
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[GC]], %{{[^ ]+}} :
// CHECK: arith.subf
// CHECK-NOT: arith.mulf
// CHECK: return
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
func.func @no_fuse_transposed_read(%g: tensor<4x4xf32>, %m: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %e = tensor.empty() : tensor<4x4xf32>
  %c = arith.constant 5.0e-01 : f32
  %gc = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%g : tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<4x4xf32>
  %t = linalg.generic {indexing_maps = [#tr, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%gc, %m : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x4xf32>
  %u = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%gc, %m : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.subf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x4xf32>
  return %t, %u : tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// The first user broadcasts the producer's row over its own rows (more loops than the producer):
// not fused by this rule, which would compute the row once per row of the user.
// CHECK-LABEL: func.func @no_fuse_broadcast_read
// CHECK: %[[GC:.+]] = linalg.generic
// CHECK: arith.mulf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[GC]], %{{[^ ]+}} : tensor<4xf32>, tensor<3x4xf32>)
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[GC]] : tensor<4xf32>)
// CHECK: arith.negf
// CHECK-NOT: arith.mulf
// CHECK: return
#id = affine_map<(d0) -> (d0)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @no_fuse_broadcast_read(%g: tensor<4xf32>, %m: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %e2 = tensor.empty() : tensor<3x4xf32>
  %c = arith.constant 5.0e-01 : f32
  %gc = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%g : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %t = linalg.generic {indexing_maps = [#row, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%gc, %m : tensor<4xf32>, tensor<3x4xf32>) outs(%e2 : tensor<3x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<3x4xf32>
  %u = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%gc : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.negf %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %t, %u : tensor<3x4xf32>, tensor<4xf32>
}
