// RUN: %nnc-opt %s -split-input-file -nnc-lower-nn-to-linalg | FileCheck %s
// RUN: %nnc-opt %s -split-input-file -nnc-lower-nn-to-linalg=scatter-loops=true \
// RUN:   | FileCheck %s --check-prefix=SCATTER
// RUN: %nnc-opt %s -split-input-file -nnc-lower-nn-to-linalg=softmax-exps-once=true \
// RUN:   | FileCheck %s --check-prefix=EXPS

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
// With softmax-exps-once (CPU kernels) the exponentials are a tensor of their own, which the sum
// and the quotient both read: each is computed once.
// EXPS-LABEL: func.func @softmax
// EXPS: %[[MAX:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// EXPS: %[[EXPS:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} ins(%arg0, %[[MAX]] : tensor<2x5xf32>, tensor<2x1xf32>)
// EXPS: math.exp
// EXPS: %[[SUM:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[EXPS]] : tensor<2x5xf32>)
// EXPS: linalg.generic {{.*}} ins(%[[EXPS]], %[[SUM]] : tensor<2x5xf32>, tensor<2x1xf32>)
// EXPS-NOT: math.exp
// EXPS: arith.divf
// EXPS: return
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

// Max pooling whose windows tile the input exactly (stride = kernel, no padding) runs over
// contiguous rows: the KH input rows of each output row first, then each KW neighbours of the
// result flattened per sample (one long loop, which vectorizes). A NaN is its window's max, as
// in PyTorch (val > max || isnan(val)).
// CHECK-DAG: #[[ROW0:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2 * 2, d3)>
// CHECK-DAG: #[[ROW1:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2 * 2 + 1, d3)>
// CHECK-DAG: #[[COL0:.+]] = affine_map<(d0, d1) -> (d0, d1, 0)>
// CHECK-DAG: #[[COL1:.+]] = affine_map<(d0, d1) -> (d0, d1, 1)>
// CHECK-LABEL: func.func @max_pool2d_tiled
// CHECK: linalg.generic {indexing_maps = [#[[ROW0]], #[[ROW1]], #{{.+}}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK: ^bb0(%[[A:[^:]+]]: f32, %[[B:[^:]+]]: f32,
// CHECK-DAG: %[[NAN:.+]] = arith.cmpf uno, %[[B]], %[[B]] : f32
// CHECK-DAG: %[[GT:.+]] = arith.cmpf ogt, %[[B]], %[[A]] : f32
// CHECK: %[[TAKE:.+]] = arith.ori %[[GT]], %[[NAN]] : i1
// CHECK: arith.select %[[TAKE]], %[[B]], %[[A]] : f32
// CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0], [1, 2]] output_shape [2, 64, 2]
// CHECK: linalg.generic {indexing_maps = [#[[COL0]], #[[COL1]], #{{.+}}], iterator_types = ["parallel", "parallel"]}
// CHECK-NOT: nn.max_pool2d
func.func @max_pool2d_tiled(%x: tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32> {
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 2, 2>}> : tensor<2x4x8x8xf32>
  return %0 : tensor<2x4x4x4xf32>
}

// -----

// Its gradient: per column the max over the window's rows and the row holding it; per window
// (flattened) the position taking the grad, PyTorch's first max in row-major order or its last
// NaN; per window and column the grad and its row; per input element the grad where its row is
// the chosen one. All parallel, over contiguous rows or long loops; positions are bytes.
// CHECK-LABEL: func.func @max_pool2d_grad_tiled
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME: outs(%{{.+}}, %{{.+}} : tensor<2x4x4x8xf32>, tensor<2x4x4x8xi8>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: outs(%{{.+}} : tensor<2x64xi8>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-SAME: outs(%{{.+}}, %{{.+}} : tensor<2x64x2xf32>, tensor<2x64x2xi8>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME: outs(%{{.+}} : tensor<2x4x4x2x8xf32>)
// CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0], [1], [2, 3], [4]] : tensor<2x4x4x2x8xf32> into tensor<2x4x8x8xf32>
// CHECK-NOT: nn.max_pool2d_grad
func.func @max_pool2d_grad_tiled(%x: tensor<2x4x8x8xf32>, %g: tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32> {
  %0 = nn.max_pool2d_grad %x, %g <{kernel_size = array<i64: 2, 2>}> : tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>
  return %0 : tensor<2x4x8x8xf32>
}

// -----

// relu's gradient passes where the output is not <= 0, NaN included, as PyTorch's
// threshold_backward: an unordered-or-greater compare.
// CHECK-LABEL: func.func @relu_grad_passes_nan
// CHECK: ^bb0(%[[Y:[^:]+]]: f32, %[[DY:[^:]+]]: f32,
// CHECK: %[[ACTIVE:.+]] = arith.cmpf ugt, %[[Y]], %{{.+}} : f32
// CHECK: arith.select %[[ACTIVE]], %[[DY]], %{{.+}} : f32
func.func @relu_grad_passes_nan(%y: tensor<4x3xf32>, %dy: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %0 = nn.relu_grad %y, %dy : tensor<4x3xf32>, tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// clamp keeps NaN (maximumf/minimumf propagate it, as PyTorch's clamp does); its gradient passes
// where min < x < max, NaN included (unordered compares), as hardtanh's backward.
// CHECK-LABEL: func.func @clamp_nan_semantics
// CHECK: ^bb0(%[[X:[^:]+]]: f32,
// CHECK: %[[LO:.+]] = arith.maximumf %[[X]], %{{.+}} : f32
// CHECK: arith.minimumf %[[LO]], %{{.+}} : f32
// CHECK: ^bb0(%[[XG:[^:]+]]: f32, %[[DY:[^:]+]]: f32,
// CHECK: %[[ABOVE:.+]] = arith.cmpf ugt, %[[XG]], %{{.+}} : f32
// CHECK: %[[BELOW:.+]] = arith.cmpf ult, %[[XG]], %{{.+}} : f32
// CHECK: %[[ACTIVE:.+]] = arith.andi %[[ABOVE]], %[[BELOW]] : i1
// CHECK: arith.select %[[ACTIVE]], %[[DY]], %{{.+}} : f32
func.func @clamp_nan_semantics(%x: tensor<4x3xf32>, %dy: tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
  %0 = nn.clamp %x <{max = 6.0 : f64, min = 0.0 : f64}> : tensor<4x3xf32>
  %1 = nn.clamp_grad %x, %dy <{max = 6.0 : f64, min = 0.0 : f64}> : tensor<4x3xf32>, tensor<4x3xf32>
  return %0, %1 : tensor<4x3xf32>, tensor<4x3xf32>
}

// -----

// A dropout's mask is its own op, a function of the step number and key alone; a backward
// dropout (the forward's clone applied to the gradient: same step, key, rate and stream) reuses
// the forward's mask op, so both multiplies read one mask and Philox runs once.
// CHECK-LABEL: func.func @dropout_backward_shares_mask
// CHECK-SAME: %[[STEP:[^:]+]]: tensor<f32>, %[[KEY:[^:]+]]: tensor<i64>
// CHECK: %[[MASK:.+]] = linalg.generic {{.*}} ins(%[[STEP]], %[[KEY]] : tensor<f32>, tensor<i64>)
// CHECK-NOT: nnc.dropout_mask
// CHECK: %[[Y:.+]] = linalg.generic {{.*}} ins(%{{.+}}, %[[MASK]] : tensor<4x2x4xf32>, tensor<4x2x4xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NOT: ins(%[[STEP]], %[[KEY]]
// CHECK: %[[DX:.+]] = linalg.generic {{.*}} ins(%{{.+}}, %[[MASK]] : tensor<4x2x4xf32>, tensor<4x2x4xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NOT: ins(%[[STEP]], %[[KEY]]
// CHECK: return
func.func @dropout_backward_shares_mask(%x: tensor<4x8xf32>, %g: tensor<4x8xf32>, %step: tensor<f32>,
                                        %key: tensor<i64>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %y = nn.dropout %x[%step, %key] <{rate = 2.500000e-01 : f64, stream = 1 : i64}> : tensor<4x8xf32>, tensor<f32>, tensor<i64>
  %dx = nn.dropout %g[%step, %key] <{rate = 2.500000e-01 : f64, stream = 1 : i64}> : tensor<4x8xf32>, tensor<f32>, tensor<i64>
  return %y, %dx : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Two dropouts of one value on different streams draw different masks: two mask ops.
// CHECK-LABEL: func.func @dropout_streams_keep_masks
// CHECK-SAME: %[[STEP:[^:]+]]: tensor<f32>, %[[KEY:[^:]+]]: tensor<i64>
// CHECK: %[[M1:.+]] = linalg.generic {{.*}} ins(%[[STEP]], %[[KEY]] : tensor<f32>, tensor<i64>)
// CHECK: arith.constant 1 : i32
// CHECK: linalg.generic {{.*}} ins(%{{.+}}, %[[M1]] : tensor<4x2x4xf32>, tensor<4x2x4xf32>)
// CHECK: %[[M2:.+]] = linalg.generic {{.*}} ins(%[[STEP]], %[[KEY]] : tensor<f32>, tensor<i64>)
// CHECK: arith.constant 2 : i32
// CHECK: linalg.generic {{.*}} ins(%{{.+}}, %[[M2]] : tensor<4x2x4xf32>, tensor<4x2x4xf32>)
func.func @dropout_streams_keep_masks(%x: tensor<4x8xf32>, %step: tensor<f32>, %key: tensor<i64>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %a = nn.dropout %x[%step, %key] <{rate = 2.500000e-01 : f64, stream = 1 : i64}> : tensor<4x8xf32>, tensor<f32>, tensor<i64>
  %b = nn.dropout %x[%step, %key] <{rate = 2.500000e-01 : f64, stream = 2 : i64}> : tensor<4x8xf32>, tensor<f32>, tensor<i64>
  return %a, %b : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Nor do masks of one stream merge across rates, step numbers or shapes.
// CHECK-LABEL: func.func @dropout_rates_steps_shapes_keep_masks
// CHECK-COUNT-4: linalg.generic {{.*}} ins(%{{[^,]+}}, %{{[^,]+}} : tensor<f32>, tensor<i64>)
// CHECK-NOT: ins(%{{[^,]+}}, %{{[^,]+}} : tensor<f32>, tensor<i64>)
// CHECK: return
func.func @dropout_rates_steps_shapes_keep_masks(%x: tensor<4x8xf32>, %v: tensor<32xf32>,
                                                 %step: tensor<f32>, %next: tensor<f32>,
                                                 %key: tensor<i64>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<32xf32>) {
  %a = nn.dropout %x[%step, %key] <{rate = 2.500000e-01 : f64, stream = 1 : i64}> : tensor<4x8xf32>, tensor<f32>, tensor<i64>
  %b = nn.dropout %x[%step, %key] <{rate = 5.000000e-01 : f64, stream = 1 : i64}> : tensor<4x8xf32>, tensor<f32>, tensor<i64>
  %c = nn.dropout %x[%next, %key] <{rate = 2.500000e-01 : f64, stream = 1 : i64}> : tensor<4x8xf32>, tensor<f32>, tensor<i64>
  %d = nn.dropout %v[%step, %key] <{rate = 2.500000e-01 : f64, stream = 1 : i64}> : tensor<32xf32>, tensor<f32>, tensor<i64>
  return %a, %b, %c, %d : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<32xf32>
}

// -----

// An embedding gradient by default (CUDA kernels) is one linalg op over (table row, looked-up
// row, column) that compares each index with the table row. With scatter-loops (CPU kernels) it
// is a loop over the looked-up rows adding each one's gradient into its table row, skipping
// indices outside [0, rows); i32 indices sign-extend, so negative ones are skipped too.
// CHECK-LABEL: func.func @embedding_grad(
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction", "parallel"]
// CHECK: arith.cmpi eq
// CHECK-NOT: scf.for
// CHECK: return
// SCATTER-LABEL: func.func @embedding_grad(
// SCATTER-SAME: %[[IDS:.+]]: tensor<2x3xi32>, %[[G:.+]]: tensor<2x3x4xf32>)
// SCATTER: %[[FLAT:.+]] = tensor.collapse_shape %[[IDS]] {{\[\[}}0, 1]] : tensor<2x3xi32> into tensor<6xi32>
// SCATTER: %[[ROWS:.+]] = tensor.collapse_shape %[[G]] {{\[\[}}0, 1], [2]] : tensor<2x3x4xf32> into tensor<6x4xf32>
// SCATTER: %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<5x4xf32>)
// SCATTER-DAG: %[[C0:.+]] = arith.constant 0 : index
// SCATTER-DAG: %[[C1:.+]] = arith.constant 1 : index
// SCATTER-DAG: %[[C6:.+]] = arith.constant 6 : index
// SCATTER: %[[SUM:.+]] = scf.for %[[I:.+]] = %[[C0]] to %[[C6]] step %[[C1]] iter_args(%[[T:.+]] = %[[ZERO]]) -> (tensor<5x4xf32>)
// SCATTER: %[[ID:.+]] = tensor.extract %[[FLAT]][%[[I]]] : tensor<6xi32>
// SCATTER: %[[ID2:.+]] = arith.index_cast %[[ID]] : i32 to index
// SCATTER-DAG: %[[Z:.+]] = arith.constant 0 : index
// SCATTER-DAG: %[[LAST:.+]] = arith.constant 4 : index
// SCATTER-DAG: %[[BELOW:.+]] = arith.cmpi sle, %[[ID2]], %[[LAST]] : index
// SCATTER-DAG: %[[ABOVE:.+]] = arith.cmpi sge, %[[ID2]], %[[Z]] : index
// SCATTER: %[[IN:.+]] = arith.andi
// An id outside the table rewrites a clamped row with its own values (select): the body stays
// one in-place row update.
// SCATTER: %[[LOW:.+]] = arith.maxsi %[[ID2]], %[[Z]] : index
// SCATTER: %[[ROW:.+]] = arith.minsi %[[LOW]], %[[LAST]] : index
// SCATTER: %[[GROW:.+]] = tensor.extract_slice %[[ROWS]][%[[I]], 0] [1, 4] [1, 1]
// SCATTER: %[[TROW:.+]] = tensor.extract_slice %[[T]][%[[ROW]], 0] [1, 4] [1, 1]
// SCATTER: %[[NEW:.+]] = linalg.generic {{.*}} ins(%[[GROW]] : tensor<1x4xf32>) outs(%[[TROW]] : tensor<1x4xf32>)
// SCATTER: ^bb0(%[[GIN:.+]]: f32, %[[TOUT:.+]]: f32):
// SCATTER: %[[ADDED:.+]] = arith.addf %[[TOUT]], %[[GIN]] : f32
// SCATTER: arith.select %[[IN]], %[[ADDED]], %[[TOUT]] : f32
// SCATTER: %[[UPDATED:.+]] = tensor.insert_slice %[[NEW]] into %[[T]][%[[ROW]], 0] [1, 4] [1, 1]
// SCATTER-NEXT: scf.yield %[[UPDATED]] : tensor<5x4xf32>
// SCATTER: return %[[SUM]]
func.func @embedding_grad(%ids: tensor<2x3xi32>, %g: tensor<2x3x4xf32>) -> tensor<5x4xf32> {
  %0 = nn.embedding_grad %ids, %g <{rows = 5 : i64}> : tensor<2x3xi32>, tensor<2x3x4xf32>
  return %0 : tensor<5x4xf32>
}

// -----

// One looked-up row (indices of rank 0) keeps the linalg form under scatter-loops too.
// CHECK-LABEL: func.func @embedding_grad_one_row
// SCATTER-LABEL: func.func @embedding_grad_one_row
// SCATTER-NOT: scf.for
// SCATTER: linalg.generic
// SCATTER: arith.cmpi eq
// SCATTER-NOT: scf.for
// SCATTER: return
func.func @embedding_grad_one_row(%id: tensor<i64>, %g: tensor<4xf32>) -> tensor<5x4xf32> {
  %0 = nn.embedding_grad %id, %g <{rows = 5 : i64}> : tensor<i64>, tensor<4xf32>
  return %0 : tensor<5x4xf32>
}
