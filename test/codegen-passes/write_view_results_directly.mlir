// RUN: %nnc-opt %s -split-input-file -nnc-write-view-results-directly | FileCheck %s

// A slice result: the result buffer becomes a trailing writable argument, and the slice is
// copied into it.
// CHECK-LABEL: func.func private @slice_result(
// CHECK-SAME: %[[X:.+]]: tensor<4x8xf32>, %[[OUT:.+]]: tensor<4x4xf32> {bufferization.writable = true}) -> tensor<4x4xf32>
// CHECK: %[[S:.+]] = tensor.extract_slice %[[X]][0, 2] [4, 4] [1, 1]
// CHECK: %[[C:.+]] = linalg.copy ins(%[[S]] : tensor<4x4xf32>) outs(%[[OUT]] : tensor<4x4xf32>) -> tensor<4x4xf32>
// CHECK: return %[[C]]
func.func private @slice_result(%x: tensor<4x8xf32>) -> tensor<4x4xf32> attributes {nnc.kernel} {
  %s = tensor.extract_slice %x[0, 2] [4, 4] [1, 1] : tensor<4x8xf32> to tensor<4x4xf32>
  return %s : tensor<4x4xf32>
}

// -----

// A constant pad: the result buffer is filled with the padding value and the source inserted
// at the low padding.
// CHECK-LABEL: func.func private @pad_result(
// CHECK-SAME: %[[X:.+]]: tensor<4x4xf32>, %[[OUT:.+]]: tensor<4x8xf32> {bufferization.writable = true})
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[F:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[OUT]] : tensor<4x8xf32>)
// CHECK: %[[I:.+]] = tensor.insert_slice %[[X]] into %[[F]][0, 1] [4, 4] [1, 1]
// CHECK-NOT: tensor.pad
// CHECK: return %[[I]]
func.func private @pad_result(%x: tensor<4x4xf32>) -> tensor<4x8xf32> attributes {nnc.kernel} {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 1] high[0, 3] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<4x4xf32> to tensor<4x8xf32>
  return %p : tensor<4x8xf32>
}

// -----

// A concatenation: each part inserted at its offset along the axis.
// CHECK-LABEL: func.func private @concat_result(
// CHECK-SAME: %[[A:.+]]: tensor<2x3xf32>, %[[B:.+]]: tensor<2x5xf32>, %[[OUT:.+]]: tensor<2x8xf32> {bufferization.writable = true})
// CHECK: %[[I0:.+]] = tensor.insert_slice %[[A]] into %[[OUT]][0, 0] [2, 3] [1, 1]
// CHECK: %[[I1:.+]] = tensor.insert_slice %[[B]] into %[[I0]][0, 3] [2, 5] [1, 1]
// CHECK-NOT: tensor.concat
// CHECK: return %[[I1]]
func.func private @concat_result(%a: tensor<2x3xf32>, %b: tensor<2x5xf32>) -> tensor<2x8xf32> attributes {nnc.kernel} {
  %c = tensor.concat dim(1) %a, %b : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
  return %c : tensor<2x8xf32>
}

// -----

// A kernel in destination style already writes its %out: unchanged.
// CHECK-LABEL: func.func private @destination_result(
// CHECK-SAME: %{{.+}}: tensor<4xf32>, %{{.+}}: tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: bufferization.writable
func.func private @destination_result(%x: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
  %r = linalg.copy ins(%x : tensor<4xf32>) outs(%out : tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
