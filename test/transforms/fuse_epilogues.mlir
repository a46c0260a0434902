// RUN: %nnc-opt %s -split-input-file -nnc-fuse-epilogues | FileCheck %s

// CHECK-LABEL: func.func @fuse_linear_relu
// CHECK: %[[R:.+]] = nn.linear %{{.+}}, %{{.+}}, %{{.+}} <{activation = #nn<activation relu>}>
// CHECK-NOT: nn.relu
// CHECK: return %[[R]]
func.func @fuse_linear_relu(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %h = nn.linear %x, %w, %b : tensor<4x8xf32>, tensor<3x8xf32>, tensor<3xf32>
  %r = nn.relu %h : tensor<4x3xf32>
  return %r : tensor<4x3xf32>
}

// -----

// CHECK-LABEL: func.func @fuse_conv_relu
// CHECK: nn.conv2d %{{.+}}, %{{.+}} <{activation = #nn<activation relu>}>
// CHECK-NOT: nn.relu
func.func @fuse_conv_relu(%x: tensor<1x1x4x4xf32>, %w: tensor<2x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %c = nn.conv2d %x, %w : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32>
  %r = nn.relu %c : tensor<1x2x2x2xf32>
  return %r : tensor<1x2x2x2xf32>
}

// -----

// The pre-activation value is used elsewhere: fusing would lose it.
// CHECK-LABEL: func.func @no_fuse_multi_use
// CHECK: %[[H:.+]] = nn.linear %{{.+}}, %{{.+}} :
// CHECK: nn.relu %[[H]]
func.func @no_fuse_multi_use(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
  %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>
  %r = nn.relu %h : tensor<4x3xf32>
  return %r, %h : tensor<4x3xf32>, tensor<4x3xf32>
}

// -----

// Summed zero pads that tile an axis (the gradient of slices that split a tensor, as attention's
// q, k and v of one projection) are the concatenation of the padded tensors in the order of their
// offsets, whatever the order of the adds.
// CHECK-LABEL: func.func @sum_of_pads_to_concat
// CHECK-SAME: (%[[A:.+]]: tensor<4x2xf32>, %[[B:.+]]: tensor<4x3xf32>, %[[C:.+]]: tensor<4x1xf32>)
// CHECK-NEXT: %[[R:.+]] = nn.concat %[[A]], %[[B]], %[[C]] <{axis = 1 : i64}> : tensor<4x2xf32>, tensor<4x3xf32>, tensor<4x1xf32>
// CHECK-NEXT: return %[[R]] : tensor<4x6xf32>
func.func @sum_of_pads_to_concat(%a: tensor<4x2xf32>, %b: tensor<4x3xf32>, %c: tensor<4x1xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 4>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 2>, high = array<i64: 0, 1>}> : tensor<4x3xf32>
  %pc = nn.pad %c <{low = array<i64: 0, 5>, high = array<i64: 0, 0>}> : tensor<4x1xf32>
  %s0 = nn.add %pc, %pa : tensor<4x6xf32>, tensor<4x6xf32>
  %s1 = nn.add %pb, %s0 : tensor<4x6xf32>, tensor<4x6xf32>
  return %s1 : tensor<4x6xf32>
}

// -----

// Along the first axis as well (all pads on the same one).
// CHECK-LABEL: func.func @sum_of_pads_to_concat_rows
// CHECK-SAME: (%[[A:.+]]: tensor<1x3xf32>, %[[B:.+]]: tensor<3x3xf32>)
// CHECK-NEXT: %[[R:.+]] = nn.concat %[[B]], %[[A]] <{axis = 0 : i64}>
// CHECK-NEXT: return %[[R]]
func.func @sum_of_pads_to_concat_rows(%a: tensor<1x3xf32>, %b: tensor<3x3xf32>) -> tensor<4x3xf32> {
  %pa = nn.pad %a <{low = array<i64: 3, 0>, high = array<i64: 0, 0>}> : tensor<1x3xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 0>, high = array<i64: 1, 0>}> : tensor<3x3xf32>
  %s = nn.add %pa, %pb : tensor<4x3xf32>, tensor<4x3xf32>
  return %s : tensor<4x3xf32>
}

// -----

// A tiling sum plus another tensor: the tiling part becomes a concat, the add of the other stays.
// CHECK-LABEL: func.func @sum_of_pads_plus_other
// CHECK-SAME: (%[[A:.+]]: tensor<4x2xf32>, %[[B:.+]]: tensor<4x4xf32>, %[[X:.+]]: tensor<4x6xf32>)
// CHECK-NEXT: %[[CAT:.+]] = nn.concat %[[A]], %[[B]] <{axis = 1 : i64}>
// CHECK-NEXT: %[[R:.+]] = nn.add %[[CAT]], %[[X]]
// CHECK-NEXT: return %[[R]]
func.func @sum_of_pads_plus_other(%a: tensor<4x2xf32>, %b: tensor<4x4xf32>, %x: tensor<4x6xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 4>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 2>, high = array<i64: 0, 0>}> : tensor<4x4xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  %t = nn.add %s, %x : tensor<4x6xf32>, tensor<4x6xf32>
  return %t : tensor<4x6xf32>
}

// -----

// Columns 2 and 3 are covered twice: the sum adds them, a concat would not.
// CHECK-LABEL: func.func @no_concat_overlapping_pads
// CHECK-NOT: nn.concat
// CHECK: nn.add
func.func @no_concat_overlapping_pads(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 2>}> : tensor<4x4xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 2>, high = array<i64: 0, 0>}> : tensor<4x4xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  return %s : tensor<4x6xf32>
}

// -----

// Column 2 is covered by no pad (it stays zero).
// CHECK-LABEL: func.func @no_concat_gap_between_pads
// CHECK-NOT: nn.concat
// CHECK: nn.add
func.func @no_concat_gap_between_pads(%a: tensor<4x2xf32>, %b: tensor<4x3xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 4>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 3>, high = array<i64: 0, 0>}> : tensor<4x3xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  return %s : tensor<4x6xf32>
}

// -----

// The last column is covered by no pad.
// CHECK-LABEL: func.func @no_concat_gap_at_end
// CHECK-NOT: nn.concat
// CHECK: nn.add
func.func @no_concat_gap_at_end(%a: tensor<4x2xf32>, %b: tensor<4x3xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 4>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 2>, high = array<i64: 0, 1>}> : tensor<4x3xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  return %s : tensor<4x6xf32>
}

// -----

// One pad along the columns, the other along the rows: the two overlap.
// CHECK-LABEL: func.func @no_concat_pads_along_two_axes
// CHECK-NOT: nn.concat
// CHECK: nn.add
func.func @no_concat_pads_along_two_axes(%a: tensor<4x2xf32>, %b: tensor<2x6xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 4>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 2, 0>, high = array<i64: 0, 0>}> : tensor<2x6xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  return %s : tensor<4x6xf32>
}

// -----

// Each pad along both axes (diagonal blocks): the off-diagonal blocks stay zero.
// CHECK-LABEL: func.func @no_concat_pads_of_blocks
// CHECK-NOT: nn.concat
// CHECK: nn.add
func.func @no_concat_pads_of_blocks(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 2, 3>}> : tensor<2x3xf32>
  %pb = nn.pad %b <{low = array<i64: 2, 3>, high = array<i64: 0, 0>}> : tensor<2x3xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  return %s : tensor<4x6xf32>
}

// -----

// A padded tensor is also returned: it must stay.
// CHECK-LABEL: func.func @no_concat_pad_with_other_user
// CHECK: %[[PA:.+]] = nn.pad
// CHECK-NOT: nn.concat
// CHECK: %[[S:.+]] = nn.add %[[PA]],
// CHECK: return %[[S]], %[[PA]]
func.func @no_concat_pad_with_other_user(%a: tensor<4x2xf32>, %b: tensor<4x4xf32>) -> (tensor<4x6xf32>, tensor<4x6xf32>) {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 4>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 2>, high = array<i64: 0, 0>}> : tensor<4x4xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  return %s, %pa : tensor<4x6xf32>, tensor<4x6xf32>
}

// -----

// The partial sum of the first two pads is also returned: the sum is not one tree.
// CHECK-LABEL: func.func @no_concat_partial_sum_with_other_user
// CHECK-NOT: nn.concat
// CHECK: %[[S0:.+]] = nn.add
// CHECK: %[[S1:.+]] = nn.add %[[S0]],
// CHECK: return %[[S1]], %[[S0]]
func.func @no_concat_partial_sum_with_other_user(%a: tensor<4x2xf32>, %b: tensor<4x3xf32>, %c: tensor<4x1xf32>) -> (tensor<4x6xf32>, tensor<4x6xf32>) {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 4>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 2>, high = array<i64: 0, 1>}> : tensor<4x3xf32>
  %pc = nn.pad %c <{low = array<i64: 0, 5>, high = array<i64: 0, 0>}> : tensor<4x1xf32>
  %s0 = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  %s1 = nn.add %s0, %pc : tensor<4x6xf32>, tensor<4x6xf32>
  return %s1, %s0 : tensor<4x6xf32>, tensor<4x6xf32>
}

// -----

// Interior padding spreads %a over columns 0 and 2, overlapping %b (columns 2 to 5): the offsets
// alone (0 and 2, %a two wide) would look like a tiling.
// CHECK-LABEL: func.func @no_concat_interior_pad
// CHECK-NOT: nn.concat
// CHECK: nn.add
func.func @no_concat_interior_pad(%a: tensor<4x2xf32>, %b: tensor<4x4xf32>) -> tensor<4x6xf32> {
  %pa = nn.pad %a <{low = array<i64: 0, 0>, high = array<i64: 0, 3>, interior = array<i64: 0, 1>}> : tensor<4x2xf32>
  %pb = nn.pad %b <{low = array<i64: 0, 2>, high = array<i64: 0, 0>}> : tensor<4x4xf32>
  %s = nn.add %pa, %pb : tensor<4x6xf32>, tensor<4x6xf32>
  return %s : tensor<4x6xf32>
}
