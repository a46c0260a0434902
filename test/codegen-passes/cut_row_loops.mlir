// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-cut-row-loops | FileCheck %s

// nnc.rows = 256: the row loop runs rows [begin, end) of share %part of %parts, whole
// iterations: chunk = ceil(256 / parts), first = min(part * chunk, 256),
// end = min(min(first + chunk, 256) * 1, 256).
// CHECK-LABEL: func.func private @share_of_rows(
// CHECK-SAME: %[[PART:[^:]+]]: index, %[[PARTS:[^:]+]]: index) attributes {nnc.kernel, nnc.rows = 256 : i64}
// CHECK: %[[CHUNK:.+]] = arith.ceildivui %{{.+}}, %[[PARTS]] : index
// CHECK: %[[START:.+]] = arith.muli %[[PART]], %[[CHUNK]] : index
// CHECK: %[[FIRST:.+]] = arith.minui %[[START]], %{{.+}} : index
// CHECK: %[[NEXT:.+]] = arith.addi %[[FIRST]], %[[CHUNK]] : index
// CHECK: %[[LAST:.+]] = arith.minui %[[NEXT]], %{{.+}} : index
// CHECK: %[[BEGIN:.+]] = arith.muli %[[FIRST]], %{{.+}} : index
// CHECK: %[[SCALED:.+]] = arith.muli %[[LAST]], %{{.+}} : index
// CHECK: %[[END:.+]] = arith.minui %[[SCALED]], %{{.+}} : index
// CHECK: scf.for %{{.+}} = %[[BEGIN]] to %[[END]] step %c1 {
module {
  func.func private @share_of_rows(%arg0: memref<256x128xf32>, %arg1: memref<256x128xf32>, %arg2: index, %arg3: index) attributes {nnc.kernel, nnc.rows = 256 : i64} {
    %c128 = arith.constant 128 : index
    %c1 = arith.constant 1 : index
    %c256 = arith.constant 256 : index
    %c0 = arith.constant 0 : index
    scf.for %i = %c0 to %c256 step %c1 {
      scf.for %j = %c0 to %c128 step %c1 {
        %0 = memref.load %arg0[%i, %j] : memref<256x128xf32>
        %1 = math.exp %0 : f32
        memref.store %1, %arg1[%i, %j] : memref<256x128xf32>
      }
    }
    return
  }
}

// -----

// A loop stepping by tiles of 16 rows (a vectorized transpose) gets whole tiles: 64 / 16 = 4
// iterations shared out, then scaled back to rows by the step.
// CHECK-LABEL: func.func private @share_of_tiles(
// CHECK: %[[C4:.+]] = arith.constant 4 : index
// CHECK-NEXT: arith.ceildivui %[[C4]], %{{.+}} : index
// CHECK: %[[C16:.+]] = arith.constant 16 : index
// CHECK-NEXT: %[[BEGIN:.+]] = arith.muli %{{.+}}, %[[C16]] : index
// CHECK: scf.for %{{.+}} = %[[BEGIN]] to %{{.+}} step %c16 {
module {
  func.func private @share_of_tiles(%arg0: memref<64xf32>, %arg1: index, %arg2: index) attributes {nnc.kernel, nnc.rows = 64 : i64} {
    %c16 = arith.constant 16 : index
    %c64 = arith.constant 64 : index
    %c0 = arith.constant 0 : index
    %cst = arith.constant 0.0 : f32
    scf.for %i = %c0 to %c64 step %c16 {
      memref.store %cst, %arg0[%i] : memref<64xf32>
    }
    return
  }
}

// -----

// Unmarked kernels keep their loops.
// CHECK-LABEL: func.func private @unmarked(
// CHECK-NOT: arith.ceildivui
// CHECK: scf.for %{{.+}} = %c0 to %c64 step %c1
module {
  func.func private @unmarked(%arg0: memref<64xf32>) attributes {nnc.kernel} {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c0 = arith.constant 0 : index
    %cst = arith.constant 0.0 : f32
    scf.for %i = %c0 to %c64 step %c1 {
      memref.store %cst, %arg0[%i] : memref<64xf32>
    }
    return
  }
}

// -----

// Every top-level loop of a marked kernel must run over its rows.
module {
  // expected-error @+1 {{a row loop of a splittable kernel is not 0..64}}
  func.func private @loop_not_over_rows(%arg0: memref<64xf32>, %arg1: index, %arg2: index) attributes {nnc.kernel, nnc.rows = 64 : i64} {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %c0 = arith.constant 0 : index
    %cst = arith.constant 0.0 : f32
    scf.for %i = %c0 to %c32 step %c1 {
      memref.store %cst, %arg0[%i] : memref<64xf32>
    }
    return
  }
}
