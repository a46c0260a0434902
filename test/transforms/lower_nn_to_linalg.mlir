// RUN: %nnc-opt %s -split-input-file -nnc-lower-nn-to-linalg | FileCheck %s

// Elementwise ops become one linalg.generic each, broadcasting through the indexing maps.
// CHECK-DAG: #[[ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @add_broadcast_relu
// CHECK: %[[SUM:.+]] = linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK: arith.addf
// CHECK: %[[R:.+]] = linalg.generic {{.*}} ins(%[[SUM]] : tensor<4x8xf32>)
// CHECK: arith.maximumf
// CHECK: return %[[R]]
func.func @add_broadcast_relu(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = nn.add %a, %b : tensor<4x8xf32>, tensor<8xf32>
  %1 = nn.relu %0 : tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// Contractions and constants stay: they cross the library-call boundary / are plan data.
// CHECK-LABEL: func.func @keeps_library_ops
// CHECK: nn.constant
// CHECK: nn.linear
// CHECK: nn.conv2d
// CHECK-NOT: linalg
func.func @keeps_library_ops(%x: tensor<2x4xf32>, %w: tensor<3x4xf32>, %img: tensor<1x1x4x4xf32>,
                             %k: tensor<2x1x3x3xf32>) -> (tensor<2x3xf32>, tensor<1x2x2x2xf32>, tensor<f32>) {
  %c = nn.constant dense<1.0> : tensor<f32>
  %0 = nn.linear %x, %w : tensor<2x4xf32>, tensor<3x4xf32>
  %1 = nn.conv2d %img, %k : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32>
  return %0, %1, %c : tensor<2x3xf32>, tensor<1x2x2x2xf32>, tensor<f32>
}

// -----

// Softmax: a max reduction, a sum of exponentials, then the normalization.
// CHECK-LABEL: func.func @softmax
// CHECK: linalg.fill ins(%{{.+}} : f32)
// CHECK: %[[MAX:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: %[[SUM:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} ins(%{{.+}}, %[[MAX]], %[[SUM]] : tensor<2x5xf32>, tensor<2x1xf32>, tensor<2x1xf32>)
// CHECK: arith.divf
func.func @softmax(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %0 = nn.softmax %x : tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

// Reshape is a collapse and an expand: views, no copy.
// CHECK-LABEL: func.func @reshape
// CHECK: %[[FLAT:.+]] = tensor.collapse_shape %{{.+}} {{\[\[}}0, 1, 2]] : tensor<2x3x4xf32> into tensor<24xf32>
// CHECK: tensor.expand_shape %[[FLAT]] {{\[\[}}0, 1]] output_shape [6, 4] : tensor<24xf32> into tensor<6x4xf32>
func.func @reshape(%x: tensor<2x3x4xf32>) -> tensor<6x4xf32> {
  %0 = nn.reshape %x <{shape = array<i64: 6, 4>}> : tensor<2x3x4xf32>
  return %0 : tensor<6x4xf32>
}

// -----

// Cross-entropy with class indices: one pass weighting (lse - x) by the smoothed one-hot target.
// CHECK-LABEL: func.func @cross_entropy
// CHECK: linalg.index 1
// CHECK: arith.cmpi eq
// CHECK: math.log
// CHECK: arith.divf
// CHECK-NOT: nn.cross_entropy
func.func @cross_entropy(%x: tensor<4x3xf32>, %y: tensor<4xi64>) -> tensor<f32> {
  %0 = nn.cross_entropy %x, %y <{label_smoothing = 1.000000e-01 : f64}> : tensor<4x3xf32>, tensor<4xi64>
  return %0 : tensor<f32>
}

// -----

// Max pooling's gradient where the windows tile the input exactly (stride = kernel, no padding):
// the argmax of each window, then one parallel generic over the input that reads its window's
// argmax and grad at (h floordiv 2, w floordiv 2), no search over window positions.
// CHECK-DAG: #[[WIN:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2 floordiv 2, d3 floordiv 2)>
// CHECK-LABEL: func.func @max_pool2d_grad_tiled
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK: linalg.generic {indexing_maps = [#[[WIN]], #[[WIN]], #{{.+}}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK: arith.remui
// CHECK: arith.cmpi eq
// CHECK-NOT: nn.max_pool2d_grad
func.func @max_pool2d_grad_tiled(%x: tensor<2x4x8x8xf32>, %g: tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32> {
  %0 = nn.max_pool2d_grad %x, %g <{kernel_size = array<i64: 2, 2>}> : tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>
  return %0 : tensor<2x4x8x8xf32>
}
