// RUN: %nnc-opt %s -split-input-file -nnc-mark-rows | FileCheck %s

// Elementwise over 256 rows of 128 (32768 iterations): the kernel splits into row shares, two
// trailing index arguments (part, parts) and nnc.rows. One nest: no row fusion.
// CHECK-LABEL: func.func private @split_rows(
// CHECK-SAME: %{{.+}}: memref<256x128xf32>, %{{.+}}: memref<256x128xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK-SAME: attributes {nnc.kernel, nnc.rows = 256 : i64}
// CHECK-NOT: nnc.fuse_rows
module {
  func.func private @split_rows(%x: memref<256x128xf32>, %out: memref<256x128xf32>) attributes {nnc.kernel} {
    linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : memref<256x128xf32>) outs(%out : memref<256x128xf32>) {
    ^bb0(%in: f32, %o: f32):
      %e = math.exp %in : f32
      linalg.yield %e : f32
    }
    return
  }
}

// -----

// A softmax-like row group: a row maximum into a buffer of the kernel's own, then each row's
// quotient reads only its own row of it. Two nests over the same rows: nnc.fuse_rows = 1; too
// little work (64 x 8) to split.
// CHECK-LABEL: func.func private @row_group(
// CHECK-SAME: %{{.+}}: memref<64x8xf32>, %{{.+}}: memref<64x8xf32>)
// CHECK-SAME: attributes {nnc.fuse_rows = 1 : i64, nnc.kernel}
// CHECK-NOT: nnc.rows
module {
  func.func private @row_group(%x: memref<64x8xf32>, %out: memref<64x8xf32>) attributes {nnc.kernel} {
    %cst = arith.constant 0xFF800000 : f32
    %max = memref.alloc() {alignment = 64 : i64} : memref<64x1xf32>
    linalg.fill ins(%cst : f32) outs(%max : memref<64x1xf32>)
    linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<64x8xf32>) outs(%max : memref<64x1xf32>) {
    ^bb0(%in: f32, %o: f32):
      %m = arith.maximumf %in, %o : f32
      linalg.yield %m : f32
    }
    linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x, %max : memref<64x8xf32>, memref<64x1xf32>) outs(%out : memref<64x8xf32>) {
    ^bb0(%in: f32, %m: f32, %o: f32):
      %d = arith.subf %in, %m : f32
      linalg.yield %d : f32
    }
    memref.dealloc %max : memref<64x1xf32>
    return
  }
}

// -----

// A sum over all rows starts with a reduction loop: no row structure, the kernel stays as it is.
// CHECK-LABEL: func.func private @full_reduction(
// CHECK-SAME: %{{.+}}: memref<256x128xf32>, %{{.+}}: memref<f32>) attributes {nnc.kernel} {
module {
  func.func private @full_reduction(%x: memref<256x128xf32>, %out: memref<f32>) attributes {nnc.kernel} {
    %cst = arith.constant 0.000000e+00 : f32
    linalg.fill ins(%cst : f32) outs(%out : memref<f32>)
    linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>], iterator_types = ["reduction", "reduction"]} ins(%x : memref<256x128xf32>) outs(%out : memref<f32>) {
    ^bb0(%in: f32, %o: f32):
      %s = arith.addf %in, %o : f32
      linalg.yield %s : f32
    }
    return
  }
}

// -----

// Rows line up over two leading loops (32 x 4 rows of 128 after a reduction per row): depth 2.
// The first loop has 32 rows; 32 x 4 x 128 x 2 nests is enough work to split.
// CHECK-LABEL: func.func private @two_level_rows(
// CHECK-SAME: index, %{{.+}}: index) attributes {nnc.fuse_rows = 2 : i64, nnc.kernel, nnc.rows = 32 : i64}
module {
  func.func private @two_level_rows(%x: memref<32x4x128xf32>, %out: memref<32x4x128xf32>) attributes {nnc.kernel} {
    %cst = arith.constant 0.000000e+00 : f32
    %sum = memref.alloc() {alignment = 64 : i64} : memref<32x4x1xf32>
    linalg.fill ins(%cst : f32) outs(%sum : memref<32x4x1xf32>)
    linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, 0)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : memref<32x4x128xf32>) outs(%sum : memref<32x4x1xf32>) {
    ^bb0(%in: f32, %o: f32):
      %s = arith.addf %in, %o : f32
      linalg.yield %s : f32
    }
    linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, 0)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %sum : memref<32x4x128xf32>, memref<32x4x1xf32>) outs(%out : memref<32x4x128xf32>) {
    ^bb0(%in: f32, %s: f32, %o: f32):
      %d = arith.divf %in, %s : f32
      linalg.yield %d : f32
    }
    memref.dealloc %sum : memref<32x4x1xf32>
    return
  }
}
