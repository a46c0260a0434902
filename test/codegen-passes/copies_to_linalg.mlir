// RUN: %nnc-opt %s -split-input-file -nnc-copies-to-linalg | FileCheck %s

// A strided copy (a slice of a concatenation's part) becomes a linalg.copy, which lowers to loops
// instead of a call into MLIR's runner library.
// CHECK-LABEL: func.func @strided_copy(
// CHECK-SAME: %[[A:.+]]: memref<4xf32, strided<[2]>>, %[[B:.+]]: memref<4xf32>)
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%[[A]] : memref<4xf32, strided<[2]>>) outs(%[[B]] : memref<4xf32>)
func.func @strided_copy(%a: memref<4xf32, strided<[2]>>, %b: memref<4xf32>) {
  memref.copy %a, %b : memref<4xf32, strided<[2]>> to memref<4xf32>
  return
}

// -----

// A copy of one element (a per-node check flag into its place in the concatenation) is a load
// and a store, not a loop of one trip.
// CHECK-LABEL: func.func @one_element_copy(
// CHECK-SAME: %[[A:.+]]: memref<1xf32>, %[[B:.+]]: memref<1xf32, strided<[1], offset: 7>>)
// CHECK-NOT: linalg.copy
// CHECK: %[[C0:.+]] = arith.constant 0 : index
// CHECK: %[[V:.+]] = memref.load %[[A]][%[[C0]]] : memref<1xf32>
// CHECK: memref.store %[[V]], %[[B]][%[[C0]]] : memref<1xf32, strided<[1], offset: 7>>
func.func @one_element_copy(%a: memref<1xf32>, %b: memref<1xf32, strided<[1], offset: 7>>) {
  memref.copy %a, %b : memref<1xf32> to memref<1xf32, strided<[1], offset: 7>>
  return
}
