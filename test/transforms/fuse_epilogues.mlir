// RUN: %nnc-opt %s -split-input-file -nnc-fuse-epilogues | FileCheck %s

// CHECK-LABEL: func.func @fuse_linear_relu
// CHECK: %[[R:.+]] = nn.linear %{{.+}}, %{{.+}}, %{{.+}} <{activation = "relu"}>
// CHECK-NOT: nn.relu
// CHECK: return %[[R]]
func.func @fuse_linear_relu(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %h = nn.linear %x, %w, %b : tensor<4x8xf32>, tensor<3x8xf32>, tensor<3xf32>
  %r = nn.relu %h : tensor<4x3xf32>
  return %r : tensor<4x3xf32>
}

// -----

// CHECK-LABEL: func.func @fuse_conv_relu
// CHECK: nn.conv2d %{{.+}}, %{{.+}} <{activation = "relu"}>
// CHECK-NOT: nn.relu
func.func @fuse_conv_relu(%x: tensor<1x1x4x4xf32>, %w: tensor<2x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %c = nn.conv2d %x, %w : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32>
  %r = nn.relu %c : tensor<1x2x2x2xf32>
  return %r : tensor<1x2x2x2xf32>
}

// -----

// The pre-activation value is used elsewhere: fusing would lose it.
// CHECK-LABEL: func.func @no_fuse_multi_use
// CHECK: %[[H:.+]] = nn.linear %{{.+}}, %{{.+}} :
// CHECK: nn.relu %[[H]]
func.func @no_fuse_multi_use(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>) {
  %h = nn.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>
  %r = nn.relu %h : tensor<4x3xf32>
  return %r, %h : tensor<4x3xf32>, tensor<4x3xf32>
}
