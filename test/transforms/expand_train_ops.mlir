// RUN: %nnc-opt %s -split-input-file -nnc-expand-train-ops | FileCheck %s

// SGD with Nesterov momentum and L2 decay, as PyTorch: g' = g + wd p; buf' = m buf + g';
// p' = p - lr (g' + m buf').
// CHECK-LABEL: func.func @sgd_nesterov
// CHECK-SAME: (%[[P:[^:]+]]: tensor<3xf32>, %[[G:[^:]+]]: tensor<3xf32>, %[[B:[^:]+]]: tensor<3xf32>, %[[LR:[^:]+]]: tensor<f32>)
// CHECK: %[[WD:.+]] = nn.constant dense<0.00999999977> : tensor<f32>
// CHECK: %[[DECAY:.+]] = nn.mul %[[P]], %[[WD]]
// CHECK: %[[G2:.+]] = nn.add %[[G]], %[[DECAY]]
// CHECK: %[[MOM:.+]] = nn.constant dense<0.899999976> : tensor<f32>
// CHECK: %[[MB:.+]] = nn.mul %[[B]], %[[MOM]]
// CHECK: %[[B2:.+]] = nn.add %[[MB]], %[[G2]]
// CHECK: %[[LOOK:.+]] = nn.mul %[[B2]], %[[MOM]]
// CHECK: %[[D:.+]] = nn.add %[[G2]], %[[LOOK]]
// CHECK: %[[STEP:.+]] = nn.mul %[[D]], %[[LR]]
// CHECK: %[[NEW:.+]] = nn.sub %[[P]], %[[STEP]]
// CHECK: return %[[NEW]], %[[B2]]
func.func @sgd_nesterov(%p: tensor<3xf32>, %g: tensor<3xf32>, %b: tensor<3xf32>, %lr: tensor<f32>)
    -> (tensor<3xf32>, tensor<3xf32>) {
  %0, %1 = train.sgd_momentum %p, %g, %b, %lr <{momentum = 0.9 : f64, nesterov = true, weight_decay = 0.01 : f64}> : tensor<3xf32>
  return %0, %1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// AdamW: decoupled decay scales p first; the moments; bias correction from exp(t ln beta).
// CHECK-LABEL: func.func @adamw
// CHECK-NOT: train.
// CHECK: nn.mul %{{.+}}, %{{.+}} : tensor<f32>, tensor<f32>
// CHECK: nn.mul %[[P:.+]], %{{.+}} : tensor<3xf32>, tensor<f32>
// CHECK-COUNT-2: nn.exp
// CHECK-COUNT-2: nn.sqrt
// CHECK: %[[NEW:.+]] = nn.sub
// CHECK: return %[[NEW]]
func.func @adamw(%p: tensor<3xf32>, %g: tensor<3xf32>, %m: tensor<3xf32>, %v: tensor<3xf32>,
                 %lr: tensor<f32>, %t: tensor<f32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %0, %1, %2 = train.adam %p, %g, %m, %v, %lr, %t <{beta1 = 0.9 : f64, beta2 = 0.999 : f64, decoupled = true, epsilon = 1.0e-8 : f64, weight_decay = 0.01 : f64}> : tensor<3xf32>
  return %0, %1, %2 : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// -----

// Clipping: g * min(1, max / (norm + 1e-6)), the min as 1 - relu(1 - coef).
// CHECK-LABEL: func.func @clip
// CHECK: %[[SQ:.+]] = nn.mul %[[G:[^,]+]], %[[G]]
// CHECK: %[[SUM:.+]] = nn.reduce_sum %[[SQ]] <{axes = array<i64: 0, 1>}>
// CHECK: %[[NORM:.+]] = nn.sqrt %[[SUM]]
// CHECK: nn.relu
// CHECK: nn.mul %[[G]], %{{.+}} : tensor<2x3xf32>, tensor<f32>
// CHECK: return
func.func @clip(%g: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<f32>) {
  %n = train.global_norm %g : tensor<2x3xf32>
  %c = train.clip %g, %n <{max_norm = 1.0 : f64}> : tensor<2x3xf32>
  return %c, %n : tensor<2x3xf32>, tensor<f32>
}
