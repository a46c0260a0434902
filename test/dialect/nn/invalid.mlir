// One case per verifier message of the nn ops (the diag.fail calls of each inferReturnTypes in
// NNOps.cpp), then a few ODS constraint cases. Inference runs while the custom form is parsed, so
// most errors come from the parser; the generic form reports them from the verifier, followed by
// "failed to infer returned types".
// RUN: %nnc-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// constant
//===----------------------------------------------------------------------===//

func.func @constant_vector_value() {
  // expected-error @+1 {{'nn.constant' op expects a ranked tensor value}}
  %0 = nn.constant dense<1.0> : vector<4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

func.func @linear_scalar_input(%x: tensor<f32>, %w: tensor<8x1xf32>) {
  // expected-error @+1 {{'nn.linear' op expects an input of rank >= 1, got 'tensor<f32>'}}
  %0 = nn.linear %x, %w : tensor<f32>, tensor<8x1xf32>
  return
}

// -----

func.func @linear_weight_rank_3(%x: tensor<4x16xf32>, %w: tensor<2x8x16xf32>) {
  // expected-error @+1 {{'nn.linear' op expects a weight of shape (out, in), got 'tensor<2x8x16xf32>'}}
  %0 = nn.linear %x, %w : tensor<4x16xf32>, tensor<2x8x16xf32>
  return
}

// -----

func.func @linear_mixed_input_weight_dtypes(%x: tensor<4x16xf32>, %w: tensor<8x16xf16>) {
  // expected-error @+1 {{'nn.linear' op expects input and weight to have one element type, got 'tensor<4x16xf32>' and 'tensor<8x16xf16>'}}
  %0 = nn.linear %x, %w : tensor<4x16xf32>, tensor<8x16xf16>
  return
}

// -----

func.func @linear_in_features_mismatch(%x: tensor<4x16xf32>, %w: tensor<8x15xf32>) {
  // expected-error @+1 {{'nn.linear' op expects weight (out, in) with in = 16 (the input's last dimension), got 'tensor<8x15xf32>'}}
  %0 = nn.linear %x, %w : tensor<4x16xf32>, tensor<8x15xf32>
  return
}

// -----

func.func @linear_bias_wrong_size(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'nn.linear' op expects a bias of shape (8), got 'tensor<4xf32>'}}
  %0 = nn.linear %x, %w, %b : tensor<4x16xf32>, tensor<8x16xf32>, tensor<4xf32>
  return
}

// -----

func.func @linear_bias_rank_2(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{'nn.linear' op expects a bias of shape (8), got 'tensor<1x8xf32>'}}
  %0 = nn.linear %x, %w, %b : tensor<4x16xf32>, tensor<8x16xf32>, tensor<1x8xf32>
  return
}

// -----

func.func @linear_bias_dtype(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xbf16>) {
  // expected-error @+1 {{'nn.linear' op expects bias and weight to have one element type, got 'tensor<8xbf16>' and 'tensor<8x16xf32>'}}
  %0 = nn.linear %x, %w, %b : tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xbf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// matmul
//===----------------------------------------------------------------------===//

func.func @matmul_vector_operand(%a: tensor<8xf32>, %b: tensor<8x4xf32>) {
  // expected-error @+1 {{'nn.matmul' op expects operands of rank >= 2, got 'tensor<8xf32>' and 'tensor<8x4xf32>'}}
  %0 = nn.matmul %a, %b : tensor<8xf32>, tensor<8x4xf32>
  return
}

// -----

func.func @matmul_mixed_dtypes(%a: tensor<4x8xf16>, %b: tensor<8x4xbf16>) {
  // expected-error @+1 {{'nn.matmul' op expects operands to have one element type, got 'tensor<4x8xf16>' and 'tensor<8x4xbf16>'}}
  %0 = nn.matmul %a, %b : tensor<4x8xf16>, tensor<8x4xbf16>
  return
}

// -----

func.func @matmul_contracting_mismatch(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) {
  // expected-error @+1 {{'nn.matmul' op expects contracting dimensions to match, got 'tensor<4x8xf32>' and 'tensor<4x8xf32>'}}
  %0 = nn.matmul %a, %b : tensor<4x8xf32>, tensor<4x8xf32>
  return
}

// -----

func.func @matmul_batch_not_broadcastable(%a: tensor<2x4x8xf32>, %b: tensor<3x8x5xf32>) {
  // expected-error @+1 {{'nn.matmul' op expects broadcastable batch dimensions, got 'tensor<2x4x8xf32>' and 'tensor<3x8x5xf32>'}}
  %0 = nn.matmul %a, %b : tensor<2x4x8xf32>, tensor<3x8x5xf32>
  return
}

// -----

// Folded layouts, in the generic form: the custom form infers the result type while parsing,
// before it reads the permutations (its assembly format has attr-dict but no prop-dict).
func.func @matmul_lhs_permutation_wrong_length(%a: tensor<8x4xf32>, %b: tensor<8x5xf32>) {
  // expected-error @+2 {{'nn.matmul' op expects lhs_permutation to permute the 2 dimensions of 'tensor<8x4xf32>'}}
  // expected-error @+1 {{'nn.matmul' op failed to infer returned types}}
  %0 = "nn.matmul"(%a, %b) <{lhs_permutation = array<i64: 1, 0, 2>}> : (tensor<8x4xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @matmul_lhs_permutation_repeats(%a: tensor<8x4xf32>, %b: tensor<8x5xf32>) {
  // expected-error @+2 {{'nn.matmul' op expects lhs_permutation to permute the 2 dimensions of 'tensor<8x4xf32>'}}
  // expected-error @+1 {{'nn.matmul' op failed to infer returned types}}
  %0 = "nn.matmul"(%a, %b) <{lhs_permutation = array<i64: 1, 1>}> : (tensor<8x4xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @matmul_rhs_permutation_out_of_range(%a: tensor<4x8xf32>, %b: tensor<5x8xf32>) {
  // expected-error @+2 {{'nn.matmul' op expects rhs_permutation to permute the 2 dimensions of 'tensor<5x8xf32>'}}
  // expected-error @+1 {{'nn.matmul' op failed to infer returned types}}
  %0 = "nn.matmul"(%a, %b) <{rhs_permutation = array<i64: 1, 2>}> : (tensor<4x8xf32>, tensor<5x8xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @matmul_result_permutation_wrong_length(%a: tensor<2x4x8xf32>, %b: tensor<2x8x5xf32>) {
  // expected-error @+2 {{'nn.matmul' op expects result_permutation to permute the 3 dimensions of 'tensor<2x4x5xf32>'}}
  // expected-error @+1 {{'nn.matmul' op failed to infer returned types}}
  %0 = "nn.matmul"(%a, %b) <{result_permutation = array<i64: 1, 0>}> : (tensor<2x4x8xf32>, tensor<2x8x5xf32>) -> tensor<4x2x5xf32>
  return
}

// -----

// The contraction is checked on the permuted operands: (4, 8) read transposed is (8, 4).
func.func @matmul_permuted_contracting_mismatch(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>) {
  // expected-error @+2 {{'nn.matmul' op expects contracting dimensions to match, got 'tensor<8x4xf32>' and 'tensor<8x5xf32>'}}
  // expected-error @+1 {{'nn.matmul' op failed to infer returned types}}
  %0 = "nn.matmul"(%a, %b) <{lhs_permutation = array<i64: 1, 0>}> : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// conv2d
//===----------------------------------------------------------------------===//

func.func @conv2d_input_rank_3(%x: tensor<3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects an input of shape (N, C, H, W), got 'tensor<3x8x8xf32>'}}
  %0 = nn.conv2d %x, %w : tensor<3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv2d_weight_rank_2(%x: tensor<1x3x8x8xf32>, %w: tensor<4x27xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects a weight of shape (O, C / groups, KH, KW), got 'tensor<4x27xf32>'}}
  %0 = nn.conv2d %x, %w : tensor<1x3x8x8xf32>, tensor<4x27xf32>
  return
}

// -----

func.func @conv2d_mixed_dtypes(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf16>) {
  // expected-error @+1 {{'nn.conv2d' op expects input and weight to have one element type, got 'tensor<1x3x8x8xf32>' and 'tensor<4x3x3x3xf16>'}}
  %0 = nn.conv2d %x, %w : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf16>
  return
}

// -----

func.func @conv2d_stride_three_entries(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects stride to have 2 entries (height, width), got 3}}
  %0 = nn.conv2d %x, %w <{stride = array<i64: 1, 1, 1>}> : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv2d_zero_stride(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects stride entries >= 1, got 0}}
  %0 = nn.conv2d %x, %w <{stride = array<i64: 1, 0>}> : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv2d_padding_one_entry(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects padding to have 2 entries (height, width), got 1}}
  %0 = nn.conv2d %x, %w <{padding = array<i64: 1>}> : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv2d_negative_padding(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects padding entries >= 0, got -1}}
  %0 = nn.conv2d %x, %w <{padding = array<i64: -1, 0>}> : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv2d_dilation_no_entries(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects dilation to have 2 entries (height, width), got 0}}
  %0 = nn.conv2d %x, %w <{dilation = array<i64>}> : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv2d_zero_dilation(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects dilation entries >= 1, got 0}}
  %0 = nn.conv2d %x, %w <{dilation = array<i64: 0, 1>}> : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv2d_zero_groups(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects groups (0) to divide input channels (4) and output channels (6)}}
  %0 = nn.conv2d %x, %w <{groups = 0 : i64}> : tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>
  return
}

// -----

func.func @conv2d_groups_not_dividing_input_channels(%x: tensor<1x4x8x8xf32>,
                                                     %w: tensor<6x2x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects groups (3) to divide input channels (4) and output channels (6)}}
  %0 = nn.conv2d %x, %w <{groups = 3 : i64}> : tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>
  return
}

// -----

func.func @conv2d_groups_not_dividing_output_channels(%x: tensor<1x4x8x8xf32>,
                                                      %w: tensor<5x2x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects groups (2) to divide input channels (4) and output channels (5)}}
  %0 = nn.conv2d %x, %w <{groups = 2 : i64}> : tensor<1x4x8x8xf32>, tensor<5x2x3x3xf32>
  return
}

// -----

func.func @conv2d_weight_channels_ignore_groups(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects weight dimension 1 to be input channels / groups = 2, got 'tensor<6x4x3x3xf32>'}}
  %0 = nn.conv2d %x, %w <{groups = 2 : i64}> : tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>
  return
}

// -----

func.func @conv2d_bias_wrong_size(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>,
                                  %b: tensor<3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects a bias of shape (4), got 'tensor<3xf32>'}}
  %0 = nn.conv2d %x, %w, %b : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>
  return
}

// -----

func.func @conv2d_bias_dtype(%x: tensor<1x3x8x8xbf16>, %w: tensor<4x3x3x3xbf16>,
                             %b: tensor<4xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects bias and weight to have one element type, got 'tensor<4xf32>' and 'tensor<4x3x3x3xbf16>'}}
  %0 = nn.conv2d %x, %w, %b : tensor<1x3x8x8xbf16>, tensor<4x3x3x3xbf16>, tensor<4xf32>
  return
}

// -----

func.func @conv2d_kernel_larger_than_input(%x: tensor<1x3x4x8xf32>, %w: tensor<4x3x5x5xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects the kernel extent (5) to fit the padded input (4) in spatial dimension 0}}
  %0 = nn.conv2d %x, %w : tensor<1x3x4x8xf32>, tensor<4x3x5x5xf32>
  return
}

// -----

// Dilation 4 stretches a 3-wide kernel to 9 > 8 + 2 * 0.
func.func @conv2d_dilated_kernel_too_wide(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'nn.conv2d' op expects the kernel extent (9) to fit the padded input (8) in spatial dimension 1}}
  %0 = nn.conv2d %x, %w <{dilation = array<i64: 1, 4>}> : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// add, sub, mul, div
//===----------------------------------------------------------------------===//

func.func @add_mixed_float_dtypes(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{'nn.add' op expects operands to have one element type, got 'tensor<4xf32>' and 'tensor<4xf16>'}}
  %0 = nn.add %a, %b : tensor<4xf32>, tensor<4xf16>
  return
}

// -----

func.func @sub_not_broadcastable(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'nn.sub' op expects broadcastable shapes, got 'tensor<4x3xf32>' and 'tensor<4x5xf32>'}}
  %0 = nn.sub %a, %b : tensor<4x3xf32>, tensor<4x5xf32>
  return
}

// -----

func.func @mul_mixed_integer_widths(%a: tensor<4xi32>, %b: tensor<4xi64>) {
  // expected-error @+1 {{'nn.mul' op expects operands to have one element type, got 'tensor<4xi32>' and 'tensor<4xi64>'}}
  %0 = nn.mul %a, %b : tensor<4xi32>, tensor<4xi64>
  return
}

// -----

func.func @div_trailing_mismatch(%a: tensor<2x3x4xf16>, %b: tensor<3x2xf16>) {
  // expected-error @+1 {{'nn.div' op expects broadcastable shapes, got 'tensor<2x3x4xf16>' and 'tensor<3x2xf16>'}}
  %0 = nn.div %a, %b : tensor<2x3x4xf16>, tensor<3x2xf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// gelu, dropout, causal_mask
//===----------------------------------------------------------------------===//

func.func @gelu_unknown_approximation(%x: tensor<4xf32>) {
  // expected-error @+2 {{expected ::nnc::nn::Approximation to be one of: none, tanh}}
  // expected-error @+1 {{failed to parse NN_ApproximationAttr parameter 'value'}}
  %0 = nn.gelu %x <{approximate = #nn<approximation fast>}> : tensor<4xf32>
  return
}

// -----

func.func @dropout_rate_one(%x: tensor<4xf32>) {
  // expected-error @+1 {{'nn.dropout' op expects rate in [0, 1), got 1}}
  %0 = nn.dropout %x <{rate = 1.0 : f64}> : tensor<4xf32>
  return
}

// -----

func.func @dropout_negative_rate(%x: tensor<4xf32>) {
  // expected-error @+1 {{'nn.dropout' op expects rate in [0, 1), got -0.1}}
  %0 = nn.dropout %x <{rate = -0.1 : f64}> : tensor<4xf32>
  return
}

// -----

func.func @causal_mask_not_square(%x: tensor<2x4x5xf32>) {
  // expected-error @+1 {{'nn.causal_mask' op expects square trailing dimensions (..., T, T), got 'tensor<2x4x5xf32>'}}
  %0 = nn.causal_mask %x : tensor<2x4x5xf32>
  return
}

// -----

func.func @causal_mask_rank_1(%x: tensor<4xf32>) {
  // expected-error @+1 {{'nn.causal_mask' op expects square trailing dimensions (..., T, T), got 'tensor<4xf32>'}}
  %0 = nn.causal_mask %x : tensor<4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// softmax, log_softmax, layer_norm
//===----------------------------------------------------------------------===//

func.func @softmax_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{'nn.softmax' op expects an input of rank >= 1, got 'tensor<f32>'}}
  %0 = nn.softmax %x : tensor<f32>
  return
}

// -----

func.func @softmax_axis_past_rank(%x: tensor<4x10xf32>) {
  // expected-error @+1 {{'nn.softmax' op expects axis 2 to be in [-2, 2)}}
  %0 = nn.softmax %x <{axis = 2 : i64}> : tensor<4x10xf32>
  return
}

// -----

func.func @log_softmax_scalar(%x: tensor<bf16>) {
  // expected-error @+1 {{'nn.log_softmax' op expects an input of rank >= 1, got 'tensor<bf16>'}}
  %0 = nn.log_softmax %x : tensor<bf16>
  return
}

// -----

func.func @log_softmax_axis_below_minus_rank(%x: tensor<4x10xf32>) {
  // expected-error @+1 {{'nn.log_softmax' op expects axis -3 to be in [-2, 2)}}
  %0 = nn.log_softmax %x <{axis = -3 : i64}> : tensor<4x10xf32>
  return
}

// -----

func.func @layer_norm_weight_bias_shapes_differ(%x: tensor<4x16xf32>, %g: tensor<16xf32>,
                                                %b: tensor<4x16xf32>) {
  // expected-error @+1 {{'nn.layer_norm' op expects weight and bias of one shape, got 'tensor<16xf32>' and 'tensor<4x16xf32>'}}
  %0 = nn.layer_norm %x, %g, %b : tensor<4x16xf32>, tensor<16xf32>, tensor<4x16xf32>
  return
}

// -----

func.func @layer_norm_not_trailing(%x: tensor<4x16xf32>, %g: tensor<4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'nn.layer_norm' op expects weight to match the input's trailing dimensions, got 'tensor<4xf32>' for input 'tensor<4x16xf32>'}}
  %0 = nn.layer_norm %x, %g, %b : tensor<4x16xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @layer_norm_weight_rank_above_input(%x: tensor<16xf32>, %g: tensor<1x16xf32>,
                                              %b: tensor<1x16xf32>) {
  // expected-error @+1 {{'nn.layer_norm' op expects weight to match the input's trailing dimensions, got 'tensor<1x16xf32>' for input 'tensor<16xf32>'}}
  %0 = nn.layer_norm %x, %g, %b : tensor<16xf32>, tensor<1x16xf32>, tensor<1x16xf32>
  return
}

// -----

func.func @layer_norm_scalar_weight(%x: tensor<16xf32>, %g: tensor<f32>, %b: tensor<f32>) {
  // expected-error @+1 {{'nn.layer_norm' op expects weight to match the input's trailing dimensions, got 'tensor<f32>' for input 'tensor<16xf32>'}}
  %0 = nn.layer_norm %x, %g, %b : tensor<16xf32>, tensor<f32>, tensor<f32>
  return
}

// -----

func.func @layer_norm_weight_dtype(%x: tensor<4x16xf32>, %g: tensor<16xf16>, %b: tensor<16xf16>) {
  // expected-error @+1 {{'nn.layer_norm' op expects input and weight to have one element type, got 'tensor<4x16xf32>' and 'tensor<16xf16>'}}
  %0 = nn.layer_norm %x, %g, %b : tensor<4x16xf32>, tensor<16xf16>, tensor<16xf16>
  return
}

// -----

func.func @layer_norm_bias_dtype(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %b: tensor<16xbf16>) {
  // expected-error @+1 {{'nn.layer_norm' op expects input and bias to have one element type, got 'tensor<4x16xf32>' and 'tensor<16xbf16>'}}
  %0 = nn.layer_norm %x, %g, %b : tensor<4x16xf32>, tensor<16xf32>, tensor<16xbf16>
  return
}

// -----

func.func @layer_norm_zero_epsilon(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{'nn.layer_norm' op expects a positive epsilon}}
  %0 = nn.layer_norm %x, %g, %b <{epsilon = 0.0 : f64}>
      : tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// max_pool2d, avg_pool2d, embedding
//===----------------------------------------------------------------------===//

func.func @max_pool2d_input_rank_3(%x: tensor<3x8x8xf32>) {
  // expected-error @+1 {{'nn.max_pool2d' op expects an input of shape (N, C, H, W), got 'tensor<3x8x8xf32>'}}
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 2, 2>}> : tensor<3x8x8xf32>
  return
}

// -----

func.func @max_pool2d_kernel_one_entry(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'nn.max_pool2d' op expects kernel_size to have 2 entries (height, width), got 1}}
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 2>}> : tensor<1x3x8x8xf32>
  return
}

// -----

func.func @max_pool2d_zero_kernel(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'nn.max_pool2d' op expects kernel_size entries >= 1, got 0}}
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 0, 2>}> : tensor<1x3x8x8xf32>
  return
}

// -----

func.func @max_pool2d_stride_three_entries(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'nn.max_pool2d' op expects stride to have 2 entries (height, width), got 3}}
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 2, 2>, stride = array<i64: 2, 2, 2>}>
      : tensor<1x3x8x8xf32>
  return
}

// -----

func.func @max_pool2d_padding_over_half_kernel(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'nn.max_pool2d' op expects padding at most half the kernel size, got padding 2 for kernel 3}}
  %0 = nn.max_pool2d %x <{kernel_size = array<i64: 3, 3>, padding = array<i64: 2, 2>}>
      : tensor<1x3x8x8xf32>
  return
}

// -----

func.func @avg_pool2d_input_rank_5(%x: tensor<1x1x3x8x8xf16>) {
  // expected-error @+1 {{'nn.avg_pool2d' op expects an input of shape (N, C, H, W), got 'tensor<1x1x3x8x8xf16>'}}
  %0 = nn.avg_pool2d %x <{kernel_size = array<i64: 2, 2>}> : tensor<1x1x3x8x8xf16>
  return
}

// -----

func.func @avg_pool2d_zero_stride(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'nn.avg_pool2d' op expects stride entries >= 1, got 0}}
  %0 = nn.avg_pool2d %x <{kernel_size = array<i64: 2, 2>, stride = array<i64: 0, 0>}>
      : tensor<1x3x8x8xf32>
  return
}

// -----

func.func @avg_pool2d_padding_one_entry(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'nn.avg_pool2d' op expects padding to have 2 entries (height, width), got 1}}
  %0 = nn.avg_pool2d %x <{kernel_size = array<i64: 2, 2>, padding = array<i64: 1>}>
      : tensor<1x3x8x8xf32>
  return
}

// -----

func.func @avg_pool2d_negative_padding(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'nn.avg_pool2d' op expects padding entries >= 0, got -1}}
  %0 = nn.avg_pool2d %x <{kernel_size = array<i64: 2, 2>, padding = array<i64: 0, -1>}>
      : tensor<1x3x8x8xf32>
  return
}

// -----

func.func @avg_pool2d_kernel_larger_than_input(%x: tensor<1x3x8x4xbf16>) {
  // expected-error @+1 {{'nn.avg_pool2d' op expects the kernel (5) to fit the padded input (4) in spatial dimension 1}}
  %0 = nn.avg_pool2d %x <{kernel_size = array<i64: 5, 5>}> : tensor<1x3x8x4xbf16>
  return
}

// -----

func.func @embedding_weight_rank_3(%i: tensor<4xi64>, %t: tensor<10x4x8xf32>) {
  // expected-error @+1 {{'nn.embedding' op expects a weight of shape (V, D), got 'tensor<10x4x8xf32>'}}
  %0 = nn.embedding %i, %t : tensor<4xi64>, tensor<10x4x8xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// reshape, transpose, concat, slice
//===----------------------------------------------------------------------===//

func.func @reshape_inferred_dimension(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'nn.reshape' op expects positive target dimensions, got -1}}
  %0 = nn.reshape %x <{shape = array<i64: 6, -1>}> : tensor<2x3x4xf32>
  return
}

// -----

func.func @reshape_element_count(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'nn.reshape' op expects the target shape to hold 24 elements like 'tensor<2x3x4xf32>', got 20}}
  %0 = nn.reshape %x <{shape = array<i64: 5, 4>}> : tensor<2x3x4xf32>
  return
}

// -----

func.func @transpose_permutation_too_short(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'nn.transpose' op expects a permutation of 3 dimensions, got 2}}
  %0 = nn.transpose %x <{permutation = array<i64: 1, 0>}> : tensor<2x3x4xf32>
  return
}

// -----

func.func @transpose_entry_out_of_range(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'nn.transpose' op expects a permutation of [0, 3), got entry 3}}
  %0 = nn.transpose %x <{permutation = array<i64: 0, 3, 1>}> : tensor<2x3x4xf32>
  return
}

// -----

func.func @transpose_repeated_entry(%x: tensor<2x3x4xi32>) {
  // expected-error @+1 {{'nn.transpose' op expects a permutation of [0, 3), got entry 1}}
  %0 = nn.transpose %x <{permutation = array<i64: 1, 1, 0>}> : tensor<2x3x4xi32>
  return
}

// -----

// The custom form needs at least one operand type; the generic form can have none.
func.func @concat_no_inputs() {
  // expected-error @+2 {{'nn.concat' op expects at least one input}}
  // expected-error @+1 {{'nn.concat' op failed to infer returned types}}
  %0 = "nn.concat"() <{axis = 0 : i64}> : () -> tensor<4xf32>
  return
}

// -----

func.func @concat_axis_past_rank(%a: tensor<4x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{'nn.concat' op expects axis 2 to be in [-2, 2)}}
  %0 = nn.concat %a, %b <{axis = 2 : i64}> : tensor<4x3xf32>, tensor<4x3xf32>
  return
}

// -----

func.func @concat_mixed_dtypes(%a: tensor<4x3xf32>, %b: tensor<4x3xbf16>) {
  // expected-error @+1 {{'nn.concat' op expects inputs to have one element type, got 'tensor<4x3xf32>' and 'tensor<4x3xbf16>'}}
  %0 = nn.concat %a, %b <{axis = 0 : i64}> : tensor<4x3xf32>, tensor<4x3xbf16>
  return
}

// -----

func.func @concat_mixed_ranks(%a: tensor<4x3xf32>, %b: tensor<4x3x1xf32>) {
  // expected-error @+1 {{'nn.concat' op expects inputs of one rank, got 'tensor<4x3xf32>' and 'tensor<4x3x1xf32>'}}
  %0 = nn.concat %a, %b <{axis = 0 : i64}> : tensor<4x3xf32>, tensor<4x3x1xf32>
  return
}

// -----

// The third input disagrees with the first in dimension 0; the axis is normalized in the message.
func.func @concat_disagree_off_axis(%a: tensor<4x3xi64>, %b: tensor<4x5xi64>, %c: tensor<2x3xi64>) {
  // expected-error @+1 {{'nn.concat' op expects inputs to agree off axis 1, got 'tensor<4x3xi64>' and 'tensor<2x3xi64>'}}
  %0 = nn.concat %a, %b, %c <{axis = -1 : i64}> : tensor<4x3xi64>, tensor<4x5xi64>, tensor<2x3xi64>
  return
}

// -----

func.func @slice_start_entries(%x: tensor<8x10xf32>) {
  // expected-error @+1 {{'nn.slice' op expects start, limit and step with one entry per dimension (2)}}
  %0 = nn.slice %x <{start = array<i64: 0>, limit = array<i64: 8, 10>}> : tensor<8x10xf32>
  return
}

// -----

func.func @slice_step_entries(%x: tensor<8x10xf32>) {
  // expected-error @+1 {{'nn.slice' op expects start, limit and step with one entry per dimension (2)}}
  %0 = nn.slice %x <{start = array<i64: 0, 0>, limit = array<i64: 8, 10>,
                     step = array<i64: 1, 1, 1>}> : tensor<8x10xf32>
  return
}

// -----

func.func @slice_zero_step(%x: tensor<8x10xf32>) {
  // expected-error @+1 {{'nn.slice' op expects positive steps, got 0 in dimension 1}}
  %0 = nn.slice %x <{start = array<i64: 0, 0>, limit = array<i64: 8, 10>, step = array<i64: 1, 0>}>
      : tensor<8x10xf32>
  return
}

// -----

func.func @slice_empty_range(%x: tensor<8x10xf32>) {
  // expected-error @+1 {{'nn.slice' op expects 0 <= start < limit <= 8 in dimension 0, got [3, 3)}}
  %0 = nn.slice %x <{start = array<i64: 3, 0>, limit = array<i64: 3, 10>}> : tensor<8x10xf32>
  return
}

// -----

func.func @slice_limit_past_end(%x: tensor<8x10xf32>) {
  // expected-error @+1 {{'nn.slice' op expects 0 <= start < limit <= 10 in dimension 1, got [0, 11)}}
  %0 = nn.slice %x <{start = array<i64: 0, 0>, limit = array<i64: 8, 11>}> : tensor<8x10xf32>
  return
}

// -----

func.func @slice_negative_start(%x: tensor<8x10xi32>) {
  // expected-error @+1 {{'nn.slice' op expects 0 <= start < limit <= 8 in dimension 0, got [-1, 4)}}
  %0 = nn.slice %x <{start = array<i64: -1, 0>, limit = array<i64: 4, 10>}> : tensor<8x10xi32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// reduce_sum, reduce_mean, reduce_max
//===----------------------------------------------------------------------===//

func.func @reduce_sum_no_axes(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'nn.reduce_sum' op expects at least one axis}}
  %0 = nn.reduce_sum %x <{axes = array<i64>}> : tensor<4x5xf32>
  return
}

// -----

func.func @reduce_mean_axis_past_rank(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'nn.reduce_mean' op expects axis 3 to be in [-3, 3)}}
  %0 = nn.reduce_mean %x <{axes = array<i64: 0, 3>}> : tensor<2x3x4xf32>
  return
}

// -----

// 2 and -1 name the same dimension of a rank-3 input.
func.func @reduce_max_repeated_axis(%x: tensor<2x3x4xf16>) {
  // expected-error @+1 {{'nn.reduce_max' op expects distinct axes, got -1 twice}}
  %0 = nn.reduce_max %x <{axes = array<i64: 2, -1>}> : tensor<2x3x4xf16>
  return
}

// -----

func.func @reduce_sum_scalar_input(%x: tensor<i64>) {
  // expected-error @+1 {{'nn.reduce_sum' op expects axis 0 to be in [0, 0)}}
  %0 = nn.reduce_sum %x <{axes = array<i64: 0>}> : tensor<i64>
  return
}

// -----

//===----------------------------------------------------------------------===//
// cross_entropy, mse_loss
//===----------------------------------------------------------------------===//

func.func @cross_entropy_scalar_logits(%l: tensor<f32>, %t: tensor<i64>) {
  // expected-error @+1 {{'nn.cross_entropy' op expects logits of rank >= 1 with classes last, got 'tensor<f32>'}}
  %0 = nn.cross_entropy %l, %t : tensor<f32>, tensor<i64>
  return
}

// -----

func.func @cross_entropy_indices_with_class_dim(%l: tensor<16x10xf32>, %t: tensor<16x10xi64>) {
  // expected-error @+1 {{'nn.cross_entropy' op expects class indices shaped like the logits without the class dimension, got 'tensor<16x10xi64>' for logits 'tensor<16x10xf32>'}}
  %0 = nn.cross_entropy %l, %t : tensor<16x10xf32>, tensor<16x10xi64>
  return
}

// -----

func.func @cross_entropy_indices_wrong_batch(%l: tensor<16x10xf32>, %t: tensor<8xi32>) {
  // expected-error @+1 {{'nn.cross_entropy' op expects class indices shaped like the logits without the class dimension, got 'tensor<8xi32>' for logits 'tensor<16x10xf32>'}}
  %0 = nn.cross_entropy %l, %t : tensor<16x10xf32>, tensor<8xi32>
  return
}

// -----

func.func @cross_entropy_probabilities_dtype(%l: tensor<16x10xf32>, %t: tensor<16x10xf16>) {
  // expected-error @+1 {{'nn.cross_entropy' op expects class probabilities of the logits' type 'tensor<16x10xf32>', got 'tensor<16x10xf16>'}}
  %0 = nn.cross_entropy %l, %t : tensor<16x10xf32>, tensor<16x10xf16>
  return
}

// -----

func.func @cross_entropy_probabilities_shape(%l: tensor<16x10xbf16>, %t: tensor<16x1xbf16>) {
  // expected-error @+1 {{'nn.cross_entropy' op expects class probabilities of the logits' type 'tensor<16x10xbf16>', got 'tensor<16x1xbf16>'}}
  %0 = nn.cross_entropy %l, %t : tensor<16x10xbf16>, tensor<16x1xbf16>
  return
}

// -----

func.func @cross_entropy_label_smoothing_above_one(%l: tensor<16x10xf32>, %t: tensor<16xi64>) {
  // expected-error @+1 {{'nn.cross_entropy' op expects label_smoothing in [0, 1], got 1.5}}
  %0 = nn.cross_entropy %l, %t <{label_smoothing = 1.5 : f64}> : tensor<16x10xf32>, tensor<16xi64>
  return
}

// -----

func.func @cross_entropy_reduction_none(%l: tensor<16x10xf32>, %t: tensor<16xi64>) {
  // expected-error @+2 {{expected ::nnc::nn::Reduction to be one of: mean, sum}}
  // expected-error @+1 {{failed to parse NN_ReductionAttr parameter 'value'}}
  %0 = nn.cross_entropy %l, %t <{reduction = #nn<reduction none>}> : tensor<16x10xf32>, tensor<16xi64>
  return
}

// -----

func.func @mse_loss_shapes_differ(%p: tensor<64x1xf32>, %t: tensor<64xf32>) {
  // expected-error @+1 {{'nn.mse_loss' op expects prediction and target of one type, got 'tensor<64x1xf32>' and 'tensor<64xf32>'}}
  %0 = nn.mse_loss %p, %t : tensor<64x1xf32>, tensor<64xf32>
  return
}

// -----

func.func @mse_loss_dtypes_differ(%p: tensor<4xf16>, %t: tensor<4xbf16>) {
  // expected-error @+1 {{'nn.mse_loss' op expects prediction and target of one type, got 'tensor<4xf16>' and 'tensor<4xbf16>'}}
  %0 = nn.mse_loss %p, %t : tensor<4xf16>, tensor<4xbf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// ODS constraints: dtypes, static shapes, required attributes, declared result types
//===----------------------------------------------------------------------===//

func.func @relu_on_integers(%x: tensor<4x16xi64>) {
  // expected-error @+1 {{'nn.relu' op operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<4x16xi64>'}}
  %0 = nn.relu %x : tensor<4x16xi64>
  return
}

// -----

func.func @tanh_dynamic_shape(%x: tensor<?x16xf32>) {
  // expected-error @+1 {{'nn.tanh' op operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<?x16xf32>'}}
  %0 = nn.tanh %x : tensor<?x16xf32>
  return
}

// -----

// The custom form parses only ranked tensors, so inference never sees an unranked one.
func.func @sigmoid_unranked(%x: tensor<*xf32>) {
  // expected-error @+1 {{custom op 'nn.sigmoid' invalid kind of type specified: expected builtin.tensor, but found 'tensor<*xf32>'}}
  %0 = nn.sigmoid %x : tensor<*xf32>
  return
}

// -----

// In the generic form the ODS operand check runs before inference.
func.func @sigmoid_unranked_generic(%x: tensor<*xf32>) {
  // expected-error @+1 {{'nn.sigmoid' op operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<*xf32>'}}
  %0 = "nn.sigmoid"(%x) : (tensor<*xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @add_on_i8(%a: tensor<4xi8>, %b: tensor<4xi8>) {
  // expected-error @+1 {{'nn.add' op operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type or 32-bit signless integer or 64-bit signless integer values, but got 'tensor<4xi8>'}}
  %0 = nn.add %a, %b : tensor<4xi8>, tensor<4xi8>
  return
}

// -----

func.func @embedding_float_indices(%i: tensor<4xf32>, %t: tensor<10x8xf32>) {
  // expected-error @+1 {{'nn.embedding' op operand #0 must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<4xf32>'}}
  %0 = nn.embedding %i, %t : tensor<4xf32>, tensor<10x8xf32>
  return
}

// -----

func.func @mse_loss_on_integers(%p: tensor<4xi32>, %t: tensor<4xi32>) {
  // expected-error @+1 {{'nn.mse_loss' op operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<4xi32>'}}
  %0 = nn.mse_loss %p, %t : tensor<4xi32>, tensor<4xi32>
  return
}

// -----

func.func @constant_i8() {
  // expected-error @+1 {{'nn.constant' op result #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type or 32-bit signless integer or 64-bit signless integer values, but got 'tensor<4xi8>'}}
  %0 = nn.constant dense<1> : tensor<4xi8>
  return
}

// -----

func.func @dropout_without_rate(%x: tensor<4xf32>) {
  // expected-error @+1 {{invalid properties {} for op nn.dropout: expected key entry for rate in DictionaryAttr to set Properties.}}
  %0 = nn.dropout %x : tensor<4xf32>
  return
}

// -----

func.func @dropout_without_rate_generic(%x: tensor<4xf32>) {
  // expected-error @+1 {{'nn.dropout' op requires attribute 'rate'}}
  %0 = "nn.dropout"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @slice_without_limit_generic(%x: tensor<4xf32>) {
  // expected-error @+1 {{'nn.slice' op requires attribute 'limit'}}
  %0 = "nn.slice"(%x) <{start = array<i64: 0>}> : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @linear_generic_wrong_result_type(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+2 {{'nn.linear' op inferred type(s) 'tensor<4x8xf32>' are incompatible with return type(s) of operation 'tensor<4x9xf32>'}}
  // expected-error @+1 {{'nn.linear' op failed to infer returned types}}
  %0 = "nn.linear"(%x, %w) : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x9xf32>
  return
}

// -----

// The generic form reports an inference error from the verifier, after parsing.
func.func @matmul_generic_contracting_mismatch(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) {
  // expected-error @+2 {{'nn.matmul' op expects contracting dimensions to match, got 'tensor<4x8xf32>' and 'tensor<4x8xf32>'}}
  // expected-error @+1 {{'nn.matmul' op failed to infer returned types}}
  %0 = "nn.matmul"(%a, %b) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @linear_unknown_activation(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>) -> tensor<4x3xf32> {
  // expected-error @+2 {{expected ::nnc::nn::Activation to be one of: relu}}
  // expected-error @+1 {{failed to parse NN_ActivationAttr parameter 'value'}}
  %0 = nn.linear %x, %w <{activation = #nn<activation swish>}> : tensor<4x8xf32>, tensor<3x8xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @conv2d_unknown_activation(%x: tensor<1x1x4x4xf32>, %w: tensor<2x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  // expected-error @+2 {{expected ::nnc::nn::Activation to be one of: relu}}
  // expected-error @+1 {{failed to parse NN_ActivationAttr parameter 'value'}}
  %0 = nn.conv2d %x, %w <{activation = #nn<activation tanh>}> : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// The kinds are enum attributes: the string form is not one.
func.func @linear_activation_string(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{invalid properties {activation = "relu"} for op nn.linear}}
  %0 = nn.linear %x, %w <{activation = "relu"}> : tensor<4x8xf32>, tensor<3x8xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @relu_grad_mismatch(%y: tensor<4x3xf32>, %g: tensor<4x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'nn.relu_grad' op expects output and grad of one type, got 'tensor<4x3xf32>' and 'tensor<4x4xf32>'}}
  %0 = nn.relu_grad %y, %g : tensor<4x3xf32>, tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @one_hot_no_classes(%l: tensor<4xi64>) -> tensor<4x0xf32> {
  // expected-error @+1 {{'nn.one_hot' op expects a positive number of classes, got 0}}
  %0 = nn.one_hot %l <{classes = 0 : i64, dtype = f32}> : tensor<4xi64>
  return %0 : tensor<4x0xf32>
}

// -----

func.func @gelu_grad_mismatch(%x: tensor<2x8xf32>, %g: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'nn.gelu_grad' op expects input and grad of one type, got 'tensor<2x8xf32>' and 'tensor<2x4xf32>'}}
  %0 = nn.gelu_grad %x, %g : tensor<2x8xf32>, tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @embedding_grad_shape(%i: tensor<2x3xi64>, %g: tensor<2x4x8xf32>) -> tensor<10x8xf32> {
  // expected-error @+1 {{'nn.embedding_grad' op expects grad shaped (indices..., D), got 'tensor<2x4x8xf32>' for indices 'tensor<2x3xi64>'}}
  %0 = nn.embedding_grad %i, %g <{rows = 10 : i64}> : tensor<2x3xi64>, tensor<2x4x8xf32>
  return %0 : tensor<10x8xf32>
}

// -----

func.func @embedding_grad_rows(%i: tensor<2x3xi64>, %g: tensor<2x3x8xf32>) -> tensor<0x8xf32> {
  // expected-error @+1 {{'nn.embedding_grad' op expects a positive number of rows, got 0}}
  %0 = nn.embedding_grad %i, %g <{rows = 0 : i64}> : tensor<2x3xi64>, tensor<2x3x8xf32>
  return %0 : tensor<0x8xf32>
}

// -----

func.func @pad_rank(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'nn.pad' op expects low and high with one entry per dimension (2)}}
  %0 = nn.pad %x <{low = array<i64: 1>, high = array<i64: 0>}> : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @pad_negative(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'nn.pad' op expects non-negative padding, got -1 and 0}}
  %0 = nn.pad %x <{low = array<i64: -1, 0>, high = array<i64: 0, 0>}> : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @conv2d_grad_input_shape(%g: tensor<2x4x5x5xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<2x3x6x6xf32> {
  // expected-error @+1 {{'nn.conv2d_grad_input' op expects grad shaped like the convolution's output 'tensor<2x4x6x6xf32>', got 'tensor<2x4x5x5xf32>'}}
  %0 = nn.conv2d_grad_input %g, %w <{padding = array<i64: 1, 1>, shape = array<i64: 2, 3, 6, 6>}> : tensor<2x4x5x5xf32>, tensor<4x3x3x3xf32>
  return %0 : tensor<2x3x6x6xf32>
}

// -----

func.func @conv2d_grad_weight_groups(%x: tensor<2x3x5x5xf32>, %g: tensor<2x4x5x5xf32>) -> tensor<4x3x3x3xf32> {
  // expected-error @+1 {{'nn.conv2d_grad_weight' op expects groups (2) to divide input channels (3) and output channels (4)}}
  %0 = nn.conv2d_grad_weight %x, %g <{groups = 2 : i64, padding = array<i64: 1, 1>, shape = array<i64: 4, 3, 3, 3>}> : tensor<2x3x5x5xf32>, tensor<2x4x5x5xf32>
  return %0 : tensor<4x3x3x3xf32>
}

// -----

func.func @max_pool2d_grad_shape(%x: tensor<1x2x4x4xf32>, %g: tensor<1x2x3x3xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{'nn.max_pool2d_grad' op expects grad shaped like the pooling's output 'tensor<1x2x2x2xf32>', got 'tensor<1x2x3x3xf32>'}}
  %0 = nn.max_pool2d_grad %x, %g <{kernel_size = array<i64: 2, 2>}> : tensor<1x2x4x4xf32>, tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x4x4xf32>
}

// -----

func.func @dropout_rng_key_type(%x: tensor<4xf32>, %step: tensor<f32>, %key: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{'nn.dropout' op expects rng to be a scalar float step and a scalar i64 key}}
  %0 = nn.dropout %x [%step, %key] <{rate = 0.5 : f64}> : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// batch_norm
//===----------------------------------------------------------------------===//

func.func @batch_norm_rank3(%x: tensor<8x4x5xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{'nn.batch_norm' op expects input (N, C) or (N, C, H, W), got 'tensor<8x4x5xf32>'}}
  %0 = nn.batch_norm %x, %g, %g, %g, %g
      : tensor<8x4x5xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @batch_norm_channels(%x: tensor<8x4xf32>, %g: tensor<4xf32>, %v: tensor<5xf32>) {
  // expected-error @+1 {{'nn.batch_norm' op expects running_var (C) with C = 4 (the input's dimension 1), got 'tensor<5xf32>'}}
  %0 = nn.batch_norm %x, %g, %g, %g, %v
      : tensor<8x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<5xf32>
  return
}

// -----

func.func @batch_norm_dtype(%x: tensor<8x4xf32>, %g: tensor<4xf32>, %h: tensor<4xbf16>) {
  // expected-error @+1 {{'nn.batch_norm' op expects input and bias to have one element type, got 'tensor<8x4xf32>' and 'tensor<4xbf16>'}}
  %0 = nn.batch_norm %x, %g, %h, %g, %g
      : tensor<8x4xf32>, tensor<4xf32>, tensor<4xbf16>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @batch_norm_momentum(%x: tensor<8x4xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{'nn.batch_norm' op expects momentum in [0, 1], got 1.5}}
  %0 = nn.batch_norm %x, %g, %g, %g, %g <{momentum = 1.5 : f64}>
      : tensor<8x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @batch_norm_epsilon(%x: tensor<8x4xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{'nn.batch_norm' op expects a positive epsilon}}
  %0 = nn.batch_norm %x, %g, %g, %g, %g <{epsilon = 0.0 : f64}>
      : tensor<8x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @batch_norm_training_stats(%x: tensor<8x4x5x5xf32>, %m: tensor<4xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{'nn.batch_norm_training' op expects mean of type 'tensor<1x4x1x1xf32>', got 'tensor<4xf32>'}}
  %0 = nn.batch_norm_training %x, %m, %m, %g, %g
      : tensor<8x4x5x5xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @batch_norm_training_bias(%x: tensor<8x4xf32>, %m: tensor<1x4xf32>, %g: tensor<4xf32>,
                                    %b: tensor<4xbf16>) {
  // expected-error @+1 {{'nn.batch_norm_training' op expects bias of type 'tensor<4xf32>', got 'tensor<4xbf16>'}}
  %0 = nn.batch_norm_training %x, %m, %m, %g, %b
      : tensor<8x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<4xbf16>
  return
}

// -----

func.func @clamp_grad_mismatch(%x: tensor<2x8xf32>, %g: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'nn.clamp_grad' op expects input and grad of one type, got 'tensor<2x8xf32>' and 'tensor<2x4xf32>'}}
  %0 = nn.clamp_grad %x, %g <{max = 6.0 : f64}> : tensor<2x8xf32>, tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
