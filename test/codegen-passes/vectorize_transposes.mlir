// RUN: %nnc-opt %s -split-input-file -nnc-vectorize-transposes | FileCheck %s

// A 32x64 -> 64x32 transpose: loops over the output's dimensions by 16 x 16 tiles, each read as
// 16 input rows, transposed in registers and written as 16 output rows.
// CHECK-LABEL: func.func @tile_transpose(
// CHECK-SAME: %[[IN:.+]]: memref<32x64xf32>, %[[OUT:.+]]: memref<64x32xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: scf.for %[[J:.+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: %[[ROWS:.+]] = vector.transfer_read %[[IN]][%[[J]], %[[I]]], %{{.+}} {in_bounds = [true, true]} : memref<32x64xf32>, vector<16x16xf32>
// CHECK: %[[T:.+]] = vector.transpose %[[ROWS]], [1, 0] : vector<16x16xf32> to vector<16x16xf32>
// CHECK: vector.transfer_write %[[T]], %[[OUT]][%[[I]], %[[J]]] {in_bounds = [true, true]} : vector<16x16xf32>, memref<64x32xf32>
func.func @tile_transpose(%in: memref<32x64xf32>, %out: memref<64x32xf32>) {
  linalg.transpose ins(%in : memref<32x64xf32>) outs(%out : memref<64x32xf32>) permutation = [1, 0]
  return
}

// -----

// Loop steps: 16 along the two exchanged dimensions, 1 along the others (attention's K^T: the
// batch dimension stays first, so row shares still apply).
// CHECK-LABEL: func.func @batched_transpose(
// CHECK: scf.for %{{.+}} = %{{.+}} to %c4 step %c1 {
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c16 {
// CHECK: scf.for %{{.+}} = %{{.+}} to %c32 step %c16{{.*}} {
// CHECK: vector.transpose
func.func @batched_transpose(%in: memref<4x32x16xf32>, %out: memref<4x16x32xf32>) {
  linalg.transpose ins(%in : memref<4x32x16xf32>) outs(%out : memref<4x16x32xf32>) permutation = [0, 2, 1]
  return
}

// -----

// Stays: dimensions not multiples of 16, another element type, the innermost dimension kept.
// CHECK-LABEL: func.func @not_tiled(
// CHECK-COUNT-3: linalg.transpose
// CHECK-NOT: vector.transpose
func.func @not_tiled(%a: memref<20x64xf32>, %b: memref<64x20xf32>, %c: memref<32x64xf16>, %d: memref<64x32xf16>, %e: memref<16x32x64xf32>, %f: memref<32x16x64xf32>) {
  linalg.transpose ins(%a : memref<20x64xf32>) outs(%b : memref<64x20xf32>) permutation = [1, 0]
  linalg.transpose ins(%c : memref<32x64xf16>) outs(%d : memref<64x32xf16>) permutation = [1, 0]
  linalg.transpose ins(%e : memref<16x32x64xf32>) outs(%f : memref<32x16x64xf32>) permutation = [1, 0, 2]
  return
}
