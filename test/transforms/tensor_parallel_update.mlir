// RUN: %nnc-opt %s -nnc-tensor-parallel-update | FileCheck %s

// After autodiff: the copy becomes the identity; the momentum of the split weight is split like
// it; the global norm is sqrt(|replicated|^2 + the ranks' sum of |split|^2).
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W0:[^:]+]]: tensor<2x8xf32> {nn.param = "w0", nnc.shard = array<i64: 0, 2, 1>}
// CHECK-SAME: %[[M0:[^:]+]]: tensor<2x8xf32> {nn.param = "w0.momentum", nnc.shard = array<i64: 0, 2, 1>}
// CHECK-SAME: %[[M1:[^:]+]]: tensor<8xf32> {nn.param = "w1.momentum"}
// CHECK-NOT: tensor_parallel_copy
// CHECK: %[[SPLIT:.+]] = train.global_norm %[[G0:[^ ]+]] : tensor<2x8xf32>
// CHECK: %[[SQ:.+]] = nn.mul %[[SPLIT]], %[[SPLIT]]
// CHECK: %[[SUM:.+]] = train.tensor_parallel_sum %[[SQ]] : tensor<f32>
// CHECK: %[[WHOLE:.+]] = train.global_norm %[[G1:[^ ]+]] : tensor<8xf32>
// CHECK: %[[WSQ:.+]] = nn.mul %[[WHOLE]], %[[WHOLE]]
// CHECK: %[[TOTAL:.+]] = nn.add %[[WSQ]], %[[SUM]]
// CHECK: %[[NORM:.+]] = nn.sqrt %[[TOTAL]]
// CHECK: train.clip %[[G0]], %[[NORM]]
// CHECK-NOT: train.global_norm
module attributes {nn.training = #nn.training<loss = "loss">} {
  func.func @train_step(%w0: tensor<2x8xf32> {nn.param = "w0", nnc.shard = array<i64: 0, 2, 1>}, %m0: tensor<2x8xf32> {nn.param = "w0.momentum"}, %w1: tensor<8xf32> {nn.param = "w1"}, %m1: tensor<8xf32> {nn.param = "w1.momentum"}, %x: tensor<8xf32>, %lr: tensor<f32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) {
    %xc = train.tensor_parallel_copy %x : tensor<8xf32>
    %g1 = nn.mul %xc, %w1 : tensor<8xf32>, tensor<8xf32>
    %g0 = nn.sub %w0, %w0 : tensor<2x8xf32>, tensor<2x8xf32>
    %n = train.global_norm %g0, %g1 : tensor<2x8xf32>, tensor<8xf32>
    %c0 = train.clip %g0, %n <{max_norm = 1.0 : f64}> : tensor<2x8xf32>
    %c1 = train.clip %g1, %n <{max_norm = 1.0 : f64}> : tensor<8xf32>
    %p0, %n0 = train.sgd_momentum %w0, %c0, %m0, %lr <{momentum = 0.9 : f64, nesterov = false, weight_decay = 0.0 : f64}> : tensor<2x8xf32>
    %p1, %n1 = train.sgd_momentum %w1, %c1, %m1, %lr <{momentum = 0.9 : f64, nesterov = false, weight_decay = 0.0 : f64}> : tensor<8xf32>
    return %p0, %n0, %p1, %n1 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>
  }
}
