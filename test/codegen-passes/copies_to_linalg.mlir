// RUN: %nnc-opt %s -nnc-copies-to-linalg | FileCheck %s

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
