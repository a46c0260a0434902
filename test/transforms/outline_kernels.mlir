// RUN: %nnc-opt %s -split-input-file -nnc-lower-nn-to-linalg -nnc-outline-kernels | FileCheck %s
// RUN: %nnc-opt %s -split-input-file -nnc-lower-nn-to-linalg -nnc-outline-kernels=row-groups=false | FileCheck %s --check-prefix=NOGROUP

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

// -----

// Row groups: softmax's row maximum, exponentials, row sum and quotient all run over the same 64
// rows and read each other's results only at their own row: one kernel, whose intermediate
// results stay inside it (only the quotient has an %out). Without row groups, one per op.
// CHECK-LABEL: func.func @softmax_row_group
// CHECK: call @k0_probs(
// CHECK-NOT: call
// CHECK: return
// CHECK: func.func private @k0_probs(%{{.+}}: tensor<64x32xf32> {bufferization.writable = false}, %[[OUT:.+]]: tensor<64x32xf32> {bufferization.writable = true}) -> tensor<64x32xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK: math.exp
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}}outs(%[[OUT]] : tensor<64x32xf32>)
// CHECK: arith.divf
// CHECK-NOT: linalg.generic
// CHECK: return
// NOGROUP-LABEL: func.func @softmax_row_group
// NOGROUP-COUNT-4: call @k{{[0-9]+}}_probs(
// NOGROUP-NOT: call
// NOGROUP: return
func.func @softmax_row_group(%x: tensor<64x32xf32>) -> tensor<64x32xf32> {
  %p = nn.softmax %x : tensor<64x32xf32> loc("probs")
  return %p : tensor<64x32xf32>
}

// -----

// A layer norm: mean, centring, squares, their sum and the scaling, one kernel.
// CHECK-LABEL: func.func @layer_norm_row_group
// CHECK: call @k0_ln(
// CHECK-NOT: call
// CHECK: func.func private @k0_ln(
// CHECK-COUNT-5: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: return
// NOGROUP-LABEL: func.func @layer_norm_row_group
// NOGROUP-COUNT-5: call @k{{[0-9]+}}_ln(
// NOGROUP-NOT: call
// NOGROUP: return
func.func @layer_norm_row_group(%x: tensor<64x32xf32>, %w: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<64x32xf32> {
  %n = nn.layer_norm %x, %w, %b : tensor<64x32xf32>, tensor<32xf32>, tensor<32xf32> loc("ln")
  return %n : tensor<64x32xf32>
}

// -----

// A group member's result also read after the group: it becomes a second result of the kernel,
// with an %out of its own.
// CHECK-LABEL: func.func @row_group_result_read_outside
// CHECK: %[[R:.+]]:2 = call @k0_k(%{{.+}}, %{{.+}}, %{{.+}}) : (tensor<32x32xf32>, tensor<32x1xf32>, tensor<32x32xf32>) -> (tensor<32x1xf32>, tensor<32x32xf32>)
// CHECK-NOT: call
// CHECK: return %[[R]]#0, %[[R]]#1
// CHECK: func.func private @k0_k(%{{.+}}: tensor<32x32xf32> {bufferization.writable = false}, %[[SUM:.+]]: tensor<32x1xf32> {bufferization.writable = true}, %[[DIFF:.+]]: tensor<32x32xf32> {bufferization.writable = true})
// CHECK: %[[INIT:.+]] = linalg.fill {{.*}} outs(%[[SUM]] : tensor<32x1xf32>)
// CHECK: %[[S:.+]] = linalg.generic {{.*}} outs(%[[INIT]] : tensor<32x1xf32>)
// CHECK: %[[D:.+]] = linalg.generic {{.*}} ins(%{{.+}}, %[[S]] : tensor<32x32xf32>, tensor<32x1xf32>) outs(%[[DIFF]] : tensor<32x32xf32>)
// CHECK: return %[[S]], %[[D]]
func.func @row_group_result_read_outside(%x: tensor<32x32xf32>) -> (tensor<32x1xf32>, tensor<32x32xf32>) {
  %k = nn.reduce_sum %x <{axes = array<i64: 1>, keepdim = true}> : tensor<32x32xf32> loc("k")
  %z = nn.sub %x, %k : tensor<32x32xf32>, tensor<32x1xf32> loc("z")
  return %k, %z : tensor<32x1xf32>, tensor<32x32xf32>
}

// -----

// The row sums (32) broadcast along the rows: the add reads sum j at row i, not at its own row.
// Two kernels.
// CHECK-LABEL: func.func @no_row_group_broadcast_along_rows
// CHECK: %[[S:.+]] = call @k0_s(
// CHECK: call @k1_y(%{{.+}}, %[[S]], %{{.+}})
// CHECK: func.func private @k0_s(
// CHECK-COUNT-1: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: func.func private @k1_y(
func.func @no_row_group_broadcast_along_rows(%x: tensor<32x32xf32>) -> tensor<32x32xf32> {
  %s = nn.reduce_sum %x <{axes = array<i64: 1>}> : tensor<32x32xf32> loc("s")
  %y = nn.add %x, %s : tensor<32x32xf32>, tensor<32xf32> loc("y")
  return %y : tensor<32x32xf32>
}

// -----

// A transpose and a sum over the rows read the softmax's rows in other places: kernels of their
// own, after the softmax's one.
// CHECK-LABEL: func.func @no_row_group_transpose_or_column_sum
// CHECK: %[[P:.+]] = call @k0_probs(
// CHECK: call @k1_t(%[[P]],
// CHECK: call @k2_colsum(%[[P]],
// CHECK: func.func private @k0_probs(
// CHECK-COUNT-4: linalg.generic
// CHECK-NOT: linalg.{{generic|transpose}}
// CHECK: func.func private @k1_t(
// CHECK: linalg.transpose
func.func @no_row_group_transpose_or_column_sum(%x: tensor<64x32xf32>) -> (tensor<32x64xf32>, tensor<32xf32>) {
  %p = nn.softmax %x : tensor<64x32xf32> loc("probs")
  %t = nn.transpose %p <{permutation = array<i64: 1, 0>}> : tensor<64x32xf32> loc("t")
  %c = nn.reduce_sum %p <{axes = array<i64: 0>}> : tensor<64x32xf32> loc("colsum")
  return %t, %c : tensor<32x64xf32>, tensor<32xf32>
}

// -----

// Ops over the same rows that do not read each other: no group.
// CHECK-LABEL: func.func @no_row_group_unconnected
// CHECK: call @k0_a(
// CHECK: call @k1_b(
func.func @no_row_group_unconnected(%x: tensor<64x32xf32>, %y: tensor<64x32xf32>) -> (tensor<64x32xf32>, tensor<64x32xf32>) {
  %a = nn.relu %x : tensor<64x32xf32> loc("a")
  %b = nn.relu %y : tensor<64x32xf32> loc("b")
  return %a, %b : tensor<64x32xf32>, tensor<64x32xf32>
}

// -----

// A result only the group reads stays inside it, one row at a time, if a row of it is at most
// 512 KiB: 131072 floats are, the whole softmax is one kernel.
// CHECK-LABEL: func.func @row_group_internal_row_at_limit
// CHECK: call @k0_probs(
// CHECK-NOT: call
// CHECK: func.func private @k0_probs(
// CHECK-COUNT-4: linalg.generic
func.func @row_group_internal_row_at_limit(%x: tensor<2x131072xf32>) -> tensor<2x131072xf32> {
  %p = nn.softmax %x : tensor<2x131072xf32> loc("probs")
  return %p : tensor<2x131072xf32>
}

// -----

// 131073 floats are not: the exponentials go out of the kernel (with the maximum, which the
// quotient reads too), and the sum and quotient start a second one.
// CHECK-LABEL: func.func @row_group_internal_row_over_limit
// CHECK: %[[A:.+]]:2 = call @k0_probs(%[[X:.+]], %{{.+}}, %{{.+}}) : (tensor<2x131073xf32>, tensor<2x1xf32>, tensor<2x131073xf32>) -> (tensor<2x1xf32>, tensor<2x131073xf32>)
// CHECK: call @k1_probs(%[[A]]#1, %[[X]], %[[A]]#0, %{{.+}})
// CHECK: func.func private @k0_probs(
// CHECK-COUNT-2: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: func.func private @k1_probs(
// CHECK-COUNT-2: linalg.generic
// CHECK-NOT: linalg.generic
func.func @row_group_internal_row_over_limit(%x: tensor<2x131073xf32>) -> tensor<2x131073xf32> {
  %p = nn.softmax %x : tensor<2x131073xf32> loc("probs")
  return %p : tensor<2x131073xf32>
}

// -----

// Max pooling over 2x2 windows that tile its input runs in two passes (rows of windows, then
// the pairs of their columns), the second over a reshape of the first's result that keeps
// dimension 0: one kernel, with the reshapes inside it and the first pass's result internal.
// CHECK-LABEL: func.func @row_group_through_reshapes
// CHECK: call @k0_pool(
// CHECK-NOT: call
// CHECK: return
// CHECK: func.func private @k0_pool(%{{.+}}: tensor<4x8x6x6xf32> {bufferization.writable = false}, %{{.+}}: tensor<4x72xf32> {bufferization.writable = true}) -> tensor<4x72xf32>
// CHECK: linalg.generic
// CHECK: tensor.collapse_shape {{.*}} {{\[}}[0], [1, 2, 3]]
// CHECK: tensor.expand_shape {{.*}} {{\[}}[0], [1, 2]]
// CHECK: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: return
// NOGROUP-LABEL: func.func @row_group_through_reshapes
// NOGROUP-COUNT-2: call @k{{[0-9]+}}_pool(
func.func @row_group_through_reshapes(%x: tensor<4x8x6x6xf32>) -> tensor<4x8x3x3xf32> {
  %p = nn.max_pool2d %x <{kernel_size = array<i64: 2, 2>}> : tensor<4x8x6x6xf32> loc("pool")
  return %p : tensor<4x8x3x3xf32>
}

// -----

// A reshape that keeps the rows joins its reader's group (it moves into the kernel) only if
// nothing else reads it: in the first function the function returns it too, so the second op
// starts a kernel of its own. (nn.reshape lowers through a full collapse, which keeps no rows:
// these are written in linalg.)
// CHECK-LABEL: func.func @no_row_group_through_reshape_read_outside
// CHECK: %[[A:.+]] = call @k0_a(
// CHECK: %[[V:.+]] = tensor.expand_shape %[[A]]
// CHECK: call @k1_b(%[[V]],
// CHECK-LABEL: func.func @row_group_through_reshape
// CHECK: call @k2_a(
// CHECK-NOT: call
// CHECK: func.func private @k2_a(
// CHECK: linalg.abs
// CHECK: tensor.expand_shape {{.*}} {{\[}}[0], [1, 2]]
// CHECK: linalg.exp
func.func @no_row_group_through_reshape_read_outside(%x: tensor<4x6xf32>) -> (tensor<4x2x3xf32>, tensor<4x2x3xf32>) {
  %e0 = tensor.empty() : tensor<4x6xf32>
  %a = linalg.abs ins(%x : tensor<4x6xf32>) outs(%e0 : tensor<4x6xf32>) -> tensor<4x6xf32> loc("a")
  %v = tensor.expand_shape %a [[0], [1, 2]] output_shape [4, 2, 3] : tensor<4x6xf32> into tensor<4x2x3xf32>
  %e1 = tensor.empty() : tensor<4x2x3xf32>
  %b = linalg.exp ins(%v : tensor<4x2x3xf32>) outs(%e1 : tensor<4x2x3xf32>) -> tensor<4x2x3xf32> loc("b")
  return %v, %b : tensor<4x2x3xf32>, tensor<4x2x3xf32>
}
func.func @row_group_through_reshape(%x: tensor<4x6xf32>) -> tensor<4x2x3xf32> {
  %e0 = tensor.empty() : tensor<4x6xf32>
  %a = linalg.abs ins(%x : tensor<4x6xf32>) outs(%e0 : tensor<4x6xf32>) -> tensor<4x6xf32> loc("a")
  %v = tensor.expand_shape %a [[0], [1, 2]] output_shape [4, 2, 3] : tensor<4x6xf32> into tensor<4x2x3xf32>
  %e1 = tensor.empty() : tensor<4x2x3xf32>
  %b = linalg.exp ins(%v : tensor<4x2x3xf32>) outs(%e1 : tensor<4x2x3xf32>) -> tensor<4x2x3xf32> loc("b")
  return %b : tensor<4x2x3xf32>
}

// -----

// A reshape whose first group is not {0} (here {0, 1}, with dimension 1 of size 1) may move
// rows in general: no group across it.
// CHECK-LABEL: func.func @no_row_group_through_reshape_of_rows
// CHECK: call @k0_a(
// CHECK: call @k1_b(
func.func @no_row_group_through_reshape_of_rows(%x: tensor<4x1x6xf32>) -> tensor<4x6xf32> {
  %e0 = tensor.empty() : tensor<4x1x6xf32>
  %a = linalg.abs ins(%x : tensor<4x1x6xf32>) outs(%e0 : tensor<4x1x6xf32>) -> tensor<4x1x6xf32> loc("a")
  %v = tensor.collapse_shape %a [[0, 1], [2]] : tensor<4x1x6xf32> into tensor<4x6xf32>
  %e1 = tensor.empty() : tensor<4x6xf32>
  %b = linalg.exp ins(%v : tensor<4x6xf32>) outs(%e1 : tensor<4x6xf32>) -> tensor<4x6xf32> loc("b")
  return %b : tensor<4x6xf32>
}
