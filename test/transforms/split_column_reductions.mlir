// RUN: %nnc-opt %s -split-input-file -nnc-split-column-reductions | FileCheck %s

// A bias gradient (the column sums of a 4096 x 512 gradient): 8 shares of 512 rows, each summing
// into its own row of partials (parallel first loop: threads split it), then the partials added.
// CHECK-LABEL: func.func @column_sum
// CHECK-SAME: (%[[G:.+]]: tensor<4096x512xf32>)
// CHECK: %[[V:.+]] = tensor.expand_shape %[[G]] {{\[}}[0, 1], [2]] output_shape [8, 512, 512] : tensor<4096x512xf32> into tensor<8x512x512xf32>
// CHECK: %[[Z:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<8x512xf32>)
// CHECK: %[[P:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[V]] : tensor<8x512x512xf32>) outs(%[[Z]] : tensor<8x512xf32>)
// CHECK: arith.addf
// CHECK: %[[S:.+]] = linalg.generic {{.+}} iterator_types = ["reduction", "parallel"]} ins(%[[P]] : tensor<8x512xf32>) outs(%{{.+}} : tensor<512xf32>)
// CHECK: return %[[S]]
#rows = affine_map<(d0, d1) -> (d0, d1)>
#cols = affine_map<(d0, d1) -> (d1)>
func.func @column_sum(%g: tensor<4096x512xf32>) -> tensor<512xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<512xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<512xf32>) -> tensor<512xf32>
  %s = linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]} ins(%g : tensor<4096x512xf32>) outs(%acc : tensor<512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %out, %in : f32
    linalg.yield %a : f32
  } -> tensor<512xf32>
  return %s : tensor<512xf32>
}

// -----

// A layer norm's weight gradient, sum over (batch, position) of g * xhat: the two reduction loops
// (contiguous rows) merge into one of 4096 rows, which is shared out; per-row inputs (rstd) keep
// their map, shifted.
// CHECK: #[[G3:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK: #[[R3:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
// CHECK: #[[O3:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @layer_norm_weight_grad
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0, 1], [2]] : tensor<32x128x128xf32> into tensor<4096x128xf32>
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0, 1], [2]] : tensor<32x128x1xf32> into tensor<4096x1xf32>
// CHECK: linalg.generic {indexing_maps = [#[[G3]], #[[R3]], #[[O3]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.+}}, %{{.+}} : tensor<8x512x128xf32>, tensor<8x512x1xf32>) outs(%{{.+}} : tensor<8x128xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
#x = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#r = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#c = affine_map<(d0, d1, d2) -> (d2)>
func.func @layer_norm_weight_grad(%g: tensor<32x128x128xf32>, %rstd: tensor<32x128x1xf32>) -> tensor<128xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<128xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<128xf32>) -> tensor<128xf32>
  %s = linalg.generic {indexing_maps = [#x, #r, #c], iterator_types = ["reduction", "reduction", "parallel"]} ins(%g, %rstd : tensor<32x128x128xf32>, tensor<32x128x1xf32>) outs(%acc : tensor<128xf32>) {
  ^bb0(%in: f32, %s0: f32, %out: f32):
    %p = arith.mulf %in, %s0 : f32
    %a = arith.addf %out, %p : f32
    linalg.yield %a : f32
  } -> tensor<128xf32>
  return %s : tensor<128xf32>
}

// -----

// A batch norm's per-channel sum over (N, H, W) into a (1, C, 1, 1) accumulator (nn.reduce_sum
// with keepdim): the zero results of the accumulator's map are kept, after the share; H and W,
// adjacent reductions over contiguous elements, become one loop of 784.
// CHECK: #[[X4:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK: #[[C4:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, 0, 0)>
// CHECK-LABEL: func.func @channel_sum
// CHECK: %[[M:.+]] = tensor.collapse_shape %{{.+}} {{\[}}[0], [1], [2, 3]] : tensor<128x32x28x28xf32> into tensor<128x32x784xf32>
// CHECK: %[[V:.+]] = tensor.expand_shape %[[M]] {{\[}}[0, 1], [2], [3]] output_shape [8, 16, 32, 784] : tensor<128x32x784xf32> into tensor<8x16x32x784xf32>
// CHECK: %[[P:.+]] = linalg.generic {indexing_maps = [#[[X4]], #[[C4]]], iterator_types = ["parallel", "reduction", "parallel", "reduction"]} ins(%[[V]] : tensor<8x16x32x784xf32>) outs(%{{.+}} : tensor<8x1x32x1x1xf32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["reduction", "parallel", "parallel", "parallel", "parallel"]} ins(%[[P]] : tensor<8x1x32x1x1xf32>) outs(%{{.+}} : tensor<1x32x1x1xf32>)
#x4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#c4 = affine_map<(d0, d1, d2, d3) -> (0, d1, 0, 0)>
func.func @channel_sum(%g: tensor<128x32x28x28xf32>) -> tensor<1x32x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x32x1x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x32x1x1xf32>) -> tensor<1x32x1x1xf32>
  %s = linalg.generic {indexing_maps = [#x4, #c4], iterator_types = ["reduction", "parallel", "reduction", "reduction"]} ins(%g : tensor<128x32x28x28xf32>) outs(%acc : tensor<1x32x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %out, %in : f32
    linalg.yield %a : f32
  } -> tensor<1x32x1x1xf32>
  return %s : tensor<1x32x1x1xf32>
}

// -----

// Too little work to share out, but H and W still merge, in both operands that index them (the
// per-channel mean is a broadcast); a transposed read (W before H) cannot merge.
// CHECK-LABEL: func.func @merge_only
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0], [1], [2, 3]] : tensor<4x8x6x5xf32> into tensor<4x8x30xf32>
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0], [1], [2, 3]] : tensor<4x8x6x5xf32> into tensor<4x8x30xf32>
// CHECK: linalg.generic {{.+}} iterator_types = ["reduction", "parallel", "reduction"]} ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<4x8x30xf32>, tensor<4x8x30xf32>, tensor<1x8x1x1xf32>) outs(%{{.+}} : tensor<1x8x1x1xf32>)
// An accumulator that the reduction loops index (its result keeps its type): not merged either.
// CHECK-LABEL: func.func @accumulator_indexed_not_merged
// CHECK-NOT: tensor.collapse_shape
// CHECK: iterator_types = ["parallel", "reduction", "reduction"]
// CHECK-LABEL: func.func @transposed_not_merged
// CHECK-NOT: tensor.collapse_shape
// CHECK: iterator_types = ["reduction", "parallel", "reduction", "reduction"]
#xm = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#cm = affine_map<(d0, d1, d2, d3) -> (0, d1, 0, 0)>
func.func @merge_only(%g: tensor<4x8x6x5xf32>, %x: tensor<4x8x6x5xf32>, %mean: tensor<1x8x1x1xf32>) -> tensor<1x8x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8x1x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x1x1xf32>) -> tensor<1x8x1x1xf32>
  %s = linalg.generic {indexing_maps = [#xm, #xm, #cm, #cm], iterator_types = ["reduction", "parallel", "reduction", "reduction"]} ins(%g, %x, %mean : tensor<4x8x6x5xf32>, tensor<4x8x6x5xf32>, tensor<1x8x1x1xf32>) outs(%acc : tensor<1x8x1x1xf32>) {
  ^bb0(%a: f32, %b: f32, %m: f32, %out: f32):
    %c = arith.subf %b, %m : f32
    %p = arith.mulf %a, %c : f32
    %r = arith.addf %out, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x1xf32>
  return %s : tensor<1x8x1x1xf32>
}
#ai = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @accumulator_indexed_not_merged(%g: tensor<4x6x5xf32>, %acc: tensor<4x6x5xf32>) -> tensor<4x6x5xf32> {
  %s = linalg.generic {indexing_maps = [#ai, #ai], iterator_types = ["parallel", "reduction", "reduction"]} ins(%g : tensor<4x6x5xf32>) outs(%acc : tensor<4x6x5xf32>) {
  ^bb0(%x: f32, %out: f32):
    %r = arith.addf %out, %x : f32
    linalg.yield %r : f32
  } -> tensor<4x6x5xf32>
  return %s : tensor<4x6x5xf32>
}
#xt = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>
func.func @transposed_not_merged(%g: tensor<4x8x5x6xf32>) -> tensor<1x8x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8x1x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x1x1xf32>) -> tensor<1x8x1x1xf32>
  %s = linalg.generic {indexing_maps = [#xt, #cm], iterator_types = ["reduction", "parallel", "reduction", "reduction"]} ins(%g : tensor<4x8x5x6xf32>) outs(%acc : tensor<1x8x1x1xf32>) {
  ^bb0(%a: f32, %out: f32):
    %r = arith.addf %out, %a : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x1xf32>
  return %s : tensor<1x8x1x1xf32>
}

// -----

// Left alone: too little work to share out (128 x 64), a maximum (not a sum), an accumulator
// that is not a fresh zero (a running sum read from an argument), and a sum down to a scalar
// (whose two loops merge into one).
// CHECK-LABEL: func.func @not_split
// CHECK-NOT: tensor.expand_shape
// CHECK-COUNT-3: iterator_types = ["reduction", "parallel"]
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0, 1]] : tensor<4096x512xf32> into tensor<2097152xf32>
// CHECK: iterator_types = ["reduction"]
// CHECK-NOT: linalg.generic
#rows2 = affine_map<(d0, d1) -> (d0, d1)>
#cols2 = affine_map<(d0, d1) -> (d1)>
func.func @not_split(%small: tensor<128x64xf32>, %g: tensor<4096x512xf32>, %running: tensor<512xf32>) -> (tensor<64xf32>, tensor<512xf32>, tensor<512xf32>, tensor<f32>) {
  %zero = arith.constant 0.0 : f32
  %e64 = tensor.empty() : tensor<64xf32>
  %acc64 = linalg.fill ins(%zero : f32) outs(%e64 : tensor<64xf32>) -> tensor<64xf32>
  %s = linalg.generic {indexing_maps = [#rows2, #cols2], iterator_types = ["reduction", "parallel"]} ins(%small : tensor<128x64xf32>) outs(%acc64 : tensor<64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %out, %in : f32
    linalg.yield %a : f32
  } -> tensor<64xf32>
  %e = tensor.empty() : tensor<512xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<512xf32>) -> tensor<512xf32>
  %m = linalg.generic {indexing_maps = [#rows2, #cols2], iterator_types = ["reduction", "parallel"]} ins(%g : tensor<4096x512xf32>) outs(%acc : tensor<512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.maximumf %out, %in : f32
    linalg.yield %a : f32
  } -> tensor<512xf32>
  %r = linalg.generic {indexing_maps = [#rows2, #cols2], iterator_types = ["reduction", "parallel"]} ins(%g : tensor<4096x512xf32>) outs(%running : tensor<512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %out, %in : f32
    linalg.yield %a : f32
  } -> tensor<512xf32>
  %e0 = tensor.empty() : tensor<f32>
  %acc0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %all = linalg.generic {indexing_maps = [#rows2, affine_map<(d0, d1) -> ()>], iterator_types = ["reduction", "reduction"]} ins(%g : tensor<4096x512xf32>) outs(%acc0 : tensor<f32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %out, %in : f32
    linalg.yield %a : f32
  } -> tensor<f32>
  return %s, %m, %r, %all : tensor<64xf32>, tensor<512xf32>, tensor<512xf32>, tensor<f32>
}
