// RUN: %nnc-opt %s -split-input-file -nnc-fold-loop-results | FileCheck %s

// The embedding gradient's scatter after bufferization: the loop carries its result buffer and
// yields it unchanged. The loop's result folds to the buffer itself, so the kernel returns %out.
// CHECK-LABEL: func.func private @scatter(
// CHECK-SAME: %[[IDX:.+]]: memref<4xindex>, %[[OUT:.+]]: memref<8xf32>) -> memref<8xf32>
// CHECK: scf.for
// CHECK-NOT: iter_args
// CHECK: return %[[OUT]] : memref<8xf32>
func.func private @scatter(%idx: memref<4xindex>, %out: memref<8xf32>) -> memref<8xf32> attributes {nnc.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %one = arith.constant 1.0 : f32
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%buf = %out) -> (memref<8xf32>) {
    %row = memref.load %idx[%i] : memref<4xindex>
    %v = memref.load %buf[%row] : memref<8xf32>
    %s = arith.addf %v, %one : f32
    memref.store %s, %buf[%row] : memref<8xf32>
    scf.yield %buf : memref<8xf32>
  }
  return %r : memref<8xf32>
}

