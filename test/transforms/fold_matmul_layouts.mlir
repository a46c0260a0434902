// RUN: %nnc-opt %s -split-input-file -nnc-fold-matmul-layouts | FileCheck %s
// The folded form prints and parses back (the permutations are properties).
// RUN: %nnc-opt %s -split-input-file -nnc-fold-matmul-layouts | %nnc-opt -split-input-file | FileCheck %s

// The weight gradient g^T x of a linear: the library reads g column-major.
// CHECK-LABEL: func.func @fold_weight_gradient
// CHECK-SAME: (%[[G:.+]]: tensor<4x3xf32>, %[[X:.+]]: tensor<4x8xf32>)
// CHECK-NOT: nn.transpose
// CHECK: %[[DW:.+]] = nn.matmul %[[G]], %[[X]] <{lhs_permutation = array<i64: 1, 0>}> : tensor<4x3xf32>, tensor<4x8xf32>
// CHECK-NEXT: return %[[DW]] : tensor<3x8xf32>
func.func @fold_weight_gradient(%g: tensor<4x3xf32>, %x: tensor<4x8xf32>) -> tensor<3x8xf32> {
  %gt = nn.transpose %g <{permutation = array<i64: 1, 0>}> : tensor<4x3xf32>
  %dw = nn.matmul %gt, %x : tensor<3x4xf32>, tensor<4x8xf32>
  return %dw : tensor<3x8xf32>
}

// -----

// Attention scores q k^T from q and k stored (B, T, H, D): q read as (B, H, T, D) (rows strided),
// k as (B, H, D, T) (column-major).
// CHECK-LABEL: func.func @fold_attention_operands
// CHECK-SAME: (%[[Q:.+]]: tensor<2x8x4x16xf32>, %[[K:.+]]: tensor<2x8x4x16xf32>)
// CHECK-NOT: nn.transpose
// CHECK: %[[S:.+]] = nn.matmul %[[Q]], %[[K]] <{lhs_permutation = array<i64: 0, 2, 1, 3>, rhs_permutation = array<i64: 0, 2, 3, 1>}> : tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32>
// CHECK-NEXT: return %[[S]] : tensor<2x4x8x8xf32>
func.func @fold_attention_operands(%q4: tensor<2x8x4x16xf32>, %k4: tensor<2x8x4x16xf32>) -> tensor<2x4x8x8xf32> {
  %q = nn.transpose %q4 <{permutation = array<i64: 0, 2, 1, 3>}> : tensor<2x8x4x16xf32>
  %kt = nn.transpose %k4 <{permutation = array<i64: 0, 2, 3, 1>}> : tensor<2x8x4x16xf32>
  %s = nn.matmul %q, %kt : tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>
  return %s : tensor<2x4x8x8xf32>
}

// -----

// Merging heads: the product (B, H, T, D) is written straight into the (B, T, H, D) layout.
// CHECK-LABEL: func.func @fold_result_transpose
// CHECK-SAME: (%[[P:.+]]: tensor<2x4x8x8xf32>, %[[V:.+]]: tensor<2x4x8x16xf32>)
// CHECK-NEXT: %[[Y:.+]] = nn.matmul %[[P]], %[[V]] <{result_permutation = array<i64: 0, 2, 1, 3>}> : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>
// CHECK-NEXT: return %[[Y]] : tensor<2x8x4x16xf32>
func.func @fold_result_transpose(%p: tensor<2x4x8x8xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x8x4x16xf32> {
  %y = nn.matmul %p, %v : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>
  %t = nn.transpose %y <{permutation = array<i64: 0, 2, 1, 3>}> : tensor<2x4x8x16xf32>
  return %t : tensor<2x8x4x16xf32>
}

// -----

// c = a^T x with a (B, T, H, D) read as (B, H, D, T), x (B, H, T, T), stored transposed to
// (B, T, H, D): c (B, H, D, T) would be written with its rows contiguous, column-major. It is
// computed as c^T = x^T a^T instead: x read column-major (0, 1, 3, 2), a read as (B, H, T, D)
// (0, 2, 1, 3), and c^T (B, H, T, D) written as (B, T, H, D) (0, 2, 1, 3), its last dimension
// last, so row-major. Element (b, t, h, d) is sum_s x[b, h, s, t] a[b, s, h, d] both ways.
// CHECK-LABEL: func.func @swap_column_major_result
// CHECK-SAME: (%[[A:.+]]: tensor<2x8x4x16xf32>, %[[X:.+]]: tensor<2x4x8x8xf32>)
// CHECK-NEXT: %[[C:.+]] = nn.matmul %[[X]], %[[A]] <{lhs_permutation = array<i64: 0, 1, 3, 2>, result_permutation = array<i64: 0, 2, 1, 3>, rhs_permutation = array<i64: 0, 2, 1, 3>}> : tensor<2x4x8x8xf32>, tensor<2x8x4x16xf32>
// CHECK-NEXT: return %[[C]] : tensor<2x8x4x16xf32>
func.func @swap_column_major_result(%a: tensor<2x8x4x16xf32>, %x: tensor<2x4x8x8xf32>) -> tensor<2x8x4x16xf32> {
  %at = nn.transpose %a <{permutation = array<i64: 0, 2, 3, 1>}> : tensor<2x8x4x16xf32>
  %c = nn.matmul %at, %x : tensor<2x4x16x8xf32>, tensor<2x4x8x8xf32>
  %t = nn.transpose %c <{permutation = array<i64: 0, 3, 1, 2>}> : tensor<2x4x16x8xf32>
  return %t : tensor<2x8x4x16xf32>
}

// -----

// A rank-2 rhs broadcasts over the batch (batch stride 0): its transpose folds.
// CHECK-LABEL: func.func @fold_broadcast_rhs
// CHECK-SAME: (%[[A:.+]]: tensor<3x4x8xf32>, %[[W:.+]]: tensor<5x8xf32>)
// CHECK-NEXT: nn.matmul %[[A]], %[[W]] <{rhs_permutation = array<i64: 1, 0>}> : tensor<3x4x8xf32>, tensor<5x8xf32>
func.func @fold_broadcast_rhs(%a: tensor<3x4x8xf32>, %w: tensor<5x8xf32>) -> tensor<3x4x5xf32> {
  %wt = nn.transpose %w <{permutation = array<i64: 1, 0>}> : tensor<5x8xf32>
  %c = nn.matmul %a, %wt : tensor<3x4x8xf32>, tensor<8x5xf32>
  return %c : tensor<3x4x5xf32>
}

// -----

// The unit-stride dimension (16) would become a batch dimension: neither a row nor a column of
// the matrices is contiguous.
// CHECK-LABEL: func.func @no_fold_unit_stride_into_batch
// CHECK-SAME: (%[[X:.+]]: tensor<4x8x16xf32>, %[[B:.+]]: tensor<16x8x5xf32>)
// CHECK-NEXT: %[[T:.+]] = nn.transpose %[[X]] <{permutation = array<i64: 2, 0, 1>}>
// CHECK-NEXT: nn.matmul %[[T]], %[[B]] : tensor<16x4x8xf32>, tensor<16x8x5xf32>
func.func @no_fold_unit_stride_into_batch(%x: tensor<4x8x16xf32>, %b: tensor<16x8x5xf32>) -> tensor<16x4x5xf32> {
  %xt = nn.transpose %x <{permutation = array<i64: 2, 0, 1>}> : tensor<4x8x16xf32>
  %c = nn.matmul %xt, %b : tensor<16x4x8xf32>, tensor<16x8x5xf32>
  return %c : tensor<16x4x5xf32>
}

// -----

// A broadcast lhs, of lower rank or with a batch dimension of 1: the strided Gemm broadcasts
// only b, so neither the operand's nor the result's transpose folds.
// CHECK-LABEL: func.func @no_fold_broadcast_lhs
// CHECK-SAME: (%[[G:.+]]: tensor<8x4xf32>, %[[B:.+]]: tensor<3x8x5xf32>)
// CHECK-NEXT: %[[T:.+]] = nn.transpose %[[G]] <{permutation = array<i64: 1, 0>}>
// CHECK-NEXT: %[[C:.+]] = nn.matmul %[[T]], %[[B]] : tensor<4x8xf32>, tensor<3x8x5xf32>
// CHECK-NEXT: nn.transpose %[[C]] <{permutation = array<i64: 0, 2, 1>}>
func.func @no_fold_broadcast_lhs(%g: tensor<8x4xf32>, %b: tensor<3x8x5xf32>) -> tensor<3x5x4xf32> {
  %gt = nn.transpose %g <{permutation = array<i64: 1, 0>}> : tensor<8x4xf32>
  %c = nn.matmul %gt, %b : tensor<4x8xf32>, tensor<3x8x5xf32>
  %t = nn.transpose %c <{permutation = array<i64: 0, 2, 1>}> : tensor<3x4x5xf32>
  return %t : tensor<3x5x4xf32>
}

// -----

// CHECK-LABEL: func.func @no_fold_size_one_lhs_batch
// CHECK-SAME: (%[[G:.+]]: tensor<1x8x4xf32>, %[[B:.+]]: tensor<3x8x5xf32>)
// CHECK-NEXT: %[[T:.+]] = nn.transpose %[[G]] <{permutation = array<i64: 0, 2, 1>}>
// CHECK-NEXT: nn.matmul %[[T]], %[[B]] : tensor<1x4x8xf32>, tensor<3x8x5xf32>
func.func @no_fold_size_one_lhs_batch(%g: tensor<1x8x4xf32>, %b: tensor<3x8x5xf32>) -> tensor<3x4x5xf32> {
  %gt = nn.transpose %g <{permutation = array<i64: 0, 2, 1>}> : tensor<1x8x4xf32>
  %c = nn.matmul %gt, %b : tensor<1x4x8xf32>, tensor<3x8x5xf32>
  return %c : tensor<3x4x5xf32>
}

// -----

// The result is read by something else too: writing it transposed would lose it.
// CHECK-LABEL: func.func @no_fold_result_multi_use
// CHECK-SAME: (%[[P:.+]]: tensor<2x4x8x8xf32>, %[[V:.+]]: tensor<2x4x8x16xf32>)
// CHECK-NEXT: %[[C:.+]] = nn.matmul %[[P]], %[[V]] : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>
// CHECK-NEXT: nn.transpose %[[C]] <{permutation = array<i64: 0, 2, 1, 3>}>
func.func @no_fold_result_multi_use(%p: tensor<2x4x8x8xf32>, %v: tensor<2x4x8x16xf32>) -> (tensor<2x8x4x16xf32>, tensor<2x4x8x16xf32>) {
  %y = nn.matmul %p, %v : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>
  %t = nn.transpose %y <{permutation = array<i64: 0, 2, 1, 3>}> : tensor<2x4x8x16xf32>
  return %t, %y : tensor<2x8x4x16xf32>, tensor<2x4x8x16xf32>
}

// -----

// A rhs of lower rank with a size-1 batch dimension (not one matrix): its strides could not
// say it broadcasts, so nothing folds.
// CHECK-LABEL: func.func @no_fold_lower_rank_rhs
// CHECK-SAME: (%[[X:.+]]: tensor<3x2x5x4xf32>, %[[W:.+]]: tensor<1x5x6xf32>)
// CHECK-NEXT: %[[T:.+]] = nn.transpose %[[X]] <{permutation = array<i64: 0, 1, 3, 2>}>
// CHECK-NEXT: nn.matmul %[[T]], %[[W]] : tensor<3x2x4x5xf32>, tensor<1x5x6xf32>
func.func @no_fold_lower_rank_rhs(%x: tensor<3x2x5x4xf32>, %w: tensor<1x5x6xf32>) -> tensor<3x2x4x6xf32> {
  %xt = nn.transpose %x <{permutation = array<i64: 0, 1, 3, 2>}> : tensor<3x2x5x4xf32>
  %c = nn.matmul %xt, %w : tensor<3x2x4x5xf32>, tensor<1x5x6xf32>
  return %c : tensor<3x2x4x6xf32>
}
