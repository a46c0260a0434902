// RUN: %nnc-opt %s -split-input-file -nnc-fuse-guards | FileCheck %s

// The new momentum %b2 is read by the parameter's update and by its guard: the guard moves up
// to just after it and the update reads the guarded value, so %b2 has one user left.
// CHECK-LABEL: func.func @momentum
// CHECK: %[[B2:.+]] = nn.add
// CHECK-NEXT: %[[GB:.+]] = nn.where %[[OK:[^,]+]], %[[B2]], %{{.+}} {nnc.guard}
// CHECK-NEXT: %[[STEP:.+]] = nn.mul %[[GB]], %{{.+}}
// CHECK-NEXT: %[[P2:.+]] = nn.sub %{{.+}}, %[[STEP]]
// CHECK-NEXT: %[[GP:.+]] = nn.where %[[OK]], %[[P2]], %{{.+}} {nnc.guard}
// CHECK-NEXT: return %[[GP]], %[[GB]]
func.func @momentum(%p: tensor<3xf32>, %b: tensor<3xf32>, %g: tensor<3xf32>, %lr: tensor<f32>, %ok: tensor<f32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %c = nn.constant dense<9.000000e-01> : tensor<f32>
  %m = nn.mul %b, %c : tensor<3xf32>, tensor<f32>
  %b2 = nn.add %m, %g : tensor<3xf32>, tensor<3xf32>
  %s = nn.mul %b2, %lr : tensor<3xf32>, tensor<f32>
  %p2 = nn.sub %p, %s : tensor<3xf32>, tensor<3xf32>
  %gp = nn.where %ok, %p2, %p {nnc.guard} : tensor<f32>, tensor<3xf32>, tensor<3xf32>
  %gb = nn.where %ok, %b2, %b {nnc.guard} : tensor<f32>, tensor<3xf32>, tensor<3xf32>
  return %gp, %gb : tensor<3xf32>, tensor<3xf32>
}

// -----

// Only guards move, and only past a flag that already exists: here the flag is computed after
// the value's other reader, so nothing changes. Unmarked selects are left alone.
// CHECK-LABEL: func.func @flag_too_late
// CHECK: %[[S:.+]] = nn.mul %[[V:.+]], %{{.+}}
// CHECK: nn.where %{{.+}}, %[[V]], %{{.+}} {nnc.guard}
// CHECK: nn.where %{{.+}}, %[[V]], %{{.+}} :
func.func @flag_too_late(%v0: tensor<3xf32>, %old: tensor<3xf32>, %x: tensor<f32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %v = nn.add %v0, %v0 : tensor<3xf32>, tensor<3xf32>
  %s = nn.mul %v, %x : tensor<3xf32>, tensor<f32>
  %ok = nn.equal %x, %x : tensor<f32>, tensor<f32>
  %g = nn.where %ok, %v, %old {nnc.guard} : tensor<f32>, tensor<3xf32>, tensor<3xf32>
  %h = nn.where %ok, %v, %old : tensor<f32>, tensor<3xf32>, tensor<3xf32>
  return %s, %g, %h : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}
