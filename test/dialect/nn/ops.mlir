// Round trip of every nn op through the custom and the generic form. Result types are inferred,
// so each case returns its result and checks the returned type: a wrong inference fails to parse
// (the function's declared result type disagrees) or fails the CHECK on `return`.
// RUN: %nnc-opt %s -split-input-file | %nnc-opt -split-input-file | FileCheck %s
// RUN: %nnc-opt %s -split-input-file -mlir-print-op-generic | %nnc-opt -split-input-file | FileCheck %s

//===----------------------------------------------------------------------===//
// Constants and contractions
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @constant_f32_scalar
// CHECK: %[[R:.+]] = nn.constant dense<1.250000e-01> : tensor<f32>
// CHECK: return %[[R]] : tensor<f32>
func.func @constant_f32_scalar() -> tensor<f32> {
  %0 = nn.constant dense<0.125> : tensor<f32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @constant_f16_splat
// CHECK: %[[R:.+]] = nn.constant dense<1.500000e+00> : tensor<2x3xf16>
// CHECK: return %[[R]] : tensor<2x3xf16>
func.func @constant_f16_splat() -> tensor<2x3xf16> {
  %0 = nn.constant dense<1.5> : tensor<2x3xf16>
  return %0 : tensor<2x3xf16>
}

// -----

// CHECK-LABEL: func.func @constant_bf16_values
// CHECK: %[[R:.+]] = nn.constant dense<[1.000000e+00, -2.000000e+00]> : tensor<2xbf16>
// CHECK: return %[[R]] : tensor<2xbf16>
func.func @constant_bf16_values() -> tensor<2xbf16> {
  %0 = nn.constant dense<[1.0, -2.0]> : tensor<2xbf16>
  return %0 : tensor<2xbf16>
}

// -----

// CHECK-LABEL: func.func @constant_i64_labels
// CHECK: %[[R:.+]] = nn.constant dense<[1, 0, 3]> : tensor<3xi64>
// CHECK: return %[[R]] : tensor<3xi64>
func.func @constant_i64_labels() -> tensor<3xi64> {
  %0 = nn.constant dense<[1, 0, 3]> : tensor<3xi64>
  return %0 : tensor<3xi64>
}

// -----

// CHECK-LABEL: func.func @constant_i32_matrix
// CHECK: %[[R:.+]] = nn.constant dense<{{\[\[}}1, 2], [3, 4]]> : tensor<2x2xi32>
// CHECK: return %[[R]] : tensor<2x2xi32>
func.func @constant_i32_matrix() -> tensor<2x2xi32> {
  %0 = nn.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>
  return %0 : tensor<2x2xi32>
}

// -----

// CHECK-LABEL: func.func @linear_2d_no_bias
// CHECK-SAME: (%[[X:[^:]+]]: tensor<4x16xf32>, %[[W:[^:]+]]: tensor<8x16xf32>)
// CHECK: %[[R:.+]] = nn.linear %[[X]], %[[W]] : tensor<4x16xf32>, tensor<8x16xf32>{{$}}
// CHECK: return %[[R]] : tensor<4x8xf32>
func.func @linear_2d_no_bias(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) -> tensor<4x8xf32> {
  %0 = nn.linear %x, %w : tensor<4x16xf32>, tensor<8x16xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @linear_batched_with_bias
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x3x16xf16>, %[[W:[^:]+]]: tensor<8x16xf16>, %[[B:[^:]+]]: tensor<8xf16>)
// CHECK: %[[R:.+]] = nn.linear %[[X]], %[[W]], %[[B]] : tensor<2x3x16xf16>, tensor<8x16xf16>, tensor<8xf16>
// CHECK: return %[[R]] : tensor<2x3x8xf16>
func.func @linear_batched_with_bias(%x: tensor<2x3x16xf16>, %w: tensor<8x16xf16>,
                                    %b: tensor<8xf16>) -> tensor<2x3x8xf16> {
  %0 = nn.linear %x, %w, %b : tensor<2x3x16xf16>, tensor<8x16xf16>, tensor<8xf16>
  return %0 : tensor<2x3x8xf16>
}

// -----

// CHECK-LABEL: func.func @linear_vector_input_bf16
// CHECK: %[[R:.+]] = nn.linear %{{.+}}, %{{.+}}, %{{.+}} : tensor<16xbf16>, tensor<5x16xbf16>, tensor<5xbf16>
// CHECK: return %[[R]] : tensor<5xbf16>
func.func @linear_vector_input_bf16(%x: tensor<16xbf16>, %w: tensor<5x16xbf16>,
                                    %b: tensor<5xbf16>) -> tensor<5xbf16> {
  %0 = nn.linear %x, %w, %b : tensor<16xbf16>, tensor<5x16xbf16>, tensor<5xbf16>
  return %0 : tensor<5xbf16>
}

// -----

// CHECK-LABEL: func.func @matmul_2d
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4x8xf32>, %[[B:[^:]+]]: tensor<8x5xf32>)
// CHECK: %[[R:.+]] = nn.matmul %[[A]], %[[B]] : tensor<4x8xf32>, tensor<8x5xf32>
// CHECK: return %[[R]] : tensor<4x5xf32>
func.func @matmul_2d(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>) -> tensor<4x5xf32> {
  %0 = nn.matmul %a, %b : tensor<4x8xf32>, tensor<8x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// CHECK-LABEL: func.func @matmul_batched_f16
// CHECK: %[[R:.+]] = nn.matmul %{{.+}}, %{{.+}} : tensor<2x4x3x8xf16>, tensor<2x4x8x5xf16>
// CHECK: return %[[R]] : tensor<2x4x3x5xf16>
func.func @matmul_batched_f16(%a: tensor<2x4x3x8xf16>, %b: tensor<2x4x8x5xf16>)
    -> tensor<2x4x3x5xf16> {
  %0 = nn.matmul %a, %b : tensor<2x4x3x8xf16>, tensor<2x4x8x5xf16>
  return %0 : tensor<2x4x3x5xf16>
}

// -----

// Batch dimensions broadcast as in NumPy: (3, 1) with (6) gives (3, 6).
// CHECK-LABEL: func.func @matmul_broadcast_batch_bf16
// CHECK: %[[R:.+]] = nn.matmul %{{.+}}, %{{.+}} : tensor<3x1x4x8xbf16>, tensor<6x8x5xbf16>
// CHECK: return %[[R]] : tensor<3x6x4x5xbf16>
func.func @matmul_broadcast_batch_bf16(%a: tensor<3x1x4x8xbf16>, %b: tensor<6x8x5xbf16>)
    -> tensor<3x6x4x5xbf16> {
  %0 = nn.matmul %a, %b : tensor<3x1x4x8xbf16>, tensor<6x8x5xbf16>
  return %0 : tensor<3x6x4x5xbf16>
}

// -----

// CHECK-LABEL: func.func @matmul_unbatched_lhs
// CHECK: %[[R:.+]] = nn.matmul %{{.+}}, %{{.+}} : tensor<4x8xf32>, tensor<7x8x5xf32>
// CHECK: return %[[R]] : tensor<7x4x5xf32>
func.func @matmul_unbatched_lhs(%a: tensor<4x8xf32>, %b: tensor<7x8x5xf32>) -> tensor<7x4x5xf32> {
  %0 = nn.matmul %a, %b : tensor<4x8xf32>, tensor<7x8x5xf32>
  return %0 : tensor<7x4x5xf32>
}

// -----

// No attributes: stride 1, no padding, dilation 1, one group; (8 - 3) / 1 + 1 = 6.
// CHECK-LABEL: func.func @conv2d_defaults
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x3x8x8xf32>, %[[W:[^:]+]]: tensor<4x3x3x3xf32>)
// CHECK: %[[R:.+]] = nn.conv2d %[[X]], %[[W]] : tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>{{$}}
// CHECK: return %[[R]] : tensor<2x4x6x6xf32>
func.func @conv2d_defaults(%x: tensor<2x3x8x8xf32>, %w: tensor<4x3x3x3xf32>)
    -> tensor<2x4x6x6xf32> {
  %0 = nn.conv2d %x, %w : tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>
  return %0 : tensor<2x4x6x6xf32>
}

// -----

// CHECK-LABEL: func.func @conv2d_same_padding_bias
// CHECK-SAME: (%[[X:[^:]+]]: tensor<16x1x28x28xf32>, %[[W:[^:]+]]: tensor<32x1x3x3xf32>, %[[B:[^:]+]]: tensor<32xf32>)
// CHECK: %[[R:.+]] = nn.conv2d %[[X]], %[[W]], %[[B]] <{padding = array<i64: 1, 1>}> : tensor<16x1x28x28xf32>, tensor<32x1x3x3xf32>, tensor<32xf32>
// CHECK: return %[[R]] : tensor<16x32x28x28xf32>
func.func @conv2d_same_padding_bias(%x: tensor<16x1x28x28xf32>, %w: tensor<32x1x3x3xf32>,
                                    %b: tensor<32xf32>) -> tensor<16x32x28x28xf32> {
  %0 = nn.conv2d %x, %w, %b <{padding = array<i64: 1, 1>}>
      : tensor<16x1x28x28xf32>, tensor<32x1x3x3xf32>, tensor<32xf32>
  return %0 : tensor<16x32x28x28xf32>
}

// -----

// Two groups of 2 input channels; (9 - 3) / 2 + 1 = 4.
// CHECK-LABEL: func.func @conv2d_groups_stride
// CHECK: %[[R:.+]] = nn.conv2d %{{.+}}, %{{.+}} <{groups = 2 : i64, stride = array<i64: 2, 2>}> : tensor<1x4x9x9xf16>, tensor<6x2x3x3xf16>
// CHECK: return %[[R]] : tensor<1x6x4x4xf16>
func.func @conv2d_groups_stride(%x: tensor<1x4x9x9xf16>, %w: tensor<6x2x3x3xf16>)
    -> tensor<1x6x4x4xf16> {
  %0 = nn.conv2d %x, %w <{stride = array<i64: 2, 2>, groups = 2 : i64}>
      : tensor<1x4x9x9xf16>, tensor<6x2x3x3xf16>
  return %0 : tensor<1x6x4x4xf16>
}

// -----

// Height: extent 2 * (3 - 1) + 1 = 5, (10 - 5) / 1 + 1 = 6. Width: extent 3 * (2 - 1) + 1 = 4,
// padded 12 + 2 = 14, (14 - 4) / 3 + 1 = 4 (rounding down).
// CHECK-LABEL: func.func @conv2d_dilation_asymmetric_bf16
// CHECK: %[[R:.+]] = nn.conv2d %{{.+}}, %{{.+}} <{dilation = array<i64: 2, 3>, padding = array<i64: 0, 1>, stride = array<i64: 1, 3>}> : tensor<1x2x10x12xbf16>, tensor<3x2x3x2xbf16>
// CHECK: return %[[R]] : tensor<1x3x6x4xbf16>
func.func @conv2d_dilation_asymmetric_bf16(%x: tensor<1x2x10x12xbf16>, %w: tensor<3x2x3x2xbf16>)
    -> tensor<1x3x6x4xbf16> {
  %0 = nn.conv2d %x, %w <{stride = array<i64: 1, 3>, padding = array<i64: 0, 1>,
                          dilation = array<i64: 2, 3>}>
      : tensor<1x2x10x12xbf16>, tensor<3x2x3x2xbf16>
  return %0 : tensor<1x3x6x4xbf16>
}

// -----

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @add_same_shape
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4x8xf32>, %[[B:[^:]+]]: tensor<4x8xf32>)
// CHECK: %[[R:.+]] = nn.add %[[A]], %[[B]] : tensor<4x8xf32>, tensor<4x8xf32>
// CHECK: return %[[R]] : tensor<4x8xf32>
func.func @add_same_shape(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.add %a, %b : tensor<4x8xf32>, tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @add_broadcast_leading
// CHECK: %[[R:.+]] = nn.add %{{.+}}, %{{.+}} : tensor<32x16x16xf32>, tensor<16x16xf32>
// CHECK: return %[[R]] : tensor<32x16x16xf32>
func.func @add_broadcast_leading(%a: tensor<32x16x16xf32>, %b: tensor<16x16xf32>)
    -> tensor<32x16x16xf32> {
  %0 = nn.add %a, %b : tensor<32x16x16xf32>, tensor<16x16xf32>
  return %0 : tensor<32x16x16xf32>
}

// -----

// Size-1 dimensions of both operands stretch: (4, 1, 8) with (3, 1) gives (4, 3, 8).
// CHECK-LABEL: func.func @sub_broadcast_both_f16
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4x1x8xf16>, %[[B:[^:]+]]: tensor<3x1xf16>)
// CHECK: %[[R:.+]] = nn.sub %[[A]], %[[B]] : tensor<4x1x8xf16>, tensor<3x1xf16>
// CHECK: return %[[R]] : tensor<4x3x8xf16>
func.func @sub_broadcast_both_f16(%a: tensor<4x1x8xf16>, %b: tensor<3x1xf16>)
    -> tensor<4x3x8xf16> {
  %0 = nn.sub %a, %b : tensor<4x1x8xf16>, tensor<3x1xf16>
  return %0 : tensor<4x3x8xf16>
}

// -----

// CHECK-LABEL: func.func @mul_scalar_bf16
// CHECK: %[[R:.+]] = nn.mul %{{.+}}, %{{.+}} : tensor<bf16>, tensor<2x3xbf16>
// CHECK: return %[[R]] : tensor<2x3xbf16>
func.func @mul_scalar_bf16(%a: tensor<bf16>, %b: tensor<2x3xbf16>) -> tensor<2x3xbf16> {
  %0 = nn.mul %a, %b : tensor<bf16>, tensor<2x3xbf16>
  return %0 : tensor<2x3xbf16>
}

// -----

// CHECK-LABEL: func.func @mul_i32
// CHECK: %[[R:.+]] = nn.mul %{{.+}}, %{{.+}} : tensor<5xi32>, tensor<5xi32>
// CHECK: return %[[R]] : tensor<5xi32>
func.func @mul_i32(%a: tensor<5xi32>, %b: tensor<5xi32>) -> tensor<5xi32> {
  %0 = nn.mul %a, %b : tensor<5xi32>, tensor<5xi32>
  return %0 : tensor<5xi32>
}

// -----

// CHECK-LABEL: func.func @div_outer_i64
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4x1xi64>, %[[B:[^:]+]]: tensor<1x5xi64>)
// CHECK: %[[R:.+]] = nn.div %[[A]], %[[B]] : tensor<4x1xi64>, tensor<1x5xi64>
// CHECK: return %[[R]] : tensor<4x5xi64>
func.func @div_outer_i64(%a: tensor<4x1xi64>, %b: tensor<1x5xi64>) -> tensor<4x5xi64> {
  %0 = nn.div %a, %b : tensor<4x1xi64>, tensor<1x5xi64>
  return %0 : tensor<4x5xi64>
}

// -----

// CHECK-LABEL: func.func @div_f32_by_scalar
// CHECK: %[[R:.+]] = nn.div %{{.+}}, %{{.+}} : tensor<2x3xf32>, tensor<f32>
// CHECK: return %[[R]] : tensor<2x3xf32>
func.func @div_f32_by_scalar(%a: tensor<2x3xf32>, %b: tensor<f32>) -> tensor<2x3xf32> {
  %0 = nn.div %a, %b : tensor<2x3xf32>, tensor<f32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @relu_f32
// CHECK: %[[R:.+]] = nn.relu %{{.+}} : tensor<4x16xf32>
// CHECK: return %[[R]] : tensor<4x16xf32>
func.func @relu_f32(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %0 = nn.relu %x : tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

// CHECK-LABEL: func.func @tanh_f16
// CHECK: %[[R:.+]] = nn.tanh %{{.+}} : tensor<3x5xf16>
// CHECK: return %[[R]] : tensor<3x5xf16>
func.func @tanh_f16(%x: tensor<3x5xf16>) -> tensor<3x5xf16> {
  %0 = nn.tanh %x : tensor<3x5xf16>
  return %0 : tensor<3x5xf16>
}

// -----

// CHECK-LABEL: func.func @sigmoid_bf16
// CHECK: %[[R:.+]] = nn.sigmoid %{{.+}} : tensor<7xbf16>
// CHECK: return %[[R]] : tensor<7xbf16>
func.func @sigmoid_bf16(%x: tensor<7xbf16>) -> tensor<7xbf16> {
  %0 = nn.sigmoid %x : tensor<7xbf16>
  return %0 : tensor<7xbf16>
}

// -----

// CHECK-LABEL: func.func @gelu_exact_default
// CHECK: %[[R:.+]] = nn.gelu %{{.+}} : tensor<2x8xf32>
// CHECK: return %[[R]] : tensor<2x8xf32>
func.func @gelu_exact_default(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = nn.gelu %x : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// CHECK-LABEL: func.func @gelu_tanh_f16
// CHECK: %[[R:.+]] = nn.gelu %{{.+}} <{approximate = #nn<approximation tanh>}> : tensor<2x4x8xf16>
// CHECK: return %[[R]] : tensor<2x4x8xf16>
func.func @gelu_tanh_f16(%x: tensor<2x4x8xf16>) -> tensor<2x4x8xf16> {
  %0 = nn.gelu %x <{approximate = #nn<approximation tanh>}> : tensor<2x4x8xf16>
  return %0 : tensor<2x4x8xf16>
}

// -----

// CHECK-LABEL: func.func @gelu_none_explicit_bf16
// CHECK: %[[R:.+]] = nn.gelu %{{.+}} <{approximate = #nn<approximation none>}> : tensor<8xbf16>
// CHECK: return %[[R]] : tensor<8xbf16>
func.func @gelu_none_explicit_bf16(%x: tensor<8xbf16>) -> tensor<8xbf16> {
  %0 = nn.gelu %x <{approximate = #nn<approximation none>}> : tensor<8xbf16>
  return %0 : tensor<8xbf16>
}

// -----

// CHECK-LABEL: func.func @dropout_f32
// CHECK: %[[R:.+]] = nn.dropout %{{.+}} <{rate = 2.000000e-01 : f64}> : tensor<4x16xf32>
// CHECK: return %[[R]] : tensor<4x16xf32>
func.func @dropout_f32(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %0 = nn.dropout %x <{rate = 2.000000e-01 : f64}> : tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

// In a train step: the step number and random key, per-step inputs.
// CHECK-LABEL: func.func @dropout_training
// CHECK: nn.dropout %{{.+}}[%{{.+}}, %{{.+}}] <{rate = 5.000000e-01 : f64, stream = 3 : i64}> : tensor<4x16xf32>, tensor<f32>, tensor<i64>
func.func @dropout_training(%x: tensor<4x16xf32>, %step: tensor<f32>, %key: tensor<i64>) -> tensor<4x16xf32> {
  %0 = nn.dropout %x[%step, %key] <{rate = 5.000000e-01 : f64, stream = 3 : i64}> : tensor<4x16xf32>, tensor<f32>, tensor<i64>
  return %0 : tensor<4x16xf32>
}

// -----

// Not Pure: two dropouts of one value stay two ops.
// CHECK-LABEL: func.func @dropout_zero_rate_bf16_twice
// CHECK: %[[A:.+]] = nn.dropout %[[X:.+]] <{rate = 0.000000e+00 : f64}> : tensor<8xbf16>
// CHECK: %[[B:.+]] = nn.dropout %[[X]] <{rate = 0.000000e+00 : f64}> : tensor<8xbf16>
// CHECK: return %[[A]], %[[B]] : tensor<8xbf16>, tensor<8xbf16>
func.func @dropout_zero_rate_bf16_twice(%x: tensor<8xbf16>) -> (tensor<8xbf16>, tensor<8xbf16>) {
  %0 = nn.dropout %x <{rate = 0.0 : f64}> : tensor<8xbf16>
  %1 = nn.dropout %x <{rate = 0.0 : f64}> : tensor<8xbf16>
  return %0, %1 : tensor<8xbf16>, tensor<8xbf16>
}

// -----

// CHECK-LABEL: func.func @causal_mask_2d
// CHECK: %[[R:.+]] = nn.causal_mask %{{.+}} : tensor<4x4xf32>
// CHECK: return %[[R]] : tensor<4x4xf32>
func.func @causal_mask_2d(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %0 = nn.causal_mask %x : tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

// CHECK-LABEL: func.func @causal_mask_heads_f16
// CHECK: %[[R:.+]] = nn.causal_mask %{{.+}} : tensor<2x3x8x8xf16>
// CHECK: return %[[R]] : tensor<2x3x8x8xf16>
func.func @causal_mask_heads_f16(%x: tensor<2x3x8x8xf16>) -> tensor<2x3x8x8xf16> {
  %0 = nn.causal_mask %x : tensor<2x3x8x8xf16>
  return %0 : tensor<2x3x8x8xf16>
}

// -----

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @softmax_default_axis
// CHECK: %[[R:.+]] = nn.softmax %{{.+}} : tensor<4x10xf32>
// CHECK: return %[[R]] : tensor<4x10xf32>
func.func @softmax_default_axis(%x: tensor<4x10xf32>) -> tensor<4x10xf32> {
  %0 = nn.softmax %x : tensor<4x10xf32>
  return %0 : tensor<4x10xf32>
}

// -----

// CHECK-LABEL: func.func @softmax_negative_axis_f16
// CHECK: %[[R:.+]] = nn.softmax %{{.+}} <{axis = -3 : i64}> : tensor<2x3x4xf16>
// CHECK: return %[[R]] : tensor<2x3x4xf16>
func.func @softmax_negative_axis_f16(%x: tensor<2x3x4xf16>) -> tensor<2x3x4xf16> {
  %0 = nn.softmax %x <{axis = -3 : i64}> : tensor<2x3x4xf16>
  return %0 : tensor<2x3x4xf16>
}

// -----

// CHECK-LABEL: func.func @log_softmax_last_axis
// CHECK: %[[R:.+]] = nn.log_softmax %{{.+}} <{axis = 1 : i64}> : tensor<4x10xf32>
// CHECK: return %[[R]] : tensor<4x10xf32>
func.func @log_softmax_last_axis(%x: tensor<4x10xf32>) -> tensor<4x10xf32> {
  %0 = nn.log_softmax %x <{axis = 1 : i64}> : tensor<4x10xf32>
  return %0 : tensor<4x10xf32>
}

// -----

// CHECK-LABEL: func.func @log_softmax_vector_bf16
// CHECK: %[[R:.+]] = nn.log_softmax %{{.+}} : tensor<10xbf16>
// CHECK: return %[[R]] : tensor<10xbf16>
func.func @log_softmax_vector_bf16(%x: tensor<10xbf16>) -> tensor<10xbf16> {
  %0 = nn.log_softmax %x : tensor<10xbf16>
  return %0 : tensor<10xbf16>
}

// -----

// CHECK-LABEL: func.func @layer_norm_last_dim
// CHECK-SAME: (%[[X:[^:]+]]: tensor<2x5x16xf32>, %[[G:[^:]+]]: tensor<16xf32>, %[[B:[^:]+]]: tensor<16xf32>)
// CHECK: %[[R:.+]] = nn.layer_norm %[[X]], %[[G]], %[[B]] : tensor<2x5x16xf32>, tensor<16xf32>, tensor<16xf32>
// CHECK: return %[[R]] : tensor<2x5x16xf32>
func.func @layer_norm_last_dim(%x: tensor<2x5x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>)
    -> tensor<2x5x16xf32> {
  %0 = nn.layer_norm %x, %g, %b : tensor<2x5x16xf32>, tensor<16xf32>, tensor<16xf32>
  return %0 : tensor<2x5x16xf32>
}

// -----

// Normalizes over the last two dimensions, with an explicit epsilon.
// CHECK-LABEL: func.func @layer_norm_two_dims_epsilon_f16
// CHECK: %[[R:.+]] = nn.layer_norm %{{.+}}, %{{.+}}, %{{.+}} <{epsilon = 1.000000e-05 : f64}> : tensor<4x8x16xf16>, tensor<8x16xf16>, tensor<8x16xf16>
// CHECK: return %[[R]] : tensor<4x8x16xf16>
func.func @layer_norm_two_dims_epsilon_f16(%x: tensor<4x8x16xf16>, %g: tensor<8x16xf16>,
                                           %b: tensor<8x16xf16>) -> tensor<4x8x16xf16> {
  %0 = nn.layer_norm %x, %g, %b <{epsilon = 1.0e-05 : f64}>
      : tensor<4x8x16xf16>, tensor<8x16xf16>, tensor<8x16xf16>
  return %0 : tensor<4x8x16xf16>
}

// -----

// CHECK-LABEL: func.func @layer_norm_whole_input_bf16
// CHECK: %[[R:.+]] = nn.layer_norm %{{.+}}, %{{.+}}, %{{.+}} : tensor<32xbf16>, tensor<32xbf16>, tensor<32xbf16>
// CHECK: return %[[R]] : tensor<32xbf16>
func.func @layer_norm_whole_input_bf16(%x: tensor<32xbf16>, %g: tensor<32xbf16>,
                                       %b: tensor<32xbf16>) -> tensor<32xbf16> {
  %0 = nn.layer_norm %x, %g, %b : tensor<32xbf16>, tensor<32xbf16>, tensor<32xbf16>
  return %0 : tensor<32xbf16>
}

// -----

//===----------------------------------------------------------------------===//
// Pooling and embedding
//===----------------------------------------------------------------------===//

// The stride defaults to the kernel size: 28 / 2 = 14.
// CHECK-LABEL: func.func @max_pool2d_default_stride
// CHECK: %[[R:.+]] = nn.max_pool2d %{{.+}} <{kernel_size = array<i64: 2, 2>}> : tensor<8x3x28x28xf32>
// CHECK: return %[[R]] : tensor<8x3x14x14xf32>
func.func @max_pool2d_default_stride(%x: tensor<8x3x28x28xf32>) -> tensor<8x3x14x14xf32> {
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 2, 2>}> : tensor<8x3x28x28xf32>
  return %0 : tensor<8x3x14x14xf32>
}

// -----

// (7 + 2 - 3) / 2 + 1 = 4 and (9 + 2 - 3) / 2 + 1 = 5.
// CHECK-LABEL: func.func @max_pool2d_stride_padding_f16
// CHECK: %[[R:.+]] = nn.max_pool2d %{{.+}} <{kernel_size = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>}> : tensor<1x3x7x9xf16>
// CHECK: return %[[R]] : tensor<1x3x4x5xf16>
func.func @max_pool2d_stride_padding_f16(%x: tensor<1x3x7x9xf16>) -> tensor<1x3x4x5xf16> {
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                          padding = array<i64: 1, 1>}> : tensor<1x3x7x9xf16>
  return %0 : tensor<1x3x4x5xf16>
}

// -----

// A window that does not fit is dropped: 7 / 2 rounds down to 3.
// CHECK-LABEL: func.func @avg_pool2d_rounds_down
// CHECK: %[[R:.+]] = nn.avg_pool2d %{{.+}} <{kernel_size = array<i64: 2, 2>}> : tensor<2x4x7x7xf32>
// CHECK: return %[[R]] : tensor<2x4x3x3xf32>
func.func @avg_pool2d_rounds_down(%x: tensor<2x4x7x7xf32>) -> tensor<2x4x3x3xf32> {
  %0 = nn.avg_pool2d %x <{kernel_size = array<i64: 2, 2>}> : tensor<2x4x7x7xf32>
  return %0 : tensor<2x4x3x3xf32>
}

// -----

// Height: (5 - 3) / 1 + 1 = 3. Width: (6 + 2 - 2) / 2 + 1 = 4.
// CHECK-LABEL: func.func @avg_pool2d_rectangular_bf16
// CHECK: %[[R:.+]] = nn.avg_pool2d %{{.+}} <{kernel_size = array<i64: 3, 2>, padding = array<i64: 0, 1>, stride = array<i64: 1, 2>}> : tensor<2x4x5x6xbf16>
// CHECK: return %[[R]] : tensor<2x4x3x4xbf16>
func.func @avg_pool2d_rectangular_bf16(%x: tensor<2x4x5x6xbf16>) -> tensor<2x4x3x4xbf16> {
  %0 = nn.avg_pool2d %x <{kernel_size = array<i64: 3, 2>, stride = array<i64: 1, 2>,
                          padding = array<i64: 0, 1>}> : tensor<2x4x5x6xbf16>
  return %0 : tensor<2x4x3x4xbf16>
}

// -----

// CHECK-LABEL: func.func @embedding_i64_tokens
// CHECK-SAME: (%[[I:[^:]+]]: tensor<4x12xi64>, %[[T:[^:]+]]: tensor<100x32xf32>)
// CHECK: %[[R:.+]] = nn.embedding %[[I]], %[[T]] : tensor<4x12xi64>, tensor<100x32xf32>
// CHECK: return %[[R]] : tensor<4x12x32xf32>
func.func @embedding_i64_tokens(%i: tensor<4x12xi64>, %t: tensor<100x32xf32>)
    -> tensor<4x12x32xf32> {
  %0 = nn.embedding %i, %t : tensor<4x12xi64>, tensor<100x32xf32>
  return %0 : tensor<4x12x32xf32>
}

// -----

// A scalar index selects one row: the result is (D).
// CHECK-LABEL: func.func @embedding_i32_scalar_index_f16
// CHECK: %[[R:.+]] = nn.embedding %{{.+}}, %{{.+}} : tensor<i32>, tensor<10x6xf16>
// CHECK: return %[[R]] : tensor<6xf16>
func.func @embedding_i32_scalar_index_f16(%i: tensor<i32>, %t: tensor<10x6xf16>) -> tensor<6xf16> {
  %0 = nn.embedding %i, %t : tensor<i32>, tensor<10x6xf16>
  return %0 : tensor<6xf16>
}

// -----

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @reshape_flatten
// CHECK: %[[R:.+]] = nn.reshape %{{.+}} <{shape = array<i64: 8, 196>}> : tensor<8x4x7x7xf32>
// CHECK: return %[[R]] : tensor<8x196xf32>
func.func @reshape_flatten(%x: tensor<8x4x7x7xf32>) -> tensor<8x196xf32> {
  %0 = nn.reshape %x <{shape = array<i64: 8, 196>}> : tensor<8x4x7x7xf32>
  return %0 : tensor<8x196xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_split_heads_bf16
// CHECK: %[[R:.+]] = nn.reshape %{{.+}} <{shape = array<i64: 2, 5, 4, 8>}> : tensor<2x5x32xbf16>
// CHECK: return %[[R]] : tensor<2x5x4x8xbf16>
func.func @reshape_split_heads_bf16(%x: tensor<2x5x32xbf16>) -> tensor<2x5x4x8xbf16> {
  %0 = nn.reshape %x <{shape = array<i64: 2, 5, 4, 8>}> : tensor<2x5x32xbf16>
  return %0 : tensor<2x5x4x8xbf16>
}

// -----

// CHECK-LABEL: func.func @reshape_to_scalar_i64
// CHECK: %[[R:.+]] = nn.reshape %{{.+}} <{shape = array<i64>}> : tensor<1x1xi64>
// CHECK: return %[[R]] : tensor<i64>
func.func @reshape_to_scalar_i64(%x: tensor<1x1xi64>) -> tensor<i64> {
  %0 = nn.reshape %x <{shape = array<i64>}> : tensor<1x1xi64>
  return %0 : tensor<i64>
}

// -----

// CHECK-LABEL: func.func @transpose_last_two
// CHECK: %[[R:.+]] = nn.transpose %{{.+}} <{permutation = array<i64: 0, 1, 3, 2>}> : tensor<2x4x16x8xf32>
// CHECK: return %[[R]] : tensor<2x4x8x16xf32>
func.func @transpose_last_two(%x: tensor<2x4x16x8xf32>) -> tensor<2x4x8x16xf32> {
  %0 = nn.transpose %x <{permutation = array<i64: 0, 1, 3, 2>}> : tensor<2x4x16x8xf32>
  return %0 : tensor<2x4x8x16xf32>
}

// -----

// Result dimension i is input dimension permutation[i]: (2, 3, 5) -> (5, 2, 3).
// CHECK-LABEL: func.func @transpose_rotate_i32
// CHECK: %[[R:.+]] = nn.transpose %{{.+}} <{permutation = array<i64: 2, 0, 1>}> : tensor<2x3x5xi32>
// CHECK: return %[[R]] : tensor<5x2x3xi32>
func.func @transpose_rotate_i32(%x: tensor<2x3x5xi32>) -> tensor<5x2x3xi32> {
  %0 = nn.transpose %x <{permutation = array<i64: 2, 0, 1>}> : tensor<2x3x5xi32>
  return %0 : tensor<5x2x3xi32>
}

// -----

// CHECK-LABEL: func.func @concat_two_axis1
// CHECK-SAME: (%[[A:[^:]+]]: tensor<4x3xf32>, %[[B:[^:]+]]: tensor<4x5xf32>)
// CHECK: %[[R:.+]] = nn.concat %[[A]], %[[B]] <{axis = 1 : i64}> : tensor<4x3xf32>, tensor<4x5xf32>
// CHECK: return %[[R]] : tensor<4x8xf32>
func.func @concat_two_axis1(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) -> tensor<4x8xf32> {
  %0 = nn.concat %a, %b <{axis = 1 : i64}> : tensor<4x3xf32>, tensor<4x5xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @concat_three_negative_axis_f16
// CHECK: %[[R:.+]] = nn.concat %{{.+}}, %{{.+}}, %{{.+}} <{axis = -3 : i64}> : tensor<2x3x4xf16>, tensor<1x3x4xf16>, tensor<4x3x4xf16>
// CHECK: return %[[R]] : tensor<7x3x4xf16>
func.func @concat_three_negative_axis_f16(%a: tensor<2x3x4xf16>, %b: tensor<1x3x4xf16>,
                                          %c: tensor<4x3x4xf16>) -> tensor<7x3x4xf16> {
  %0 = nn.concat %a, %b, %c <{axis = -3 : i64}>
      : tensor<2x3x4xf16>, tensor<1x3x4xf16>, tensor<4x3x4xf16>
  return %0 : tensor<7x3x4xf16>
}

// -----

// CHECK-LABEL: func.func @concat_single_i64
// CHECK: %[[R:.+]] = nn.concat %{{.+}} <{axis = 0 : i64}> : tensor<6xi64>
// CHECK: return %[[R]] : tensor<6xi64>
func.func @concat_single_i64(%a: tensor<6xi64>) -> tensor<6xi64> {
  %0 = nn.concat %a <{axis = 0 : i64}> : tensor<6xi64>
  return %0 : tensor<6xi64>
}

// -----

// CHECK-LABEL: func.func @slice_unit_step
// CHECK: %[[R:.+]] = nn.slice %{{.+}} <{limit = array<i64: 2, 8, 16>, start = array<i64: 0, 0, 8>}> : tensor<2x8x24xf32>
// CHECK: return %[[R]] : tensor<2x8x8xf32>
func.func @slice_unit_step(%x: tensor<2x8x24xf32>) -> tensor<2x8x8xf32> {
  %0 = nn.slice %x <{start = array<i64: 0, 0, 8>, limit = array<i64: 2, 8, 16>}>
      : tensor<2x8x24xf32>
  return %0 : tensor<2x8x8xf32>
}

// -----

// Rows 0, 2, 4, 6 and columns 1, 4, 7: ceil((limit - start) / step).
// CHECK-LABEL: func.func @slice_with_step_i64
// CHECK: %[[R:.+]] = nn.slice %{{.+}} <{limit = array<i64: 7, 10>, start = array<i64: 0, 1>, step = array<i64: 2, 3>}> : tensor<8x10xi64>
// CHECK: return %[[R]] : tensor<4x3xi64>
func.func @slice_with_step_i64(%x: tensor<8x10xi64>) -> tensor<4x3xi64> {
  %0 = nn.slice %x <{start = array<i64: 0, 1>, limit = array<i64: 7, 10>,
                     step = array<i64: 2, 3>}> : tensor<8x10xi64>
  return %0 : tensor<4x3xi64>
}

// -----

// A step larger than the range keeps one element.
// CHECK-LABEL: func.func @slice_step_past_limit_bf16
// CHECK: %[[R:.+]] = nn.slice %{{.+}} <{limit = array<i64: 9>, start = array<i64: 5>, step = array<i64: 8>}> : tensor<9xbf16>
// CHECK: return %[[R]] : tensor<1xbf16>
func.func @slice_step_past_limit_bf16(%x: tensor<9xbf16>) -> tensor<1xbf16> {
  %0 = nn.slice %x <{start = array<i64: 5>, limit = array<i64: 9>, step = array<i64: 8>}>
      : tensor<9xbf16>
  return %0 : tensor<1xbf16>
}

// -----

//===----------------------------------------------------------------------===//
// Reductions and losses
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @reduce_sum_one_axis
// CHECK: %[[R:.+]] = nn.reduce_sum %{{.+}} <{axes = array<i64: 1>}> : tensor<16x10xf32>
// CHECK: return %[[R]] : tensor<16xf32>
func.func @reduce_sum_one_axis(%x: tensor<16x10xf32>) -> tensor<16xf32> {
  %0 = nn.reduce_sum %x <{axes = array<i64: 1>}> : tensor<16x10xf32>
  return %0 : tensor<16xf32>
}

// -----

// CHECK-LABEL: func.func @reduce_sum_keepdim_two_axes_f16
// CHECK: %[[R:.+]] = nn.reduce_sum %{{.+}} <{axes = array<i64: 0, 2>, keepdim = true}> : tensor<2x3x4xf16>
// CHECK: return %[[R]] : tensor<1x3x1xf16>
func.func @reduce_sum_keepdim_two_axes_f16(%x: tensor<2x3x4xf16>) -> tensor<1x3x1xf16> {
  %0 = nn.reduce_sum %x <{axes = array<i64: 0, 2>, keepdim = true}> : tensor<2x3x4xf16>
  return %0 : tensor<1x3x1xf16>
}

// -----

// CHECK-LABEL: func.func @reduce_sum_negative_axis_i32
// CHECK: %[[R:.+]] = nn.reduce_sum %{{.+}} <{axes = array<i64: -1>, keepdim = false}> : tensor<3x4xi32>
// CHECK: return %[[R]] : tensor<3xi32>
func.func @reduce_sum_negative_axis_i32(%x: tensor<3x4xi32>) -> tensor<3xi32> {
  %0 = nn.reduce_sum %x <{axes = array<i64: -1>, keepdim = false}> : tensor<3x4xi32>
  return %0 : tensor<3xi32>
}

// -----

// CHECK-LABEL: func.func @reduce_mean_all_axes_to_scalar
// CHECK: %[[R:.+]] = nn.reduce_mean %{{.+}} <{axes = array<i64: 1, 0>}> : tensor<4x5xf32>
// CHECK: return %[[R]] : tensor<f32>
func.func @reduce_mean_all_axes_to_scalar(%x: tensor<4x5xf32>) -> tensor<f32> {
  %0 = nn.reduce_mean %x <{axes = array<i64: 1, 0>}> : tensor<4x5xf32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @reduce_mean_keepdim_bf16
// CHECK: %[[R:.+]] = nn.reduce_mean %{{.+}} <{axes = array<i64: -1>, keepdim = true}> : tensor<2x5x16xbf16>
// CHECK: return %[[R]] : tensor<2x5x1xbf16>
func.func @reduce_mean_keepdim_bf16(%x: tensor<2x5x16xbf16>) -> tensor<2x5x1xbf16> {
  %0 = nn.reduce_mean %x <{axes = array<i64: -1>, keepdim = true}> : tensor<2x5x16xbf16>
  return %0 : tensor<2x5x1xbf16>
}

// -----

// CHECK-LABEL: func.func @reduce_max_middle_axis_f16
// CHECK: %[[R:.+]] = nn.reduce_max %{{.+}} <{axes = array<i64: -2>}> : tensor<2x3x4xf16>
// CHECK: return %[[R]] : tensor<2x4xf16>
func.func @reduce_max_middle_axis_f16(%x: tensor<2x3x4xf16>) -> tensor<2x4xf16> {
  %0 = nn.reduce_max %x <{axes = array<i64: -2>}> : tensor<2x3x4xf16>
  return %0 : tensor<2x4xf16>
}

// -----

// CHECK-LABEL: func.func @reduce_max_keepdim_i64
// CHECK: %[[R:.+]] = nn.reduce_max %{{.+}} <{axes = array<i64: 0>, keepdim = true}> : tensor<6x2xi64>
// CHECK: return %[[R]] : tensor<1x2xi64>
func.func @reduce_max_keepdim_i64(%x: tensor<6x2xi64>) -> tensor<1x2xi64> {
  %0 = nn.reduce_max %x <{axes = array<i64: 0>, keepdim = true}> : tensor<6x2xi64>
  return %0 : tensor<1x2xi64>
}

// -----

// CHECK-LABEL: func.func @cross_entropy_i64_labels
// CHECK-SAME: (%[[L:[^:]+]]: tensor<16x10xf32>, %[[T:[^:]+]]: tensor<16xi64>)
// CHECK: %[[R:.+]] = nn.cross_entropy %[[L]], %[[T]] : tensor<16x10xf32>, tensor<16xi64>
// CHECK: return %[[R]] : tensor<f32>
func.func @cross_entropy_i64_labels(%l: tensor<16x10xf32>, %t: tensor<16xi64>) -> tensor<f32> {
  %0 = nn.cross_entropy %l, %t : tensor<16x10xf32>, tensor<16xi64>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @cross_entropy_i32_labels_sequence_f16
// CHECK: %[[R:.+]] = nn.cross_entropy %{{.+}}, %{{.+}} <{label_smoothing = 1.000000e-01 : f64, reduction = #nn<reduction sum>}> : tensor<4x8x50xf16>, tensor<4x8xi32>
// CHECK: return %[[R]] : tensor<f16>
func.func @cross_entropy_i32_labels_sequence_f16(%l: tensor<4x8x50xf16>, %t: tensor<4x8xi32>)
    -> tensor<f16> {
  %0 = nn.cross_entropy %l, %t <{label_smoothing = 1.000000e-01 : f64, reduction = #nn<reduction sum>}>
      : tensor<4x8x50xf16>, tensor<4x8xi32>
  return %0 : tensor<f16>
}

// -----

// One position: the class indices are a scalar.
// CHECK-LABEL: func.func @cross_entropy_scalar_label
// CHECK: %[[R:.+]] = nn.cross_entropy %{{.+}}, %{{.+}} : tensor<10xf32>, tensor<i64>
// CHECK: return %[[R]] : tensor<f32>
func.func @cross_entropy_scalar_label(%l: tensor<10xf32>, %t: tensor<i64>) -> tensor<f32> {
  %0 = nn.cross_entropy %l, %t : tensor<10xf32>, tensor<i64>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @cross_entropy_soft_targets_bf16
// CHECK: %[[R:.+]] = nn.cross_entropy %{{.+}}, %{{.+}} <{reduction = #nn<reduction mean>}> : tensor<16x10xbf16>, tensor<16x10xbf16>
// CHECK: return %[[R]] : tensor<bf16>
func.func @cross_entropy_soft_targets_bf16(%l: tensor<16x10xbf16>, %t: tensor<16x10xbf16>)
    -> tensor<bf16> {
  %0 = nn.cross_entropy %l, %t <{reduction = #nn<reduction mean>}> : tensor<16x10xbf16>, tensor<16x10xbf16>
  return %0 : tensor<bf16>
}

// -----

// CHECK-LABEL: func.func @cross_entropy_soft_targets_full_smoothing
// CHECK: %[[R:.+]] = nn.cross_entropy %{{.+}}, %{{.+}} <{label_smoothing = 1.000000e+00 : f64}> : tensor<2x3x5xf32>, tensor<2x3x5xf32>
// CHECK: return %[[R]] : tensor<f32>
func.func @cross_entropy_soft_targets_full_smoothing(%l: tensor<2x3x5xf32>,
                                                     %t: tensor<2x3x5xf32>) -> tensor<f32> {
  %0 = nn.cross_entropy %l, %t <{label_smoothing = 1.0 : f64}>
      : tensor<2x3x5xf32>, tensor<2x3x5xf32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @mse_loss_f32
// CHECK-SAME: (%[[P:[^:]+]]: tensor<64x1xf32>, %[[T:[^:]+]]: tensor<64x1xf32>)
// CHECK: %[[R:.+]] = nn.mse_loss %[[P]], %[[T]] : tensor<64x1xf32>, tensor<64x1xf32>
// CHECK: return %[[R]] : tensor<f32>
func.func @mse_loss_f32(%p: tensor<64x1xf32>, %t: tensor<64x1xf32>) -> tensor<f32> {
  %0 = nn.mse_loss %p, %t : tensor<64x1xf32>, tensor<64x1xf32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @mse_loss_f16
// CHECK: %[[R:.+]] = nn.mse_loss %{{.+}}, %{{.+}} : tensor<3x4x5xf16>, tensor<3x4x5xf16>
// CHECK: return %[[R]] : tensor<f16>
func.func @mse_loss_f16(%p: tensor<3x4x5xf16>, %t: tensor<3x4x5xf16>) -> tensor<f16> {
  %0 = nn.mse_loss %p, %t : tensor<3x4x5xf16>, tensor<3x4x5xf16>
  return %0 : tensor<f16>
}

// -----

// CHECK-LABEL: func.func @sqrt_exp_log
// CHECK: %[[S:.+]] = nn.sqrt %{{.+}} : tensor<4x8xf32>
// CHECK: %[[E:.+]] = nn.exp %[[S]] : tensor<4x8xf32>
// CHECK: %[[L:.+]] = nn.log %[[E]] : tensor<4x8xf32>
// CHECK: return %[[L]] : tensor<4x8xf32>
func.func @sqrt_exp_log(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.sqrt %x : tensor<4x8xf32>
  %1 = nn.exp %0 : tensor<4x8xf32>
  %2 = nn.log %1 : tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @relu_grad_one_hot
// CHECK: %[[G:.+]] = nn.relu_grad %{{.+}}, %{{.+}} : tensor<4x3xf32>, tensor<4x3xf32>
// CHECK: %[[H:.+]] = nn.one_hot %{{.+}} <{classes = 3 : i64, dtype = f32}> : tensor<4xi64>
// CHECK: return %[[G]], %[[H]] : tensor<4x3xf32>, tensor<4x3xf32>
func.func @relu_grad_one_hot(%y: tensor<4x3xf32>, %g: tensor<4x3xf32>, %l: tensor<4xi64>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
  %0 = nn.relu_grad %y, %g : tensor<4x3xf32>, tensor<4x3xf32>
  %1 = nn.one_hot %l <{classes = 3 : i64, dtype = f32}> : tensor<4xi64>
  return %0, %1 : tensor<4x3xf32>, tensor<4x3xf32>
}

// -----

// CHECK-LABEL: func.func @backward_ops
// CHECK: %[[G:.+]] = nn.gelu_grad %{{.+}}, %{{.+}} <{approximate = #nn<approximation tanh>}> : tensor<2x8xf32>, tensor<2x8xf32>
// CHECK: %[[E:.+]] = nn.embedding_grad %{{.+}}, %{{.+}} <{rows = 10 : i64}> : tensor<2x3xi64>, tensor<2x3x8xf32>
// CHECK: %[[P:.+]] = nn.pad %{{.+}} <{high = array<i64: 0, 4>, low = array<i64: 1, 2>}> : tensor<2x8xf32>
// CHECK: %[[M:.+]] = nn.causal_mask %{{.+}} <{fill = 0.000000e+00 : f64}> : tensor<3x3xf32>
// CHECK: return %[[G]], %[[E]], %[[P]], %[[M]] : tensor<2x8xf32>, tensor<10x8xf32>, tensor<3x14xf32>, tensor<3x3xf32>
func.func @backward_ops(%x: tensor<2x8xf32>, %g: tensor<2x8xf32>, %i: tensor<2x3xi64>,
                        %ge: tensor<2x3x8xf32>, %s: tensor<3x3xf32>)
    -> (tensor<2x8xf32>, tensor<10x8xf32>, tensor<3x14xf32>, tensor<3x3xf32>) {
  %0 = nn.gelu_grad %x, %g <{approximate = #nn<approximation tanh>}> : tensor<2x8xf32>, tensor<2x8xf32>
  %1 = nn.embedding_grad %i, %ge <{rows = 10 : i64}> : tensor<2x3xi64>, tensor<2x3x8xf32>
  %2 = nn.pad %x <{low = array<i64: 1, 2>, high = array<i64: 0, 4>}> : tensor<2x8xf32>
  %3 = nn.causal_mask %s <{fill = 0.0 : f64}> : tensor<3x3xf32>
  return %0, %1, %2, %3 : tensor<2x8xf32>, tensor<10x8xf32>, tensor<3x14xf32>, tensor<3x3xf32>
}

// -----

// CHECK-LABEL: func.func @conv_and_pool_backward
// CHECK: nn.conv2d_grad_input %{{.+}}, %{{.+}} <{padding = array<i64: 1, 1>, shape = array<i64: 2, 3, 8, 8>, stride = array<i64: 2, 2>}> : tensor<2x4x4x4xf32>, tensor<4x3x3x3xf32>
// CHECK: nn.conv2d_grad_weight %{{.+}}, %{{.+}} <{padding = array<i64: 1, 1>, shape = array<i64: 4, 3, 3, 3>, stride = array<i64: 2, 2>}> : tensor<2x3x8x8xf32>, tensor<2x4x4x4xf32>
// CHECK: nn.max_pool2d_grad %{{.+}}, %{{.+}} <{kernel_size = array<i64: 2, 2>}> : tensor<2x3x8x8xf32>, tensor<2x3x4x4xf32>
// CHECK: nn.stop_gradient %{{.+}} : tensor<2x3x8x8xf32>
func.func @conv_and_pool_backward(%x: tensor<2x3x8x8xf32>, %w: tensor<4x3x3x3xf32>,
                                  %g: tensor<2x4x4x4xf32>, %gp: tensor<2x3x4x4xf32>)
    -> (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<2x3x8x8xf32>, tensor<2x3x8x8xf32>) {
  %0 = nn.conv2d_grad_input %g, %w <{stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, shape = array<i64: 2, 3, 8, 8>}> : tensor<2x4x4x4xf32>, tensor<4x3x3x3xf32>
  %1 = nn.conv2d_grad_weight %x, %g <{stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, shape = array<i64: 4, 3, 3, 3>}> : tensor<2x3x8x8xf32>, tensor<2x4x4x4xf32>
  %2 = nn.max_pool2d_grad %x, %gp <{kernel_size = array<i64: 2, 2>}> : tensor<2x3x8x8xf32>, tensor<2x3x4x4xf32>
  %3 = nn.stop_gradient %x : tensor<2x3x8x8xf32>
  return %0, %1, %2, %3 : tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<2x3x8x8xf32>, tensor<2x3x8x8xf32>
}

// -----

// CHECK-LABEL: func.func @pad_interior_and_equal
// CHECK: nn.pad %{{.+}} <{high = array<i64: 0, 2>, interior = array<i64: 1, 2>, low = array<i64: 1, 0>}> : tensor<2x3xf32>
// CHECK: nn.equal %{{.+}}, %{{.+}} : tensor<2x3xf32>, tensor<2x1xf32>
func.func @pad_interior_and_equal(%x: tensor<2x3xf32>, %m: tensor<2x1xf32>) -> (tensor<4x9xf32>, tensor<2x3xf32>) {
  %0 = nn.pad %x <{low = array<i64: 1, 0>, high = array<i64: 0, 2>, interior = array<i64: 1, 2>}> : tensor<2x3xf32>
  %1 = nn.equal %x, %m : tensor<2x3xf32>, tensor<2x1xf32>
  return %0, %1 : tensor<4x9xf32>, tensor<2x3xf32>
}

// -----

// A cast back to the narrow type of a value just widened folds away; narrowing first does not.
// RUN: %nnc-opt %s -split-input-file -canonicalize | FileCheck %s --check-prefix=FOLD
// FOLD-LABEL: func.func @cast_folding
// FOLD-SAME: (%[[X:[^:]+]]: tensor<4xbf16>, %[[Y:[^:]+]]: tensor<4xf32>)
// FOLD: %[[N:.+]] = nn.cast %[[Y]] <{dtype = bf16}> : tensor<4xf32>
// FOLD: %[[W:.+]] = nn.cast %[[N]] <{dtype = f32}> : tensor<4xbf16>
// FOLD: return %[[X]], %[[W]]
func.func @cast_folding(%x: tensor<4xbf16>, %y: tensor<4xf32>) -> (tensor<4xbf16>, tensor<4xf32>) {
  %0 = nn.cast %x <{dtype = f32}> : tensor<4xbf16>
  %1 = nn.cast %0 <{dtype = bf16}> : tensor<4xf32>
  %2 = nn.cast %y <{dtype = bf16}> : tensor<4xf32>
  %3 = nn.cast %2 <{dtype = f32}> : tensor<4xbf16>
  return %1, %3 : tensor<4xbf16>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @batch_norm_2d
// CHECK: %[[R:.+]] = nn.batch_norm %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} <{epsilon = 1.000000e-03 : f64, momentum = 2.000000e-01 : f64}> : tensor<8x4x5x5xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
// CHECK: return %[[R]] : tensor<8x4x5x5xf32>
func.func @batch_norm_2d(%x: tensor<8x4x5x5xf32>, %g: tensor<4xf32>, %b: tensor<4xf32>,
                         %m: tensor<4xf32>, %v: tensor<4xf32>) -> tensor<8x4x5x5xf32> {
  %0 = nn.batch_norm %x, %g, %b, %m, %v <{epsilon = 1.0e-3 : f64, momentum = 0.2 : f64}>
      : tensor<8x4x5x5xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %0 : tensor<8x4x5x5xf32>
}

// -----

// CHECK-LABEL: func.func @batch_norm_training
// CHECK: nn.batch_norm_training %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} <{epsilon = 1.000000e-03 : f64}> : tensor<8x4x5x5xf32>, tensor<1x4x1x1xf32>, tensor<1x4x1x1xf32>, tensor<4xf32>, tensor<4xf32>
func.func @batch_norm_training(%x: tensor<8x4x5x5xf32>, %m: tensor<1x4x1x1xf32>,
                               %v: tensor<1x4x1x1xf32>, %g: tensor<4xf32>, %b: tensor<4xf32>)
    -> tensor<8x4x5x5xf32> {
  %0 = nn.batch_norm_training %x, %m, %v, %g, %b <{epsilon = 1.0e-3 : f64}>
      : tensor<8x4x5x5xf32>, tensor<1x4x1x1xf32>, tensor<1x4x1x1xf32>, tensor<4xf32>, tensor<4xf32>
  return %0 : tensor<8x4x5x5xf32>
}

// -----

// CHECK-LABEL: func.func @batch_norm_1d
// CHECK: nn.batch_norm {{.+}} : tensor<8x16xf32>, tensor<16xf32>
func.func @batch_norm_1d(%x: tensor<8x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>,
                         %m: tensor<16xf32>, %v: tensor<16xf32>) -> tensor<8x16xf32> {
  %0 = nn.batch_norm %x, %g, %b, %m, %v
      : tensor<8x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// CHECK-LABEL: func.func @clamp_and_grad
// CHECK: %[[Y:.+]] = nn.clamp %{{.+}} <{max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}> : tensor<4x3xf32>
// CHECK: %[[M:.+]] = nn.clamp %[[Y]] <{max = 1.000000e+00 : f64}> : tensor<4x3xf32>
// CHECK: %[[G:.+]] = nn.clamp_grad %{{.+}}, %{{.+}} <{max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}> : tensor<4x3xf32>, tensor<4x3xf32>
// CHECK: return %[[M]], %[[G]] : tensor<4x3xf32>, tensor<4x3xf32>
func.func @clamp_and_grad(%x: tensor<4x3xf32>, %g: tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
  %0 = nn.clamp %x <{max = 6.0 : f64, min = 0.0 : f64}> : tensor<4x3xf32>
  %1 = nn.clamp %0 <{max = 1.0 : f64}> : tensor<4x3xf32>
  %2 = nn.clamp_grad %x, %g <{max = 6.0 : f64, min = 0.0 : f64}> : tensor<4x3xf32>, tensor<4x3xf32>
  return %1, %2 : tensor<4x3xf32>, tensor<4x3xf32>
}
