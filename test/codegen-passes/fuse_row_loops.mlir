// RUN: %nnc-opt %s -split-input-file -nnc-fuse-row-loops | FileCheck %s

// A row maximum then each row minus it, as convert-linalg-to-loops leaves them (nnc.fuse_rows =
// 1): the three row loops become one, which runs the fill, the maximum and the difference for
// each row in order. The maximum buffer is only accessed at the current row: it shrinks to one
// row (1x1, aligned to a cache line), reused by every iteration. The attribute goes.
// CHECK-LABEL: func.func private @fuse_row_group(
// CHECK-SAME: %[[X:.+]]: memref<64x8xf32>, %[[OUT:.+]]: memref<64x8xf32>) attributes {nnc.kernel} {
// CHECK: %[[ROW:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1x1xf32>
// CHECK-NEXT: %[[C0:.+]] = arith.constant 0 : index
// CHECK: scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: memref.store %{{.+}}, %[[ROW]][%[[C0]], %{{.+}}] : memref<1x1xf32>
// CHECK: memref.load %[[X]][%[[I]], %{{.+}}]
// CHECK: memref.load %[[ROW]][%[[C0]], %{{.+}}] : memref<1x1xf32>
// CHECK: arith.maximumf
// CHECK: memref.load %[[X]][%[[I]], %{{.+}}]
// CHECK: arith.subf
// CHECK: memref.store %{{.+}}, %[[OUT]][%[[I]], %{{.+}}]
// CHECK-NOT: scf.for %{{.+}} = %{{.+}} to %c64
// CHECK: memref.dealloc %[[ROW]] : memref<1x1xf32>
// CHECK-NEXT: return
module {
  func.func private @fuse_row_group(%arg0: memref<64x8xf32>, %arg1: memref<64x8xf32>) attributes {nnc.fuse_rows = 1 : i64, nnc.kernel} {
    %c8 = arith.constant 8 : index
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c0 = arith.constant 0 : index
    %cst = arith.constant 0xFF800000 : f32
    %alloc = memref.alloc() {alignment = 64 : i64} : memref<64x1xf32>
    scf.for %arg2 = %c0 to %c64 step %c1 {
      scf.for %arg3 = %c0 to %c1 step %c1 {
        memref.store %cst, %alloc[%arg2, %arg3] : memref<64x1xf32>
      }
    }
    scf.for %arg2 = %c0 to %c64 step %c1 {
      scf.for %arg3 = %c0 to %c8 step %c1 {
        %0 = memref.load %arg0[%arg2, %arg3] : memref<64x8xf32>
        %1 = memref.load %alloc[%arg2, %c0] : memref<64x1xf32>
        %2 = arith.maximumf %0, %1 : f32
        memref.store %2, %alloc[%arg2, %c0] : memref<64x1xf32>
      }
    }
    scf.for %arg2 = %c0 to %c64 step %c1 {
      scf.for %arg3 = %c0 to %c8 step %c1 {
        %0 = memref.load %arg0[%arg2, %arg3] : memref<64x8xf32>
        %1 = memref.load %alloc[%arg2, %c0] : memref<64x1xf32>
        %2 = arith.subf %0, %1 : f32
        memref.store %2, %arg1[%arg2, %arg3] : memref<64x8xf32>
      }
    }
    memref.dealloc %alloc : memref<64x1xf32>
    return
  }
}

// -----

// Without nnc.fuse_rows nothing changes: both loops stay.
// CHECK-LABEL: func.func private @unmarked(
// CHECK: scf.for
// CHECK: scf.for
module {
  func.func private @unmarked(%arg0: memref<64xf32>, %arg1: memref<64xf32>) attributes {nnc.kernel} {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c0 = arith.constant 0 : index
    %cst = arith.constant 0.0 : f32
    scf.for %i = %c0 to %c64 step %c1 {
      memref.store %cst, %arg1[%i] : memref<64xf32>
    }
    scf.for %i = %c0 to %c64 step %c1 {
      %0 = memref.load %arg0[%i] : memref<64xf32>
      memref.store %0, %arg1[%i] : memref<64xf32>
    }
    return
  }
}

// -----

// Loops over different rows do not fuse; the attribute still goes.
// CHECK-LABEL: func.func private @different_bounds(
// CHECK-SAME: attributes {nnc.kernel} {
// CHECK: scf.for %{{.+}} = %{{.+}} to %c64
// CHECK: scf.for %{{.+}} = %{{.+}} to %c32
module {
  func.func private @different_bounds(%arg0: memref<64xf32>, %arg1: memref<64xf32>) attributes {nnc.fuse_rows = 1 : i64, nnc.kernel} {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c32 = arith.constant 32 : index
    %c0 = arith.constant 0 : index
    %cst = arith.constant 0.0 : f32
    scf.for %i = %c0 to %c64 step %c1 {
      memref.store %cst, %arg1[%i] : memref<64xf32>
    }
    scf.for %i = %c0 to %c32 step %c1 {
      %0 = memref.load %arg0[%i] : memref<64xf32>
      memref.store %0, %arg1[%i] : memref<64xf32>
    }
    return
  }
}

// -----

// A pooling's two passes: the second reads the first's rows through reshapes that keep
// dimension 0 (collapse, then expand into pairs). The buffer still shrinks to one row, and the
// reshapes are rebuilt on it.
// CHECK-LABEL: func.func private @shrink_through_reshapes(
// CHECK: %[[ROW:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x4xf32>
// CHECK: %[[FLAT:.+]] = memref.collapse_shape %[[ROW]] {{\[}}[0], [1, 2]] : memref<1x2x4xf32> into memref<1x8xf32>
// CHECK: %[[PAIRS:.+]] = memref.expand_shape %[[FLAT]] {{\[}}[0], [1, 2]] output_shape [1, 4, 2] : memref<1x8xf32> into memref<1x4x2xf32>
// CHECK: scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step
// CHECK: memref.store %{{.+}}, %[[ROW]][%[[C0:.+]], %{{.+}}, %{{.+}}] : memref<1x2x4xf32>
// CHECK: memref.load %[[PAIRS]][%[[C0]], %{{.+}}, %{{.+}}] : memref<1x4x2xf32>
// CHECK: memref.store %{{.+}}, %{{.+}}[%[[I]], %{{.+}}] : memref<16x4xf32>
// CHECK: memref.dealloc %[[ROW]] : memref<1x2x4xf32>
module {
  func.func private @shrink_through_reshapes(%arg0: memref<16x2x4xf32>, %arg1: memref<16x4xf32>) attributes {nnc.fuse_rows = 1 : i64, nnc.kernel} {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c16 = arith.constant 16 : index
    %c0 = arith.constant 0 : index
    %alloc = memref.alloc() : memref<16x2x4xf32>
    %flat = memref.collapse_shape %alloc [[0], [1, 2]] : memref<16x2x4xf32> into memref<16x8xf32>
    %pairs = memref.expand_shape %flat [[0], [1, 2]] output_shape [16, 4, 2] : memref<16x8xf32> into memref<16x4x2xf32>
    scf.for %i = %c0 to %c16 step %c1 {
      scf.for %j = %c0 to %c2 step %c1 {
        scf.for %k = %c0 to %c4 step %c1 {
          %0 = memref.load %arg0[%i, %j, %k] : memref<16x2x4xf32>
          memref.store %0, %alloc[%i, %j, %k] : memref<16x2x4xf32>
        }
      }
    }
    scf.for %i = %c0 to %c16 step %c1 {
      scf.for %k = %c0 to %c4 step %c1 {
        %0 = memref.load %pairs[%i, %k, %c0] : memref<16x4x2xf32>
        %1 = memref.load %pairs[%i, %k, %c1] : memref<16x4x2xf32>
        %2 = arith.maximumf %0, %1 : f32
        memref.store %2, %arg1[%i, %k] : memref<16x4xf32>
      }
    }
    memref.dealloc %alloc : memref<16x2x4xf32>
    return
  }
}
