// RUN: %nnc-opt %s -split-input-file -nnc-fuse-epilogues="conv-bias-gradients" | FileCheck %s
// RUN: %nnc-opt %s -split-input-file -nnc-fuse-epilogues | FileCheck %s --check-prefix=OFF

// The bias gradient (g summed over N, OH, OW) joins the weight gradient that reads the same g.
// CHECK-LABEL: func.func @fold
// CHECK: %[[W:.+]], %[[B:.+]] = nn.conv2d_grad_weight %{{.+}}, %{{.+}} <{padding = array<i64: 1, 1>, shape = array<i64: 4, 2, 3, 3>, with_bias}>
// CHECK-NOT: nn.reduce_sum
// CHECK: return %[[W]], %[[B]]
// OFF-LABEL: func.func @fold
// OFF: nn.conv2d_grad_weight
// OFF-NOT: with_bias
// OFF: nn.reduce_sum
func.func @fold(%x: tensor<2x2x5x5xf32>, %g: tensor<2x4x5x5xf32>) -> (tensor<4x2x3x3xf32>, tensor<4xf32>) {
  %dw = nn.conv2d_grad_weight %x, %g <{padding = array<i64: 1, 1>, shape = array<i64: 4, 2, 3, 3>}> : tensor<2x2x5x5xf32>, tensor<2x4x5x5xf32>
  %db = nn.reduce_sum %g <{axes = array<i64: 0, 2, 3>}> : tensor<2x4x5x5xf32>
  return %dw, %db : tensor<4x2x3x3xf32>, tensor<4xf32>
}

// -----

// Mixed precision: the sum reads g widened to f32, the convolution g itself (bf16); the fused
// op's bias gradient is f32, as the sum's.
// CHECK-LABEL: func.func @fold_bf16
// CHECK: %[[W:.+]], %[[B:.+]] = nn.conv2d_grad_weight %{{.+}}, %{{.+}} <{padding = array<i64: 1, 1>, shape = array<i64: 4, 2, 3, 3>, with_bias}> : tensor<2x2x5x5xbf16>, tensor<2x4x5x5xbf16>
// CHECK-NOT: nn.reduce_sum
// CHECK: return %[[W]], %[[B]] : tensor<4x2x3x3xbf16>, tensor<4xf32>
func.func @fold_bf16(%x: tensor<2x2x5x5xbf16>, %g: tensor<2x4x5x5xbf16>) -> (tensor<4x2x3x3xbf16>, tensor<4xf32>) {
  %dw = nn.conv2d_grad_weight %x, %g <{padding = array<i64: 1, 1>, shape = array<i64: 4, 2, 3, 3>}> : tensor<2x2x5x5xbf16>, tensor<2x4x5x5xbf16>
  %gf = nn.cast %g <{dtype = f32}> : tensor<2x4x5x5xbf16>
  %db = nn.reduce_sum %gf <{axes = array<i64: 0, 2, 3>}> : tensor<2x4x5x5xf32>
  return %dw, %db : tensor<4x2x3x3xbf16>, tensor<4xf32>
}

// -----

// The sum comes first: the fused op takes its place, where x and g already exist.
// CHECK-LABEL: func.func @sum_first
// CHECK: %[[G:.+]] = nn.tanh
// CHECK-NEXT: %[[W:.+]], %[[B:.+]] = nn.conv2d_grad_weight %{{.+}}, %[[G]] <{shape = array<i64: 3, 1, 2, 2>, stride = array<i64: 2, 2>, with_bias}>
// CHECK-NEXT: nn.mul %[[B]], %[[B]]
func.func @sum_first(%x: tensor<1x1x4x4xf32>, %h: tensor<1x3x2x2xf32>) -> (tensor<3xf32>, tensor<3x1x2x2xf32>) {
  %g = nn.tanh %h : tensor<1x3x2x2xf32>
  %db = nn.reduce_sum %g <{axes = array<i64: 0, 2, 3>}> : tensor<1x3x2x2xf32>
  %sq = nn.mul %db, %db : tensor<3xf32>, tensor<3xf32>
  %dw = nn.conv2d_grad_weight %x, %g <{shape = array<i64: 3, 1, 2, 2>, stride = array<i64: 2, 2>}> : tensor<1x1x4x4xf32>, tensor<1x3x2x2xf32>
  return %sq, %dw : tensor<3xf32>, tensor<3x1x2x2xf32>
}

// -----

// The convolution's input is computed after the sum: no fold (it would read x before it exists).
// CHECK-LABEL: func.func @input_later
// CHECK: nn.reduce_sum
// CHECK: nn.conv2d_grad_weight
// CHECK-NOT: with_bias
func.func @input_later(%x0: tensor<1x1x4x4xf32>, %g: tensor<1x3x3x3xf32>) -> (tensor<3xf32>, tensor<3x1x2x2xf32>) {
  %db = nn.reduce_sum %g <{axes = array<i64: 0, 2, 3>}> : tensor<1x3x3x3xf32>
  %x = nn.tanh %x0 : tensor<1x1x4x4xf32>
  %dw = nn.conv2d_grad_weight %x, %g <{shape = array<i64: 3, 1, 2, 2>}> : tensor<1x1x4x4xf32>, tensor<1x3x3x3xf32>
  return %db, %dw : tensor<3xf32>, tensor<3x1x2x2xf32>
}

// -----

// Other sums of g (over all axes, or keeping dimensions) are not the bias gradient.
// CHECK-LABEL: func.func @other_sums
// CHECK-COUNT-2: nn.reduce_sum
// CHECK-NOT: with_bias
func.func @other_sums(%x: tensor<1x1x4x4xf32>, %g: tensor<1x3x3x3xf32>) -> (tensor<f32>, tensor<1x3x1x1xf32>, tensor<3x1x2x2xf32>) {
  %all = nn.reduce_sum %g <{axes = array<i64: 0, 1, 2, 3>}> : tensor<1x3x3x3xf32>
  %kept = nn.reduce_sum %g <{axes = array<i64: 0, 2, 3>, keepdim = true}> : tensor<1x3x3x3xf32>
  %dw = nn.conv2d_grad_weight %x, %g <{shape = array<i64: 3, 1, 2, 2>}> : tensor<1x1x4x4xf32>, tensor<1x3x3x3xf32>
  return %all, %kept, %dw : tensor<f32>, tensor<1x3x1x1xf32>, tensor<3x1x2x2xf32>
}

// -----

// The summed tensor is the convolution's input, not its dL/doutput: not a bias gradient.
// CHECK-LABEL: func.func @sum_of_input
// CHECK: nn.conv2d_grad_weight
// CHECK-NOT: with_bias
// CHECK: nn.reduce_sum
func.func @sum_of_input(%x: tensor<1x3x4x4xf32>, %g: tensor<1x3x3x3xf32>) -> (tensor<3x3x2x2xf32>, tensor<3xf32>) {
  %dw = nn.conv2d_grad_weight %x, %g <{shape = array<i64: 3, 3, 2, 2>}> : tensor<1x3x4x4xf32>, tensor<1x3x3x3xf32>
  %sx = nn.reduce_sum %x <{axes = array<i64: 0, 2, 3>}> : tensor<1x3x4x4xf32>
  return %dw, %sx : tensor<3x3x2x2xf32>, tensor<3xf32>
}

// -----

// An f32 sum of a bf16 tensor that an f32 op widened, while the bf16 convolution reads another
// tensor: no fold.
// CHECK-LABEL: func.func @widened_other_tensor
// CHECK-NOT: with_bias
// CHECK: nn.reduce_sum
func.func @widened_other_tensor(%x: tensor<2x2x5x5xbf16>, %g: tensor<2x4x5x5xbf16>, %h: tensor<2x4x5x5xbf16>) -> (tensor<4x2x3x3xbf16>, tensor<4xf32>) {
  %dw = nn.conv2d_grad_weight %x, %g <{padding = array<i64: 1, 1>, shape = array<i64: 4, 2, 3, 3>}> : tensor<2x2x5x5xbf16>, tensor<2x4x5x5xbf16>
  %hf = nn.cast %h <{dtype = f32}> : tensor<2x4x5x5xbf16>
  %db = nn.reduce_sum %hf <{axes = array<i64: 0, 2, 3>}> : tensor<2x4x5x5xf32>
  return %dw, %db : tensor<4x2x3x3xbf16>, tensor<4xf32>
}
