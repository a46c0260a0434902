// RUN: %nnc-opt %s -split-input-file -nnc-fuse-attention | FileCheck %s
// The fused ops print and parse back.
// RUN: %nnc-opt %s -split-input-file -nnc-fuse-attention | %nnc-opt -split-input-file | FileCheck %s
// A bf16 model's attention is fused only with low-precision (the driver's choice off AMX CPUs).
// RUN: %nnc-opt %s -split-input-file -nnc-fuse-attention=low-precision=true | FileCheck %s --check-prefix=LOW

// The frontend's CausalSelfAttention: k arrives transposed (B, H, D, T) from (B, T, H, D); the
// two transposes compose into one to (B, H, T, D). Scale as a multiply by 1/sqrt(16).
// CHECK-LABEL: func.func @fuse_frontend_attention
// CHECK-SAME: (%[[Q:.+]]: tensor<2x4x8x16xf32>, %[[K4:.+]]: tensor<2x8x4x16xf32>, %[[V:.+]]: tensor<2x4x8x16xf32>)
// CHECK-NOT: nn.softmax
// CHECK: %[[K:.+]] = nn.transpose %[[K4]] <{permutation = array<i64: 0, 2, 1, 3>}>
// CHECK: %[[Y:.+]], %{{.+}} = nn.causal_attention %[[Q]], %[[K]], %[[V]] <{scale = 2.500000e-01 : f64}>
// CHECK-NOT: nn.matmul
// CHECK: return %[[Y]]
func.func @fuse_frontend_attention(%q: tensor<2x4x8x16xf32>, %k4: tensor<2x8x4x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %kt = nn.transpose %k4 <{permutation = array<i64: 0, 2, 3, 1>}> : tensor<2x8x4x16xf32>
  %s = nn.matmul %q, %kt : tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>
  %c = nn.constant dense<2.500000e-01> : tensor<f32>
  %scaled = nn.mul %s, %c : tensor<2x4x8x8xf32>, tensor<f32>
  %m = nn.causal_mask %scaled : tensor<2x4x8x8xf32>
  %p = nn.softmax %m <{axis = -1 : i64}> : tensor<2x4x8x8xf32>
  %y = nn.matmul %p, %v : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>
  return %y : tensor<2x4x8x16xf32>
}

// -----

// The ONNX GPT-2 form: k transposed by Transpose(perm 0,1,3,2) of a (B, H, T, D) tensor (the
// transposes cancel), the scale a divide by sqrt(d) on the constant's side, softmax with the
// default axis, the -inf fill written out.
// CHECK-LABEL: func.func @fuse_divided_scores
// CHECK-SAME: (%[[Q:.+]]: tensor<3x5x16xf32>, %[[K:.+]]: tensor<3x5x16xf32>, %[[V:.+]]: tensor<3x5x16xf32>)
// CHECK-NOT: nn.transpose
// CHECK: %[[Y:.+]], %{{.+}} = nn.causal_attention %[[Q]], %[[K]], %[[V]] <{scale = 2.500000e-01 : f64}>
// CHECK-NEXT: return %[[Y]]
func.func @fuse_divided_scores(%q: tensor<3x5x16xf32>, %k: tensor<3x5x16xf32>, %v: tensor<3x5x16xf32>) -> tensor<3x5x16xf32> {
  %kt = nn.transpose %k <{permutation = array<i64: 0, 2, 1>}> : tensor<3x5x16xf32>
  %s = nn.matmul %q, %kt : tensor<3x5x16xf32>, tensor<3x16x5xf32>
  %c = nn.constant dense<4.0> : tensor<1xf32>
  %scaled = nn.div %s, %c : tensor<3x5x5xf32>, tensor<1xf32>
  %m = nn.causal_mask %scaled <{fill = 0xFFF0000000000000 : f64}> : tensor<3x5x5xf32>
  %p = nn.softmax %m : tensor<3x5x5xf32>
  %y = nn.matmul %p, %v : tensor<3x5x5xf32>, tensor<3x5x16xf32>
  return %y : tensor<3x5x16xf32>
}

// -----

// Non-causal attention (a ViT's, an encoder's): no mask, nothing fused.
// CHECK-LABEL: func.func @no_fuse_without_causal_mask
// CHECK-NOT: nn.causal_attention
// CHECK: nn.softmax
func.func @no_fuse_without_causal_mask(%q: tensor<2x8x16xf32>, %kt: tensor<2x16x8xf32>, %v: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %s = nn.matmul %q, %kt : tensor<2x8x16xf32>, tensor<2x16x8xf32>
  %c = nn.constant dense<2.500000e-01> : tensor<f32>
  %scaled = nn.mul %s, %c : tensor<2x8x8xf32>, tensor<f32>
  %p = nn.softmax %scaled <{axis = -1 : i64}> : tensor<2x8x8xf32>
  %y = nn.matmul %p, %v : tensor<2x8x8xf32>, tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

// The probabilities are returned too (attention weights for inspection): they must exist, so
// nothing is fused.
// CHECK-LABEL: func.func @no_fuse_probabilities_used
// CHECK-NOT: nn.causal_attention
// CHECK: nn.causal_mask
func.func @no_fuse_probabilities_used(%q: tensor<2x8x16xf32>, %kt: tensor<2x16x8xf32>, %v: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x8xf32>) {
  %s = nn.matmul %q, %kt : tensor<2x8x16xf32>, tensor<2x16x8xf32>
  %m = nn.causal_mask %s : tensor<2x8x8xf32>
  %p = nn.softmax %m <{axis = -1 : i64}> : tensor<2x8x8xf32>
  %y = nn.matmul %p, %v : tensor<2x8x8xf32>, tensor<2x8x16xf32>
  return %y, %p : tensor<2x8x16xf32>, tensor<2x8x8xf32>
}

// -----

// A finite fill (-100) changes the result where scores are large: not a causal mask in intent.
// CHECK-LABEL: func.func @no_fuse_finite_fill
// CHECK-NOT: nn.causal_attention
func.func @no_fuse_finite_fill(%q: tensor<2x8x16xf32>, %kt: tensor<2x16x8xf32>, %v: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %s = nn.matmul %q, %kt : tensor<2x8x16xf32>, tensor<2x16x8xf32>
  %m = nn.causal_mask %s <{fill = -1.000000e+02 : f64}> : tensor<2x8x8xf32>
  %p = nn.softmax %m <{axis = -1 : i64}> : tensor<2x8x8xf32>
  %y = nn.matmul %p, %v : tensor<2x8x8xf32>, tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

// Softmax over another axis than the keys: left alone.
// CHECK-LABEL: func.func @no_fuse_softmax_over_queries
// CHECK-NOT: nn.causal_attention
func.func @no_fuse_softmax_over_queries(%q: tensor<2x8x16xf32>, %kt: tensor<2x16x8xf32>, %v: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %s = nn.matmul %q, %kt : tensor<2x8x16xf32>, tensor<2x16x8xf32>
  %m = nn.causal_mask %s : tensor<2x8x8xf32>
  %p = nn.softmax %m <{axis = 1 : i64}> : tensor<2x8x8xf32>
  %y = nn.matmul %p, %v : tensor<2x8x8xf32>, tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

// A bf16 model: left alone unless low-precision is set.
// CHECK-LABEL: func.func @bf16_model
// CHECK-NOT: nn.causal_attention
// LOW-LABEL: func.func @bf16_model
// LOW: nn.causal_attention
// LOW-NOT: nn.softmax
module attributes {nn.training = #nn.training<loss = "loss", precision = bf16>} {
func.func @bf16_model(%q: tensor<2x8x16xf32>, %kt: tensor<2x16x8xf32>, %v: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  %s = nn.matmul %q, %kt : tensor<2x8x16xf32>, tensor<2x16x8xf32>
  %m = nn.causal_mask %s : tensor<2x8x8xf32>
  %p = nn.softmax %m <{axis = -1 : i64}> : tensor<2x8x8xf32>
  %y = nn.matmul %p, %v : tensor<2x8x8xf32>, tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}
}
